"""The `locked` scheduler: each task reserved for at most as many volunteers as it still needs.

Settings: `scheduler.locked.timeout` (seconds a reservation lasts, default 3600). A volunteer
asking again gets the tasks they hold back first (with a new expiry), then new ones in the
requested order; unlike PYBOSSA, `limit`, `orderby` and `desc` are honoured. `offset` keeps
PYBOSSA's meaning, on which pybossa.js relies to fetch the next task ahead: 1 skips the first
task granted (its reservation kept), 2 answers nothing, more is a 400.

With Redis it also has a lean form (core.delivery, `lean`): one statement reads the candidates
with their places, run counts and answerers (after the project's full prefix as this process
last saw it: tasks whose places are all held, in id order, read past) and, for a project served
before, the project and the caller; one Lua call counts the request, checks that the
volunteer's holds are among the candidates and that the prefix still reaches where the read
began, reserves, held tasks first, and stamps those handed out. When that check fails, one more
statement (the held tasks by id, the candidates after the prefix) and one more Lua call. When
every task read was full (the prefix lapsed: every PREFIX_SECONDS, or when its first hold
expires), it reads on after them in steps 8 times larger (up to 400 tasks), extending the prefix
again; when the candidates were too few (the volunteer answered them), one more read, past those.
The cases it does not settle go to the application's path below.
"""

from functools import partial

import orjson
from sqlalchemy import bindparam

from core.errors import DomainError
from core.hookspecs import AnswerGate, LeanForm, Scheduler, hookimpl
from core.models import Task
from core.redis import require
from plugins.schedulers.base import (
    SHOWN,
    kind_of,
    open_tasks,
    ordered,
    parameters,
    tasks_not_completed,
)
from plugins.schedulers.locked import reservations

MAX_OFFSET = 2
# Candidates examined per hand-out at most: only tasks held by others can be passed over.
MAX_CANDIDATES = 1000
# Candidates the lean form reads beyond those it needs, to pass over tasks others hold.
LEAN_MARGIN = 4
# Held tasks the lean form reads by id at most (pybossa.js holds two: the task and the next).
HELD_SLOTS = 4
# When every task read in order is full, the lean form reads on after them, this many times
# more at each step, up to PREFIX_STEP_MOST tasks a read: the full prefix lapses (its first
# hold expires, or PREFIX_SECONDS pass) and a crowd's requests rebuild it.
PREFIX_STEP_GROWTH = 8
PREFIX_STEP_MOST = 400


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
    # Never the table's reservations in Redis's stead: see .reservations.
    require(redis)
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
    if options.orderby == "id" and not options.desc:
        # Past the tasks all held (as the lean form found them): a crowd may hold more than
        # MAX_CANDIDATES at the front. The volunteer's own among them were read above.
        after = reservations.full_prefix(redis, project.id, at)
        fresh = fresh if after < 0 else fresh.where(Task.id > after)
    while len(granted) < want and len(tried) < MAX_CANDIDATES:
        # The database store filters full tasks in SQL: a batch of what is needed suffices.
        size = want - len(granted) if room is not None else max(2 * (want - len(granted)), 20)
        batch = read(fresh.where(Task.id.not_in(tried)).limit(size))
        if not batch:
            break
        tried.update(batch)
        granted += reserve(batch, True)
    return [rows[task_id] for task_id in granted][options.offset :]


def _lean_read(options, held: bool, kind: str | None = None):
    """What the lean form reads: the project's open tasks short of answers, whoever asks (the
    Lua call passes over those the volunteer answered: one statement for every volunteer, and
    a full prefix that holds for all), with what a reservation is judged by, in one snapshot.
    `held`: the volunteer's held tasks (:held_0...), else the tasks after :after in order.
    `kind`: only those the volunteer (:who, of this kind) has not answered."""
    columns = (
        *SHOWN,
        (Task.n_answers - Task.n_task_runs).label("lock_places"),
        Task.n_task_runs.label("lock_runs"),
        reservations.answerers_of_task(Task.id).label("lock_answerers"),
    )
    tasks = tasks_not_completed(*columns) if kind is None else open_tasks(kind, *columns)
    query = tasks.where(Task.n_task_runs < Task.n_answers)
    if held:
        return query.where(Task.id.in_([bindparam(f"held_{n}") for n in range(HELD_SLOTS)]))
    return ordered(query.where(Task.id > bindparam("after")), options).limit(bindparam("limit"))


