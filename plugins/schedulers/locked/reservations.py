"""Reservations of the `locked` scheduler: which volunteer holds which task, until when.

Domain code: knows nothing of HTTP. Reservations live in Redis when it is configured (atomic Lua
scripts, shared by every process), otherwise in the task_reservation table (task rows locked
FOR UPDATE on PostgreSQL, SQLite's single writer elsewhere); never in process memory.

A task may be held by at most `n_answers - n_task_runs` volunteers at once. Redis never sees the
database, so each answer, once committed, releases its hold and records in the task's hash the
task's run count it committed (`runs`, the highest seen): a reservation computed from a count
read before that commit (a lower count) is refused as stale and retried. Because the count
read travels with the reservation, no Redis read has to come before the database read.
"""

import logging
import time
from collections import Counter
from functools import partial
from typing import NamedTuple

import orjson
from sqlalchemy import Text, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from core.db import after_commit
from core.models import Task, TaskReservation, TaskRun
from core.redis import attempt, require, script
from core.services import guard
from core.services.answers import participant_key

log = logging.getLogger(__name__)
# Redis keys outlive the longest reservation by this much (seconds).
KEY_MARGIN = 60
STALE_RETRIES = 3
# Seconds a hold is kept at least once its answer is being stored (`kept`).
HOLD_GRACE = 60
# The longest a full prefix is trusted (seconds; reserve_read).
PREFIX_SECONDS = 10


def now() -> float:
    """The clock reservations are judged by; tests replace it instead of sleeping."""
    return time.time()


def held(db, redis, project_id: int, participant: str, at: float) -> list[int]:
    """Ids of the tasks of the project that `participant` holds at time `at`."""
    if redis is not None:
        return _redis_held(redis, project_id, participant, at)
    mine = TaskReservation.participant == participant
    return list(db.scalars(_live(at, TaskReservation.project_id == project_id, mine)))


def holds(db, redis, task_id: int, participant: str, at: float) -> bool:
    """Whether `participant` holds the task at time `at`."""
    if redis is not None:
        return _redis_holds(redis, task_id, participant, at)
    mine = TaskReservation.participant == participant
    return db.scalar(_live(at, TaskReservation.task_id == task_id, mine)) is not None


def kept(db, redis, task_id: int, participant: str, at: float) -> bool:
    """Whether `participant` holds the task at time `at`, for an answer about to be stored:
    with Redis the hold is made to last HOLD_GRACE seconds more at least, so that it cannot
    expire (and its place go to another volunteer) while the answer is being stored. (The
    database store needs none: a reservation waits for the answer's row lock.)"""
    if redis is None:
        return holds(db, None, task_id, participant, at)
    require(redis)
    key, field = hold_location(task_id, participant)
    return live(script(redis, KEEP)(keys=[key], args=[field, repr(at)]), at)


def room_clause(redis, at: float):
    """SQL condition "the task has a free place" for the database store; None with Redis."""
    if redis is not None:
        return None
    live = _live(at, TaskReservation.task_id == Task.id).with_only_columns(func.count())
    return live.scalar_subquery() < Task.n_answers - Task.n_task_runs


def full_prefix(redis, project_id: int, at: float) -> int:
    """The last task id of the project's full prefix (reserve_read) while it stands, else -1:
    the application's path reads after it too. -1 for the database store (it has none). The
    value is read as READ_PREFIX reads it in the Lua calls ("<last id>:<expiry in ms>")."""
    if redis is None:
        return -1
    found = redis.get(_prefix_key(project_id))
    if found is None:
        return -1
    found = found.decode() if isinstance(found, bytes) else found
    last, _, ending = found.partition(":")
    return int(last) if float(ending) > at * 1000 else -1


