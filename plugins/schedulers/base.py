"""Query pieces the built-in schedulers share: open tasks, the caller's answers, the order.

Every query is built with bind parameters (`:project_id`, `:who`, `:limit`, `:offset`) rather
than values, so that one statement serves every volunteer of its kind. The same statement runs
in both delivery paths: through the ORM session in the Pyramid view (`page`), and compiled once
and executed on a bare connection by the lean path (core.delivery, `lean_page`).
"""

from sqlalchemy import Integer, and_, bindparam, case, exists, literal_column, select
from sqlalchemy.orm import aliased

from core.models import Task, TaskRun, internal_columns
from core.models.clauses import one_project
from core.services import answers

# Not completed. A literal, not a bind parameter: the partial index ix_task_project_open
# (alembic 0009) serves a query only when the planner sees the constant itself.
NOT_COMPLETED = Task.state != literal_column("'completed'")
# The columns a hand-out shows (the server's internal ones left out), for the lean path.
SHOWN = tuple(c for c in Task.__table__.columns if c.key not in internal_columns(Task))


KINDS = {"user_id": "user", "external_uid": "external", "user_ip": "ip"}


def kind_of(participant) -> str:
    """How the volunteer is known: "user", "external" or "ip" (behavior.md 6.2), by the one
    rule of attribution and the guard (answers.known_by)."""
    user_id = participant.user.id if participant.user is not None else None
    return KINDS[answers.known_by(user_id, participant.external_uid, participant.user_ip)]


def parameters(project, participant, options) -> dict:
    """Values of the bind parameters for this project, volunteer and request."""
    kind = kind_of(participant)
    who = {
        "user": lambda: participant.user.id,
        "external": lambda: participant.external_uid,
        "ip": lambda: participant.user_ip,
    }[kind]()
    # With pending hand-outs counted, `spare` candidates more (core.services.pending).
    limit = options.limit + (options.spare or 0)
    return {"project_id": project.id, "who": who, "limit": limit, "offset": options.offset}


def _theirs(kind: str):
    """The volunteer's (:who, of this kind) task runs, as a condition on task_run."""
    who = bindparam("who")
    return {
        "user": lambda: TaskRun.user_id == who,
        "external": lambda: TaskRun.external_uid == who,
        "ip": lambda: and_(TaskRun.user_ip == who, TaskRun.user_id.is_(None)),
    }[kind]()


def answered_by(kind: str):
    """Ids of the project's tasks the volunteer (:who, of this kind) has answered."""
    return select(TaskRun.task_id).where(
        TaskRun.project_id == bindparam("project_id"), _theirs(kind)
    )


def _answered_this(kind: str):
    """Whether the volunteer has answered the task of the outer row: one index probe of the
    task's runs (a run belongs to its task's project), by task and volunteer for a signed-in or
    external volunteer (the unique indexes), by task for one known by address. OFFSET 0 keeps
    PostgreSQL from turning it into a join that reads all the volunteer's answers: a probe per
    task examined is the point (_unanswered)."""
    probe = select(TaskRun.task_id).where(TaskRun.task_id == Task.id, _theirs(kind))
    return exists(probe.offset(literal_column("0"))).correlate(Task)


def _first_open():
    """The project's lowest open task id (NULL when none is open)."""
    other = aliased(Task)
    # The first in (project, id) order rather than min(id): read from the project's entries of
    # the open tasks' index (one_project), never by walking the table's id index.
    return (
        select(other.id)
        .where(one_project(other.project_id), other.state != literal_column("'completed'"))
        .order_by(other.project_id, other.id)
        .limit(1)
        .scalar_subquery()
    )


# Built once: an aliased entity costs milliseconds to make, and the query is the same for all.
FIRST_OPEN = _first_open()


# Tasks whose ids lie less than this past the first open task's: the volunteer's answer to each
# is looked up one by one, before the volunteer's whole history in the project is read (once,
# into a hash) for the tasks after them; see _unanswered.
PROBED = 50