def lean(store, project, participant, options):
    """`locked` in one statement and one Lua call (Redis only) when the volunteer's holds are
    among the candidates read and the project's full prefix reaches where the read began (a
    hint of this process, `options.hints`); else one more of each. None when the application's
    path must answer: an offset it refuses, the caller refused by the store, more held tasks
    than HELD_SLOTS, or too few tasks granted when more candidates (or stale ones) remain.
    Reservations granted before such a hand-over are the volunteer's, given back first by the
    application's path."""
    if options.offset > MAX_OFFSET or options.redis is None:
        return None
    if options.offset == MAX_OFFSET:
        return []
    at = reservations.now()
    want = options.limit + options.offset
    in_id_order = options.orderby == "id" and not options.desc
    hint = ("locked prefix", project.id)
    after = options.hints.get(hint, -1) if in_id_order else -1
    size = want + LEAN_MARGIN
    params = {"project_id": project.id, "after": after, "limit": size}
    key = ("locked", options.orderby, options.desc)
    rows = store.rows((*key, "after"), lambda: _lean_read(options, False), params)
    # The store may carry the project and the caller along: checked before anything is done.
    participant = store.admit(participant)
    if participant is None:
        return None
    # The lean path may hand its counting over (core.hookspecs.Counting): the request is then
    # counted before anything is reserved, and the stamps set with the reservations.
    counting = options.counting

    def stamps(offset: int) -> tuple:
        """The guard's stamps for the tasks granted past `offset` (none when not counting)."""
        return ("", "", 0, 0) if counting is None else (*counting.stamps, offset)

    reserve = partial(
        reservations.reserve_read,
        options.redis,
        project.id,
        participant.key,
        want=want,
        timeout=options.settings["scheduler.locked.timeout"],
        at=at,
        held_first=True,
        stamps=stamps(options.offset),
    )
    by_id = {row["id"]: row for row in rows}

    def held_read():
        return _lean_read(options, True)

    done = reserve(
        _judged(by_id),
        prefix=(after, len(rows)) if in_id_order else None,
        counting=counting and counting.window,
        behind=in_id_order and after >= 0,
        unread=in_id_order and want <= HELD_SLOTS,
    )
    if counting is not None:
        options.counted = done.count
        if done.count > counting.window[2]:
            return []  # refused: the application answers (429)
    if in_id_order:
        options.hints[hint] = done.prefix
    if done.unread:
        # A returning volunteer, given back the holds they asked for before: those tasks by id,
        # and no more Lua call when each is still open and not answered by them.
        params.update(_held_slots(done.granted))
        mine = {row["id"]: row for row in store.rows(("locked held",), held_read, params)}
        if all(_unanswered(mine.get(task_id), participant.key) for task_id in done.granted):
            _judged(mine)
            return [mine[task_id] for task_id in done.granted][options.offset :]
    if done.redo:
        # Held tasks not among those read, or read past tasks that may have places again:
        # the held tasks by id and the candidates after the prefix, then reserve again.
        if len(done.held) > HELD_SLOTS:
            return None
        after = done.prefix if in_id_order else -1
        params.update(after=after)
        params.update(_held_slots(done.held))
        statements = [((*key, "after"), lambda: _lean_read(options, False), params)]
        if done.held:
            statements.insert(0, (("locked held",), held_read, params))
        *mine, rows = store.batch(statements)
        # In order first (the full prefix is judged on them), then held tasks not among them.
        by_id = {row["id"]: row for row in (*rows, *(mine[0] if mine else ()))}
        done = reserve(_judged(by_id), prefix=(after, len(rows)) if in_id_order else None)
        if in_id_order:
            options.hints[hint] = done.prefix
    granted, limit = done.granted, size

    def more(found, **extra):
        """Reserve among `found` after what was granted: (what the call did, the tasks granted
        now and before, each once: a held task read again is granted again, its hold renewed)."""
        by_id.update(found)
        done = reserve(
            _judged(found),
            want=want - len(granted),
            held_first=False,  # all were among the first read, and granted then
            stamps=stamps(max(0, options.offset - len(granted))),
            **extra,
        )
        return done, granted + [task_id for task_id in done.granted if task_id not in granted]

    while (
        in_id_order
        and not done.redo
        and not done.stale
        and len(granted) < want
        and len(rows) == limit
        and done.prefix >= rows[-1]["id"]
        and limit * PREFIX_STEP_GROWTH <= PREFIX_STEP_MOST
    ):
        # Every task read was full (the full prefix lapsed, or other processes filled them):
        # on after them in larger steps, extending the prefix, rather than a few tasks
        # further for each request of a crowd, and then the application's path for each.
        after, limit = done.prefix, limit * PREFIX_STEP_GROWTH
        params.update(after=after, limit=limit)
        rows = store.rows((*key, "after"), lambda: _lean_read(options, False), params)
        done, granted = more({row["id"]: row for row in rows}, prefix=(after, len(rows)))
        options.hints[hint] = done.prefix
    if not done.redo and not done.stale and len(granted) < want and len(rows) == limit:
        # The margin read for anyone was not enough: tasks this volunteer has answered (a
        # returning volunteer, at the front of the queue), or filled by others since this
        # process last saw the full prefix. Once more, past both. The full prefix is not
        # extended from this read (it skips tasks).
        kind = kind_of(participant)
        params["who"] = parameters(project, participant, options)["who"]
        if in_id_order:
            params["after"] = max(after, done.prefix)
        limit = params["limit"] = size
        rows = store.rows((*key, "after", kind), lambda: _lean_read(options, False, kind), params)
        done, granted = more({row["id"]: row for row in rows})
    if done.redo or (len(granted) < want and (done.stale or len(rows) == limit)):
        return None
    return [by_id[task_id] for task_id in granted][options.offset :]