def reserve(
    db,
    redis,
    project_id: int,
    participant: str,
    task_ids: list[int],
    want: int,
    timeout: int,
    at: float,
    skip_busy: bool = False,
) -> list[int]:
    """Reserve up to `want` of the tasks, tried in the given order; returns the ids granted.

    A task the participant already holds is granted again with a new expiry. With `skip_busy`
    the database store passes over task rows another transaction has locked, instead of waiting.
    """
    if not task_ids or want <= 0:
        return []
    if redis is not None:
        args = (project_id, participant, task_ids, want, timeout, at)
        return _redis_reserve(redis, partial(_places_and_answers, db), *args)
    capacity = _capacities(db, task_ids, lock=True, skip_busy=skip_busy)
    expired = TaskReservation.task_id.in_(task_ids), TaskReservation.expires <= at
    db.execute(delete(TaskReservation).where(*expired))
    holders = db.execute(
        _live(at, TaskReservation.task_id.in_(task_ids)).add_columns(TaskReservation.participant)
    ).all()
    done = _answered(db, task_ids)
    mine = {task_id for task_id, holder in holders if holder == participant}
    others = Counter(
        task_id
        for task_id, holder in holders
        if holder != participant and holder not in done.get(task_id, ())
    )
    granted = []
    for task_id in task_ids:
        if len(granted) == want:
            break
        if task_id in mine or others[task_id] < capacity.get(task_id, 0):
            _upsert(db, project_id, task_id, participant, at + timeout)
            granted.append(task_id)
    return granted


def release(
    db, redis, project_id: int, task_id: int, participant: str, timeout: int, runs: int
) -> None:
    """Free the participant's hold on the task, its answer being stored in this transaction
    (which brought the task's run count to `runs`).

    In the database this happens with the answer; in Redis only once the answer is committed,
    so that no one reserves the freed place while the answer is not yet counted.
    """
    if redis is None:
        db.execute(
            delete(TaskReservation).where(
                TaskReservation.task_id == task_id, TaskReservation.participant == participant
            )
        )
        return
    after_commit(
        db,
        attempt,
        redis,
        lambda client: release_committed(client, project_id, task_id, participant, timeout, runs),
    )


def purge_expired(db, at: float | None = None) -> int:
    """Delete database reservations past their time; returns how many went."""
    at = now() if at is None else at
    return db.execute(delete(TaskReservation).where(TaskReservation.expires <= at)).rowcount or 0


def forget(db, participant: str) -> None:
    """Delete the participant's database reservations (their account is deleted). Redis holds
    expire by themselves; until then they only keep places the volunteer will not answer."""
    db.execute(delete(TaskReservation).where(TaskReservation.participant == participant))


def _live(at: float, *conditions):
    """Task ids of the reservations meeting `conditions` that still hold at time `at`."""
    return select(TaskReservation.task_id).where(*conditions, TaskReservation.expires > at)


def _capacities(db, task_ids, lock: bool = False, skip_busy: bool = False) -> dict[int, int]:
    """{task id: places left} read now; `lock` holds the task rows until the transaction ends.

    On PostgreSQL the lock makes a concurrent answer or hand-out of the same task wait for this
    transaction (SQLite has a single writer already); rows are locked in id order, so two
    hand-outs never wait on each other in a cycle. Skipped busy rows count as full.
    """
    query = select(Task.id, Task.n_answers, Task.n_task_runs).where(Task.id.in_(task_ids))
    if lock:
        query = query.order_by(Task.id).with_for_update(skip_locked=skip_busy)
    return {row.id: row.n_answers - row.n_task_runs for row in db.execute(query)}


def _upsert(db, project_id, task_id, participant, expires) -> None:
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(TaskReservation).values(
        task_id=task_id, participant=participant, project_id=project_id, expires=expires
    )
    db.execute(
        statement.on_conflict_do_update(
            index_elements=["task_id", "participant"], set_={"expires": expires}
        )
    )


# --- Redis -----------------------------------------------------------------------------------

# Lua: read_prefix(the project's full-prefix key, now): the prefix's last task id and the time
# (ms) it lasts until, stored as "<last id>:<until, ms>"; (-1, nil) when there is none standing.
READ_PREFIX = """
local function read_prefix(key, now)
  local current = redis.call('GET', key)
  if not current then return -1, nil end
  local colon = string.find(current, ':')
  local ending = tonumber(string.sub(current, colon + 1))
  if ending <= now * 1000 then return -1, nil end
  return tonumber(string.sub(current, 1, colon - 1)), ending
end
"""