def _unanswered(kind: str):
    """The task of the row is not answered by the volunteer: a probe each for the tasks whose
    ids lie less than PROBED past the first open task's, all the volunteer's answers read at
    once for those after them.

    Figures from benchmarks/scheduler_query.py (default scheduler, µs a query). The hash alone
    reads a volunteer's whole history on every request: with 500 answers spread over 1,000,000
    tasks the query took 370 µs, against 167 with 5 answers over 10,000, and contribute.py's
    newtask p99 grew by 30%. With the probes first it takes 169 µs: a volunteer whose next task
    lies near the front pays a probe or a few and the hash is never read (it is built on first
    use). Probes alone would cost a volunteer far ahead of the crowd, whose answers fill the
    front of the queue, about twice what the hash does; with at most PROBED of them first, 10
    to 25% more (1,000 answers at the front: 854 against 761 µs; 5,000: 3.5 against 3.1 ms).
    """
    # FIRST_OPEN again (a second probe of the open tasks' index, about 10 µs): joined once
    # instead, it left the scan of tasks without its start, `task.id >= FIRST_OPEN`.
    window = Task.id < FIRST_OPEN + literal_column(str(PROBED), Integer)
    return case(
        (window, ~_answered_this(kind)),
        else_=Task.id.not_in(answered_by(kind)),
    )


def open_tasks(kind: str, *columns, include_completed: bool = False):
    """Tasks of the project not answered by this volunteer, and not completed unless asked."""
    if include_completed:
        # From the project's first task on, completed ones too: the front's window would
        # probe tasks answered long ago.
        return _of_project(*columns).where(Task.id.not_in(answered_by(kind)))
    return tasks_not_completed(*columns).where(_unanswered(kind))


def _of_project(*columns):
    """The columns (the Task entity by default) of the project's tasks."""
    return select(*(columns or (Task,))).where(one_project(Task.project_id))


def tasks_not_completed(*columns):
    """The project's tasks not completed, whoever asks."""
    # The second condition is redundant, and what keeps depth-first fast: it completes tasks
    # in id order, so they gather at the start of the id index, which the planner may walk (it
    # cannot tell them apart from open ones); starting at the first open task (one probe of the
    # partial index of open tasks) skips them all. 674 completed tasks: 418 buffers, 0.48 ms
    # -> 26, 0.17 ms.
    return _of_project(*columns).where(NOT_COMPLETED, Task.id >= FIRST_OPEN)


def ordered(query, options, *first, source=Task):
    """Order by the `first` clauses, then the requested `orderby`/`desc`, ties by id (the
    columns of `source`: the task table, or a subquery of its columns)."""
    if source is Task:
        # One project's tasks (one_project), ordered by the project first: the planner then
        # reads a (project_id, ...) index in order (see OneProject).
        first = (Task.project_id, *first)
    column = getattr(source, options.orderby)
    query = query.order_by(*first, column.desc() if options.desc else column.asc())
    return query.order_by(source.id) if options.orderby != "id" else query


def paged(query):
    """The query with the request's limit and offset as bind parameters."""
    return query.limit(bindparam("limit")).offset(bindparam("offset"))


def page(db, query, project, participant, options) -> list:
    """Run a query built on `open_tasks` through the ORM session; Task objects."""
    return list(db.scalars(paged(query), parameters(project, participant, options)))


def shown(options) -> tuple:
    """The columns a lean form reads: those a hand-out shows, and the task's answers when
    pending hand-outs are counted (options.spare; core.services.pending takes it out)."""
    return SHOWN if options.spare is None else (*SHOWN, Task.n_task_runs)


def lean_page(store, key, build, project, participant, options) -> list[dict]:
    """Run the same query on the lean path: compiled once per `key`, rows as dicts.

    `build(kind, options, *columns)` returns the unpaged query; `key` names its shape (the
    scheduler, and whatever of `options` changes the SQL text: the kind and whether pending
    hand-outs are counted are added here).
    """
    kind = kind_of(participant)
    columns = shown(options)
    return store.rows(
        (*key, kind, options.spare is None),
        lambda: paged(build(kind, options, *columns)),
        parameters(project, participant, options),
    )
