"""The `locked` scheduler: each task reserved for at most as many volunteers as it still needs.

Settings: `scheduler.locked.timeout` (seconds a reservation lasts, default 3600). A volunteer
asking again gets the tasks they hold back first (with a new expiry), then new ones in the
requested order; unlike PYBOSSA, `limit`, `orderby` and `desc` are honoured. `offset` keeps
PYBOSSA's meaning, on which pybossa.js relies to fetch the next task ahead: 1 skips the first
task granted (its reservation kept), 2 answers nothing, more is a 400.

With Redis it also has a lean form (core.delivery): one statement reads the candidates with
their places, run counts and answerers, one Lua call reserves them (held tasks first). The cases
it does not settle in one pass go to the application's path below.
"""

from copy import copy

from core.errors import DomainError
from core.hookspecs import hookimpl
from core.models import Task
from core.services import reservations
from plugins.schedulers.base import kind_of, lean_page, open_tasks, ordered, parameters

MAX_OFFSET = 2
# Candidates examined per hand-out at most: only tasks held by others can be passed over.
MAX_CANDIDATES = 1000
# Candidates the lean form reads beyond those it needs, to pass over tasks others hold.
LEAN_MARGIN = 16


def _candidates(kind, options, *columns):
    """Open tasks with places left the volunteer has not answered, in the requested order."""
    return ordered(open_tasks(kind, *columns).where(Task.n_task_runs < Task.n_answers), options)


def locked(db, project, participant, options):
    """Reserve tasks for this volunteer and hand them out, their own reservations first."""
    if options.offset > MAX_OFFSET:
        raise DomainError("BadRequest", f"offset must not be above {MAX_OFFSET} with locked")
    if options.offset == MAX_OFFSET:
        return []
    want = options.limit + options.offset
    redis, at = options.redis, reservations.now()
    timeout = options.settings["scheduler.locked.timeout"]
    candidates = _candidates(kind_of(participant), options)
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


def _with_counts(kind, options, *columns):
    """The candidates with what a reservation is judged by, read in one snapshot."""
    return _candidates(
        kind,
        options,
        *columns,
        (Task.n_answers - Task.n_task_runs).label("lock_places"),
        Task.n_task_runs.label("lock_runs"),
        reservations.answerers_of_task(Task.id).label("lock_answerers"),
    )


def lean(store, project, participant, options):
    """`locked` in one statement and one Lua call (Redis only); None when the application's
    path must answer: an offset it refuses, held tasks the statement did not read, or too few
    tasks granted when more candidates (or stale ones) remain. Reservations granted before
    such a hand-over are the volunteer's, given back first by the application's path."""
    if options.offset > MAX_OFFSET or options.redis is None:
        return None
    if options.offset == MAX_OFFSET:
        return []
    want = options.limit + options.offset
    reading = copy(options)
    reading.limit, reading.offset = want + LEAN_MARGIN, 0
    key = ("locked", options.orderby, options.desc)
    rows = lean_page(store, key, _with_counts, project, participant, reading)
    read = {
        row["id"]: (
            row.pop("lock_places"),
            row.pop("lock_runs"),
            reservations.answerers_read(row.pop("lock_answerers")),
        )
        for row in rows
    }
    timeout = options.settings["scheduler.locked.timeout"]
    granted, stale, missing = reservations.reserve_read(
        options.redis, project.id, participant.key, read, want, timeout, reservations.now(), True
    )
    if missing or (len(granted) < want and (stale or len(rows) == reading.limit)):
        return None
    by_id = {row["id"]: row for row in rows}
    return [by_id[task_id] for task_id in granted][options.offset :]


locked.lean = lean


@hookimpl
def crowdnest_schedulers():
    return {"locked": locked}