# KEYS: the participant's index of held tasks, the project's full prefix (reserve_read),
# [a rate-limit window's counter,] then one hash per task (fields p:<participant> → expiry, and
# `runs`: the highest run count an answer released). ARGV: participant, now, expiry, how many
# wanted, key ttl, whether the participant's held tasks must all be among the tasks given (then
# granted first; else nothing is granted and the held ones are returned), how many of the tasks
# given first were read in order after an id (0: the full prefix is left alone), that id, the
# latest time (ms) a prefix may last, the guard's stamps to set for the tasks granted past an
# offset (their keys' prefix, '' for none; their value; their ttl; the offset), the counter's
# expiry ('' when the request is not counted here) and the limit, '1' to grant nothing when
# the full prefix does not reach the id read after (with held tasks first), and the task keys'
# prefix when held tasks not given may be granted unread (else ''); then per task its
# id, its places left and run count (read together), and the keys of the participants whose
# answer to it is stored (a JSON array, as answerers_of_task reads it): their holds are not
# counted, in case a worker died before releasing them, and the participant is never granted a
# task they answered. Returns {granted, stale, held (when nothing was done for them), the
# request's count (0: not counted), the full prefix's last task id (-1: none), 1 when nothing
# was granted for want of held tasks, a prefix or the limit's leave, 2 when held tasks were
# granted unread, else 0}.
RESERVE = (
    guard.LUA  # the guard's stamps (guard_stamp)
    + READ_PREFIX
    + """
local field, now, expires = 'p:' .. ARGV[1], tonumber(ARGV[2]), ARGV[3]
local want, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local in_order, after, cap = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local stamps, stamped, stamp_ttl, offset = ARGV[10], ARGV[11], ARGV[12], tonumber(ARGV[13])
local count, first_task = 0, 3
if ARGV[14] ~= '' then
  first_task = 4
  count = redis.call('INCR', KEYS[3])
  if count == 1 then redis.call('EXPIREAT', KEYS[3], ARGV[14]) end
  if count > tonumber(ARGV[15]) then return {{}, {}, {}, count, -1, 1} end
end
-- The answerers of a task, decoded when the task is first looked at (most are not).
local answerers = {__index = function(task, name)
  if name ~= 'answered' then return nil end
  local answered = {}
  for _, who in ipairs(cjson.decode(task.listed)) do answered['p:' .. who] = true end
  rawset(task, 'answered', answered)
  return answered
end}
local tasks, at = {}, 18
for i = first_task, #KEYS do
  table.insert(tasks, setmetatable({key = KEYS[i], id = ARGV[at], places = tonumber(ARGV[at + 1]),
                                    runs = tonumber(ARGV[at + 2]), listed = ARGV[at + 3]},
                                   answerers))
  at = at + 4
end
-- The full prefix: the tasks read in order, while every place of each is held (live holds of
-- volunteers whose answers are not stored, the participant's included).
-- A task's hash as read here is kept (task.entries): nothing below changes it before the
-- grants look at it again. A task found full (task.full) is granted only to a holder of one of
-- its places (task.mine).
local function runs_in(entries)
  for j = 1, #entries, 2 do
    if entries[j] == 'runs' then return tonumber(entries[j + 1]) end
  end
  return 0
end
local last, soonest = nil, cap
for i = 1, in_order do
  local task, holders, ending = tasks[i], 0, cap
  local entries = redis.call('HGETALL', task.key)
  task.entries = entries
  for j = 1, #entries, 2 do
    local name, expiry = entries[j], tonumber(entries[j + 1])
    if string.sub(name, 1, 2) == 'p:' and expiry > now and not task.answered[name] then
      holders, ending = holders + 1, math.min(ending, expiry * 1000)
      if name == field then task.mine = true end
    end
  end
  if holders < task.places then break end
  task.full = true
  last, soonest = task.id, math.min(soonest, ending)
end
-- Read after an id the full prefix no longer reaches: tasks before it may have places again.
local behind = ARGV[16] == '1' and read_prefix(KEYS[2], now) < after
if ARGV[6] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
  local given, first, rest, missing = {}, {}, {}, false
  for _, task in ipairs(tasks) do given[task.id] = task end
  local held = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf')
  for _, id in ipairs(held) do
    if given[id] then given[id].held = true else missing = true end
  end
  if missing or behind then
    -- Nothing granted; the held tasks named, to be read.
    local function redo() return {{}, {}, held, count, read_prefix(KEYS[2], now), 1} end
    -- A returning volunteer whose holds cover what is wanted may be given them back unread:
    -- the lowest ids, each hold live in its task's hash, renewed and stamped. The caller then
    -- reads those tasks and checks they are open and unanswered by the participant (else it
    -- asks again with them read: a call that does not allow this).
    if ARGV[17] == '' or #held < want then return redo() end
    table.sort(held, function(a, b) return tonumber(a) < tonumber(b) end)
    local mine = {}
    for i = 1, want do
      local key = ARGV[17] .. held[i]
      local expiry = tonumber(redis.call('HGET', key, field))
      if not expiry or expiry <= now then return redo() end
      mine[i] = key
    end
    for i = 1, want do
      redis.call('HSET', mine[i], field, expires)
      redis.call('EXPIRE', mine[i], ttl)
      redis.call('ZADD', KEYS[1], expires, held[i])
      if stamps ~= '' and i > offset then
        guard_stamp(stamps .. held[i], stamped, stamp_ttl)
      end
    end
    redis.call('EXPIRE', KEYS[1], ttl)
    return {{unpack(held, 1, want)}, {}, held, count, read_prefix(KEYS[2], now), 2}
  end
  for _, task in ipairs(tasks) do table.insert(task.held and first or rest, task) end
  for _, task in ipairs(rest) do table.insert(first, task) end
  tasks = first
end
local granted, stale = {}, {}
for _, task in ipairs(tasks) do
  if #granted >= want then break end
  local key = task.key
  local entries = task.entries or redis.call('HGETALL', key)
  if runs_in(entries) > task.runs then
    table.insert(stale, task.id)
  elseif task.full and not task.mine then
    -- No place to grant: its expired or answered holds are cleared when it is not full.
  else
    local others, mine = 0, false
    for j = 1, #entries, 2 do
      local name = entries[j]
      if string.sub(name, 1, 2) == 'p:' then
        if task.answered[name] then
          -- A release its worker did not make: made here, with the count this read saw (which
          -- includes that answer), so that reads older than it are refused as stale.
          redis.call('HDEL', key, name)
          redis.call('HSET', key, 'runs', task.runs)
        elseif tonumber(entries[j + 1]) <= now then
          redis.call('HDEL', key, name)
        elseif name == field then mine = true
        else others = others + 1 end
      end
    end
    if (mine or others < task.places) and not task.answered[field] then
      redis.call('HSET', key, field, expires)
      redis.call('EXPIRE', key, ttl)
      redis.call('ZADD', KEYS[1], expires, task.id)
      redis.call('EXPIRE', KEYS[1], ttl)
      table.insert(granted, task.id)
    end
  end
end
if last then
  -- Extended only from a prefix still standing (or from the start); it lasts until the first
  -- of its holds expires, at most until `cap`.
  local upto, ending = read_prefix(KEYS[2], now)
  if after < 0 or upto >= after then
    if ending then soonest = math.min(soonest, ending) end
    last = math.max(tonumber(last), upto)
    if soonest > now * 1000 then
      redis.call('SET', KEYS[2], last .. ':' .. string.format('%d', soonest))
      redis.call('PEXPIREAT', KEYS[2], math.floor(soonest))
    end
  end
end
if stamps ~= '' then
  for i = offset + 1, #granted do
    guard_stamp(stamps .. granted[i], stamped, stamp_ttl)
  end
end
return {granted, stale, {}, count, read_prefix(KEYS[2], now), 0}
"""
)

