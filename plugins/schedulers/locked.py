"""The `locked` scheduler: each task reserved for at most as many volunteers as it still needs.

Settings: `scheduler.locked.timeout` (seconds a reservation lasts, default 3600). A volunteer
asking again gets the tasks they hold back first (with a new expiry), then new ones in the
requested order; unlike PYBOSSA, `limit`, `orderby` and `desc` are honoured. `offset` keeps
PYBOSSA's meaning, on which pybossa.js relies to fetch the next task ahead: 1 skips the first
task granted (its reservation kept), 2 answers nothing, more is a 400.
"""

from core.errors import DomainError
from core.hookspecs import hookimpl
from core.models import Task
from core.services import reservations
from plugins.schedulers.base import kind_of, open_tasks, ordered, parameters

MAX_OFFSET = 2
# Candidates examined per hand-out at most: only tasks held by others can be passed over.
MAX_CANDIDATES = 1000


def locked(db, project, participant, options):
    """Reserve tasks for this volunteer and hand them out, their own reservations first."""
    if options.offset > MAX_OFFSET:
        raise DomainError("BadRequest", f"offset must not be above {MAX_OFFSET} with locked")
    if options.offset == MAX_OFFSET:
        return []
    want = options.limit + options.offset
    redis, at = options.redis, reservations.now()
    timeout = options.settings["scheduler.locked.timeout"]
    candidates = ordered(
        open_tasks(kind_of(participant)).where(Task.n_task_runs < Task.n_answers), options
    )
    params = parameters(project, participant, options)
    # The candidates' rows, read with them: the tasks granted are handed out from here.
    rows: dict[int, Task] = {}

    def read(query) -> list[int]:
        tasks = list(db.scalars(query, params))
        rows.update((task.id, task) for task in tasks)
        return [task.id for task in tasks]

    def reserve(task_ids, skip_busy):
        return reservations.reserve(
            db,
            redis,
            project.id,
            participant.key,
            task_ids,
            want - len(granted),
            timeout,
            at,
            skip_busy=skip_busy,
        )

    granted: list[int] = []
    held = reservations.held(db, redis, project.id, participant.key, at)
    if held:
        granted += reserve(read(candidates.where(Task.id.in_(held))), False)
    tried = set(held)
    room = reservations.room_clause(redis, at)
    fresh = candidates if room is None else candidates.where(room)
    while len(granted) < want and len(tried) < MAX_CANDIDATES:
        # The database store filters full tasks in SQL: a batch of what is needed suffices.
        size = want - len(granted) if room is not None else max(2 * (want - len(granted)), 20)
        batch = read(fresh.where(Task.id.not_in(tried)).limit(size))
        if not batch:
            break
        tried.update(batch)
        granted += reserve(batch, True)
    return [rows[task_id] for task_id in granted][options.offset :]


@hookimpl
def crowdnest_schedulers():
    return {"locked": locked}
