"""/api/taskrun."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import streams
from core.api.base import Resource, api_resource
from core.models import Project, Result, Task, TaskRun
from core.serializers import columns, dictize
from core.services import answers
from core.services import task_run as task_run_service
from core.services.scheduling import name_of


@api_resource("taskrun")
class TaskRunResource(Resource):
    model = TaskRun
    target = "taskrun"
    accepts_files = True
    reserved = frozenset({"id", "created", "finish_time"})
    read_only = frozenset({"project_id", "task_id", "user_id", "user_ip", "external_uid"})

    def collection_post(self):
        self.check_query_keys()
        self.check_csrf()
        data = self.parse_body(partial=False)
        run, result = task_run_service.submit(
            self.db,
            data,
            participant=task_run_service.Participant.of(self.request),
            settings=self.request.registry.settings,
            authorization=self.request.headers.get("Authorization"),
            schedulers=self.request.registry["schedulers"],
        )
        shown = dictize(self.request, run, links=False)
        # For the request's metrics (core.metrics): the answered project's scheduler.
        sched = (self.db.get(Project, run.project_id).info or {}).get("sched")
        registry = self.request.registry
        name = name_of(registry["schedulers"], sched, registry.settings)
        self.request.environ["crowdnest.scheduler"] = name
        if self.request.registry.get("streams") is not None:  # sse.enabled
            self.request.after_commit(streams.publish_answer, self.request.registry, shown)
        if result is not None:
            self._announce_completion(run, result)
        return shown

    def _announce_completion(self, run, result):
        """Call the task_completed hook once the answer is committed, never before: with the
        objects read again in a session of their own, open while the hook runs (the request's
        is closed by then: a plugin could not load a relationship)."""
        self.request.after_commit(
            _announce, self.request.registry, run.project_id, run.task_id, result.id
        )

    def before_delete(self, run):
        task_run_service.forget(self.db, run)

    def list_extras(self, runs, listing):
        if listing is None or not listing.related or not runs:
            return {}
        task_ids = {run.task_id for run in runs}
        tasks = {t.id: t for t in self.db.scalars(select(Task).where(Task.id.in_(task_ids)))}
        results = {
            r.task_id: r
            for r in self.db.scalars(
                select(Result).where(Result.task_id.in_(task_ids), Result.last_version)
            )
        }
        return {
            run.id: {
                "task": dictize(self.request, tasks[run.task_id])
                if run.task_id in tasks
                else None,
                "result": dictize(self.request, results[run.task_id])
                if run.task_id in results
                else None,
            }
            for run in runs
        }


def _announce(registry, project_id: int, task_id: int, result_id: int) -> None:
    # A plain session: the request's factory would join it to the finished transaction.
    with Session(registry["db_engine"], expire_on_commit=False) as db:
        project, task = db.get(Project, project_id), db.get(Task, task_id)
        result = db.get(Result, result_id)
        # Its transaction ended (a SQLite one holds the write lock from its start: a plugin
        # writing in the hook would wait for it); a relationship read begins another.
        db.commit()
        objects = {"project": project, "task": task, "result": result}
        answers.announce_completion(
            registry["plugins"].hook.crowdnest_task_completed,
            registry.settings,
            (project, task, result),
            publish=lambda payload: streams.publish_completion(registry, payload, columns(result)),
            made=objects.get,
        )
