"""The `locked` scheduler: each task reserved for at most as many volunteers as it still needs.

Settings: `scheduler.locked.timeout` (seconds a reservation lasts, default 3600). A volunteer
asking again gets the tasks they hold back first (with a new expiry), then new ones in the
requested order; unlike PYBOSSA, `limit`, `orderby` and `desc` are honoured. `offset` keeps
PYBOSSA's meaning, on which pybossa.js relies to fetch the next task ahead: 1 skips the first
task granted (its reservation kept), 2 answers nothing, more is a 400.

With Redis it also has a lean form (core.delivery, `lean`): one Lua call counts the request and
reads the volunteer's holds and the project's full prefix (tasks whose places are all held, in
id order: read past), one statement reads the candidates with their places, run counts and
answerers (a second, in the same round trip, the held tasks by id), and one Lua call reserves
them, held tasks first, and stamps those handed out.
The cases it does not settle in one pass go to the application's path below.
"""

from sqlalchemy import bindparam

from core.errors import DomainError
from core.hookspecs import hookimpl
from core.models import Task
from core.services import reservations
from plugins.schedulers.base import (
    SHOWN,
    kind_of,
    open_tasks,
    ordered,
    parameters,
    tasks_not_completed,
)

MAX_OFFSET = 2
# Candidates examined per hand-out at most: only tasks held by others can be passed over.
MAX_CANDIDATES = 1000
# Candidates the lean form reads beyond those it needs, to pass over tasks others hold.
LEAN_MARGIN = 8
# Held tasks the lean form reads by id at most (pybossa.js holds two: the task and the next).
HELD_SLOTS = 4


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


def _lean_read(options, held: bool):
    """What the lean form reads: the project's open tasks short of answers, whoever asks (the
    Lua call passes over those the volunteer answered: one statement for every volunteer, and
    a full prefix that holds for all), with what a reservation is judged by, in one snapshot.
    `held`: the volunteer's held tasks (:held_0...), else the tasks after :after in order."""
    query = tasks_not_completed(
        *SHOWN,
        (Task.n_answers - Task.n_task_runs).label("lock_places"),
        Task.n_task_runs.label("lock_runs"),
        reservations.answerers_of_task(Task.id).label("lock_answerers"),
    ).where(Task.n_task_runs < Task.n_answers)
    if held:
        return query.where(Task.id.in_([bindparam(f"held_{n}") for n in range(HELD_SLOTS)]))
    return ordered(query.where(Task.id > bindparam("after")), options).limit(bindparam("limit"))


def lean(store, project, participant, options):
    """`locked` in one statement (two when the volunteer holds tasks) and two Lua calls (Redis
    only); None when the application's path must answer: an offset it refuses, more held tasks
    than HELD_SLOTS, or too few tasks granted when more candidates (or stale ones) remain.
    Reservations granted before such a hand-over are the volunteer's, given back first by the
    application's path."""
    if options.offset > MAX_OFFSET or options.redis is None:
        return None
    if options.offset == MAX_OFFSET:
        return []
    redis, at = options.redis, reservations.now()
    want = options.limit + options.offset
    in_id_order = options.orderby == "id" and not options.desc
    # The lean path may hand its counting over (core.delivery.Counting): the request is then
    # counted before anything is reserved, and the stamps set with the reservations.
    counting = getattr(options, "counting", None)
    count, after, held = reservations.prefix_and_held(
        redis, project.id, participant.key, at, counting and counting.window
    )
    if counting is not None:
        options.counted = count
        if count > counting.window[2]:
            return []  # refused: the application answers (429)
    if len(held) > HELD_SLOTS:
        return None
    after = after if in_id_order else -1
    size = want + LEAN_MARGIN
    params = {"project_id": project.id, "after": after, "limit": size}
    params.update((f"held_{n}", held[n] if n < len(held) else -1) for n in range(HELD_SLOTS))
    key = ("locked", options.orderby, options.desc)
    statements = [((*key, "after"), lambda: _lean_read(options, False), params)]
    if held:
        statements.insert(0, (("locked held",), lambda: _lean_read(options, True), params))
    *mine, rows = store.batch(statements)
    # In order first (the full prefix is judged on them), then held tasks not among them.
    by_id = {row["id"]: row for row in (*rows, *(mine[0] if mine else ()))}
    read = {
        task_id: (
            row.pop("lock_places"),
            row.pop("lock_runs"),
            row.pop("lock_answerers") or "[]",  # JSON text, as the Lua call reads it
        )
        for task_id, row in by_id.items()
    }
    timeout = options.settings["scheduler.locked.timeout"]
    granted, stale, missing = reservations.reserve_read(
        redis,
        project.id,
        participant.key,
        read,
        want,
        timeout,
        at,
        held_first=True,
        prefix=(after, len(rows)) if in_id_order else None,
        stamps=("", "", 0, 0) if counting is None else (*counting.stamps, options.offset),
    )
    if missing or (len(granted) < want and (stale or len(rows) == size)):
        return None
    return [by_id[task_id] for task_id in granted][options.offset :]


lean.counts = True  # counts the request and stamps in its own Redis calls
locked.lean = lean


@hookimpl
def crowdnest_schedulers():
    return {"locked": locked}
