"""/api/task."""

from sqlalchemy import select

from core.api.base import Resource, api_resource
from core.errors import DomainError
from core.models import Project, Result, Task, TaskRun
from core.serializers import dictize, favourites_by_task
from core.services import stats
from core.services.task import rederive_state


@api_resource("task")
class TaskResource(Resource):
    model = Task
    target = "task"
    reserved = frozenset({"id", "created", "state", "fav_user_ids"})
    read_only = frozenset({"project_id"})

    def before_create(self, task, data):
        if "project_id" in data and self.db.get(Project, data["project_id"]) is None:
            raise DomainError("BadRequest", "project_id does not exist")

    def after_create(self, task):
        stats.bump(self.db, task.project_id, n_tasks=1)
        self.db.get(Project, task.project_id).updated = task.created

    def after_update(self, task, changes):
        if "n_answers" in changes:
            rederive_state(self.db, task)

    def before_delete(self, task):
        completed = 1 if task.state == "completed" else 0
        stats.bump(
            self.db,
            task.project_id,
            n_tasks=-1,
            n_completed_tasks=-completed,
            n_task_runs=-task.n_task_runs,
        )

    def list_extras(self, tasks, listing):
        ids = [task.id for task in tasks]
        # Listed rows carry fav_user_ids already; single objects need them loaded.
        objects = [task.id for task in tasks if getattr(task, "values", None) is None]
        favourites = favourites_by_task(self.db, objects)
        extras = {
            task_id: {"fav_user_ids": users or None} for task_id, users in favourites.items()
        }

        if listing is not None and listing.related and ids:
            runs = self.db.scalars(
                select(TaskRun).where(TaskRun.task_id.in_(ids)).order_by(TaskRun.id)
            )
            results = self.db.scalars(
                select(Result).where(Result.task_id.in_(ids), Result.last_version)
            )
            for task_id in ids:
                extras.setdefault(task_id, {}).update(task_runs=[], result=None)
            for run in runs:
                extras[run.task_id]["task_runs"].append(dictize(self.request, run))
            for result in results:
                extras[result.task_id]["result"] = dictize(self.request, result)
        return extras