# Lua: the participant's hold (the task's hash `key`, its `field`) read at time `now` and, when
# live, made to last HOLD_GRACE seconds more at least; returns the expiry read (false: none).
KEEP_HOLD = f"""
local function keep_hold(key, field, now)
  local expiry = redis.call('HGET', key, field)
  if expiry and tonumber(expiry) > now and tonumber(expiry) < now + {HOLD_GRACE} then
    redis.call('HSET', key, field, string.format('%.6f', now + {HOLD_GRACE}))
    if redis.call('TTL', key) < {HOLD_GRACE + KEY_MARGIN} then
      redis.call('EXPIRE', key, {HOLD_GRACE + KEY_MARGIN})
    end
  end
  return expiry
end
"""
# KEYS: the task's hash. ARGV: the hold's field, now.
KEEP = KEEP_HOLD + "return keep_hold(KEYS[1], ARGV[1], tonumber(ARGV[2]))"

# Lua: release_hold(the task's hash, the participant's index, participant, task id, key ttl, the
# task's run count the answer committed). RELEASE calls it with KEYS and ARGV in that order.
RELEASE_HOLD = """
local function release_hold(task_key, held_key, participant, task_id, ttl, runs)
  redis.call('HDEL', task_key, 'p:' .. participant)
  if tonumber(redis.call('HGET', task_key, 'runs') or '0') < tonumber(runs) then
    redis.call('HSET', task_key, 'runs', runs)
  end
  redis.call('EXPIRE', task_key, ttl)
  redis.call('ZREM', held_key, task_id)
end
"""
RELEASE = RELEASE_HOLD + "release_hold(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])"


