"""/api/result: read and update (only `info` is writable)."""

from sqlalchemy import select

from core.api.base import Resource, api_resource
from core.models import Result, Task, TaskRun
from core.serializers import dictize


@api_resource("result")
class ResultResource(Resource):
    model = Result
    target = "result"
    reserved = frozenset(
        {"id", "created", "project_id", "task_id", "task_run_ids", "last_version"}
    )

    def after_update(self, result, changes):
        if "info" in changes:
            from core.services import stats

            was, now = changes["info"]
            if result.last_version and (was is None) != (now is None):
                stats.bump(self.db, result.project_id, n_results=1 if now is not None else -1)

    def list_extras(self, results, listing):
        if listing is None or not listing.related or not results:
            return {}
        task_ids = {r.task_id for r in results}
        tasks = {t.id: t for t in self.db.scalars(select(Task).where(Task.id.in_(task_ids)))}
        run_ids = {run_id for r in results for run_id in (r.task_run_ids or [])}
        runs = {
            run.id: run for run in self.db.scalars(select(TaskRun).where(TaskRun.id.in_(run_ids)))
        }
        return {
            r.id: {
                "task": dictize(self.request, tasks[r.task_id]) if r.task_id in tasks else None,
                "task_runs": [
                    dictize(self.request, runs[i]) for i in (r.task_run_ids or []) if i in runs
                ],
            }
            for r in results
        }
