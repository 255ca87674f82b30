"""A sample third-party Crowdnest plugin: the `reverse` scheduler and /sample-plugin/ping."""

from sqlalchemy import select

from core.hookspecs import hookimpl
from core.models import Task, TaskRun
from core.services.query import participant_clause


def reverse(db, project, participant, options):
    """The project's tasks this volunteer has not answered, newest (highest id) first."""
    answered = select(TaskRun.task_id).where(
        TaskRun.project_id == project.id,
        participant_clause(participant.user, participant.external_uid, participant.user_ip),
    )
    query = (
        select(Task)
        .where(Task.project_id == project.id, Task.id.not_in(answered))
        .order_by(Task.id.desc())
        .limit(options.limit)
        .offset(options.offset)
    )
    return list(db.scalars(query))


def ping(request):
    """Answer {"pong": true}: proof that the plugin's routes were added."""
    return {"pong": True}


@hookimpl
def crowdnest_schedulers():
    return {"reverse": reverse}


@hookimpl
def crowdnest_includeme(config):
    config.add_route("sample_plugin.ping", "/sample-plugin/ping")
    config.add_view(ping, route_name="sample_plugin.ping", renderer="json", request_method="GET")