def _answered(db, task_ids) -> dict[int, set[str]]:
    """{task id: reservation keys of the participants whose answers to it are stored}."""
    found: dict[int, set[str]] = {}
    rows = db.execute(select(TaskRun.task_id, *ANSWERER).where(TaskRun.task_id.in_(task_ids)))
    for task_id, *who in rows:
        found.setdefault(task_id, set()).add(participant_key(*who))
    return found


def _places_and_answers(db, task_ids) -> dict[int, tuple[int, int, set[str]]]:
    """{task id: (places left, run count, keys of the participants who answered it)} in one
    statement: one snapshot, so every answer seen is counted in the places too (ignoring its
    volunteer's hold can never hand out the place that answer used)."""
    rows = db.execute(
        select(Task.id, Task.n_answers - Task.n_task_runs, Task.n_task_runs, *ANSWERER)
        .outerjoin(TaskRun, TaskRun.task_id == Task.id)
        .where(Task.id.in_(task_ids))
    )
    found: dict[int, tuple[int, int, set[str]]] = {}
    for task_id, left, runs, *who in rows:
        done = found.setdefault(task_id, (left, runs, set()))[2]
        if who != [None, None, None]:
            done.add(participant_key(*who))
    return found


# Who wrote a run, as the reservation key of that participant (participant_key).
ANSWERER = (TaskRun.user_id, TaskRun.external_uid, TaskRun.user_ip)


def participant_key_of_run():
    """participant_key of a task run's row, in SQL (the lean path reads it with the tasks)."""
    return participant_key(*ANSWERER)


class _json_list(FunctionElement):
    """The aggregated values as a JSON array in text (NULL or [] when there are none)."""

    type = Text()
    inherit_cache = True


@compiles(_json_list, "postgresql")
def _json_list_postgresql(element, compiler, **kw):
    return f"CAST(json_agg({compiler.process(element.clauses, **kw)}) AS TEXT)"


@compiles(_json_list, "sqlite")
def _json_list_sqlite(element, compiler, **kw):
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


def answerers_of_task(task_id):
    """Sub-select: the keys of the participants who answered the task, a JSON array in text
    (NULL or [] for none), which RESERVE takes as it is."""
    return (
        select(_json_list(participant_key_of_run()))
        .where(TaskRun.task_id == task_id)
        .scalar_subquery()
    )


def hold_location(task_id, participant) -> tuple[str, str]:
    """(Redis key, field) of the participant's hold on the task: its expiry (core.delivery)."""
    return _task_key(task_id), f"p:{participant}"


TASK_KEY_PREFIX = "crowdnest:reservation:task:"


def _task_key(task_id) -> str:
    return f"{TASK_KEY_PREFIX}{task_id}"


def _prefix_key(project_id) -> str:
    return f"crowdnest:reservation:prefix:{project_id}"


def _held_key(project_id, participant) -> str:
    return f"crowdnest:reservation:project:{project_id}:{participant}"


def _redis_held(redis, project_id, participant, at) -> list[int]:
    key = _held_key(project_id, participant)
    pipe = redis.pipeline()
    pipe.zremrangebyscore(key, "-inf", at)
    pipe.zrangebyscore(key, f"({at!r}", "+inf")
    return [int(task_id) for task_id in pipe.execute()[1]]


def _redis_holds(redis, task_id, participant, at) -> bool:
    return live(redis.hget(*hold_location(task_id, participant)), at)


def live(expires, at: float) -> bool:
    """Whether a hold whose stored expiry is `expires` (None: no hold) holds at time `at`."""
    return expires is not None and float(expires) > at


def _redis_reserve(redis, counts, project_id, participant, task_ids, want, timeout, at):
    """Atomic check-and-reserve in one script; tasks found stale are read again and retried.

    `counts(task_ids)` gives {task id: (places left, run count, keys of the participants whose
    answers are stored)}, read together (_places_and_answers).
    """
    granted, todo = [], list(task_ids)
    for _ in range(STALE_RETRIES):
        if not todo or len(granted) >= want:
            break
        found = counts(todo)
        read = {task_id: found[task_id] for task_id in todo if task_id in found}
        new, stale, *_ = reserve_read(
            redis, project_id, participant, read, want - len(granted), timeout, at
        )
        granted += new
        todo = stale
    return sorted(granted, key=task_ids.index)