def _unanswered(row, participant: str) -> bool:
    """Whether the task read (`row`: None when it is no longer open) awaits the participant."""
    return row is not None and participant not in orjson.loads(row["lock_answerers"] or "[]")


def _held_slots(task_ids) -> dict:
    """The held-tasks read's parameters (:held_0...) for `task_ids`, -1 in the slots left."""
    return {f"held_{n}": (*task_ids, *[-1] * HELD_SLOTS)[n] for n in range(HELD_SLOTS)}


def _judged(by_id: dict) -> dict:
    """{task id: (places, run count, answerers)} of the rows read, taken out of them."""
    return {
        task_id: (
            row.pop("lock_places"),
            row.pop("lock_runs"),
            row.pop("lock_answerers") or "[]",  # JSON text, as the Lua call reads it
        )
        for task_id, row in by_id.items()
    }


def admits(db, redis, project, task_id, participant_key: str, settings) -> bool:
    """Whether the volunteer holds the task they answer (kept while the answer is stored)."""
    valid = isinstance(task_id, int) and not isinstance(task_id, bool)
    return valid and reservations.kept(db, redis, task_id, participant_key, reservations.now())


def answered(db, redis, project, task_id, participant_key: str, n_task_runs, settings) -> None:
    """The volunteer's hold on the task released, their answer counted (`n_task_runs`)."""
    timeout = settings["scheduler.locked.timeout"]
    reservations.release(db, redis, project.id, task_id, participant_key, timeout, n_task_runs)


def _read_call(task_id, participant_key: str, now: float) -> tuple[list, list]:
    """gate_read's keys and arguments: the hold's hash and field, and `now`."""
    key, field = reservations.hold_location(task_id, participant_key)
    return [key], [field, repr(now)]


def _release_call(project_id, task_id, participant_key: str, n_task_runs, settings):
    """gate_release's keys and arguments (reservations.release_location)."""
    timeout = settings["scheduler.locked.timeout"]
    return reservations.release_location(
        project_id, task_id, participant_key, timeout, n_task_runs
    )


def _now() -> float:
    # Read through the module, so that tests moving reservations.now move this clock too.
    return reservations.now()


# The lean path's answer checks, in its own Lua calls (core.delivery): the caller's hold kept
# while the answer is stored, then released once it is committed.
GATE = AnswerGate(
    admits=admits,
    answered=answered,
    now=_now,
    read_lua=reservations.KEEP_HOLD
    + "local function gate_read(keys, args)\n"
    + "  return keep_hold(keys[1], args[1], tonumber(args[2]))\nend\n",
    read_call=_read_call,
    live=reservations.live,
    release_lua=reservations.RELEASE_HOLD
    + "local function gate_release(keys, args)\n"
    + "  release_hold(keys[1], keys[2], args[1], args[2], args[3], args[4])\nend\n",
    release_call=_release_call,
    purge=reservations.purge_expired,
    forget=reservations.forget,
)


@hookimpl
def crowdnest_settings():
    # Seconds a reservation holds its task (PYBOSSA: one hour).
    return {"scheduler.locked.timeout": (3600, int)}


@hookimpl
def crowdnest_schedulers():
    # The lean form counts the request and stamps in its own Redis calls, and settles the
    # caller (store.admit) before anything is done; answers need a live hold (GATE).
    lean_form = LeanForm(lean, carries=True, counts=True)
    return {"locked": Scheduler(locked, lean_form, answers=GATE)}