class Reserved(NamedTuple):
    """What RESERVE did: see reserve_read."""

    granted: list[int]
    stale: list[int]
    held: list[int]
    count: int
    prefix: int
    redo: bool
    unread: bool = False


def reserve_read(
    redis,
    project_id,
    participant,
    read,
    want,
    timeout,
    at,
    held_first=False,
    prefix=None,
    stamps=("", "", 0, 0),
    counting=None,
    behind=False,
    unread=False,
) -> Reserved:
    """RESERVE for the tasks `read` ({task id: (places, runs, answerers)}, in the order to try;
    answerers a set of keys, or answerers_of_task's JSON text): the ids granted, and the stale
    ones (a later answer was released since `read`). With `held_first` the participant's held
    tasks are granted before the others and must all be in `read`: else nothing is granted,
    `redo` is set and `held` names them all. With `prefix` ((the id the first tasks were read
    after, -1 for from the first; how many were)), the project's full prefix is extended over
    those found full; `behind` (with `held_first`) also grants nothing, `redo`
    set, when the prefix no longer reaches that id; with `unread` too, when the participant
    holds at least `want` tasks (each hold live), the lowest `want` of their ids are granted
    instead, renewed and stamped, and `unread` set: the caller reads those tasks and, when one
    is no longer open or the participant answered it, calls again without `unread` with the
    held tasks read (`redo` is set too). The prefix's last id as the call left it is
    returned either way. `stamps`: the guard's stamps for the tasks granted past an offset ((key
    prefix, value, ttl, offset); core.services.guard), set in the same call. `counting` ((a
    rate-limit window's counter, its expiry, the limit)): the request counted first, `count`;
    over the limit nothing else is done (`redo` set).

    The full prefix serves the lean `locked` form in id order: every task up to it that is
    open and short of answers has all its places held (as the last reservations found them),
    so the next hand-outs read after it. It lasts until the first of those holds expires, and
    at most PREFIX_SECONDS (a place freed otherwise, by a deleted run or more n_answers, is seen
    within that time); a volunteer's own holds in it are read apart, by id.
    """
    after, in_order = prefix or (-1, 0)
    cap = (at + PREFIX_SECONDS) * 1000
    args = [participant, repr(at), repr(at + timeout), want, timeout + KEY_MARGIN]
    args += [int(held_first), in_order, after, repr(cap), *stamps]
    keys = [_held_key(project_id, participant), _prefix_key(project_id)]
    if counting is not None:
        counter, expires, limit = counting
        keys.append(counter)
        args += [expires, limit]
    else:
        args += ["", 0]
    args += ["1" if behind else "0", TASK_KEY_PREFIX if unread and held_first else ""]
    for task_id, (places, runs, answerers) in read.items():
        listed = answerers if isinstance(answerers, str) else orjson.dumps(sorted(answerers))
        args += [task_id, places, runs, listed]
    keys += [_task_key(task_id) for task_id in read]
    granted, stale, held, count, last, redo = script(redis, RESERVE)(keys=keys, args=args)
    return Reserved(
        [int(task_id) for task_id in granted],
        [int(task_id) for task_id in stale],
        [int(task_id) for task_id in held],
        int(count),
        int(last),
        int(redo) != 0,
        int(redo) == 2,
    )


def release_committed(redis, project_id, task_id, participant, timeout, runs) -> None:
    """Redis: the participant's hold released once their answer, which brought the task's run
    count to `runs`, is committed (`release`; the lean path calls it itself)."""
    keys, args = release_location(project_id, task_id, participant, timeout, runs)
    script(redis, RELEASE)(keys=keys, args=args)


def release_location(project_id, task_id, participant, timeout, runs) -> tuple[list, list]:
    """(KEYS, ARGV) of RELEASE_HOLD's release_hold for this hold (core.delivery calls it in its
    own script after an answer)."""
    keys = [_task_key(task_id), _held_key(project_id, participant)]
    return keys, [participant, task_id, timeout + KEY_MARGIN, runs]
