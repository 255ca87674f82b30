"""Reservations of the `locked` scheduler: which volunteer holds which task, until when.

Domain code: knows nothing of HTTP. Reservations live in Redis when it is configured (atomic Lua
scripts, shared by every process), otherwise in the task_reservation table (task rows locked
FOR UPDATE on PostgreSQL, SQLite's single writer elsewhere); never in process memory.

A task may be held by at most `n_answers - n_task_runs` volunteers at once. Redis never sees the
database, so every answer stored bumps a per-task `released` counter in Redis after the commit:
a reservation whose counts were read before that commit is refused as stale and retried.
"""

import logging
import time
from collections import Counter
from functools import partial

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.db import after_commit
from core.models import Task, TaskReservation, TaskRun

log = logging.getLogger(__name__)
# Redis keys outlive the longest reservation by this much (seconds).
KEY_MARGIN = 60
STALE_RETRIES = 3


def now() -> float:
    """The clock reservations are judged by; tests replace it instead of sleeping."""
    return time.time()


def required(project, settings) -> bool:
    """Whether answers to `project` need a live reservation: it is served by `locked`."""
    return scheduled_by_locked((project.info or {}).get("sched"), settings)


def scheduled_by_locked(sched, settings) -> bool:
    """Whether a project whose `info.sched` is `sched` is served by `locked`."""
    name = sched or settings["scheduler.default"]
    return name == "locked" and "locked" in settings["plugins.schedulers"]


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


def room_clause(redis, at: float):
    """SQL condition "the task has a free place" for the database store; None with Redis."""
    if redis is not None:
        return None
    live = _live(at, TaskReservation.task_id == Task.id).with_only_columns(func.count())
    return live.scalar_subquery() < Task.n_answers - Task.n_task_runs


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


def release(db, redis, project_id: int, task_id: int, participant: str, timeout: int) -> None:
    """Free the participant's hold on the task, its answer being stored in this transaction.

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
    after_commit(db, _redis_release, redis, project_id, task_id, participant, timeout)


def purge_expired(db, at: float | None = None) -> int:
    """Delete database reservations past their time; returns how many went."""
    at = now() if at is None else at
    return db.execute(delete(TaskReservation).where(TaskReservation.expires <= at)).rowcount or 0


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

# KEYS: the participant's index of held tasks, then one hash per task (fields p:<participant> →
# expiry, and `released`). ARGV: participant, now, expiry, how many wanted, key ttl, then per
# task its id, its places left, the `released` value seen before those places were read, and
# the participants whose answer to it is stored already (a count, then their keys): their
# holds are not counted, in case a worker died before releasing them.
RESERVE = """
local field, now, expires = 'p:' .. ARGV[1], tonumber(ARGV[2]), ARGV[3]
local want, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local granted, stale = {}, {}
local at = 6
for i = 2, #KEYS do
  local key = KEYS[i]
  local task_id, places, released = ARGV[at], tonumber(ARGV[at + 1]), ARGV[at + 2]
  local answered, count = {}, tonumber(ARGV[at + 3])
  for j = 1, count do answered['p:' .. ARGV[at + 3 + j]] = true end
  at = at + 4 + count
  if #granted < want then
    if (redis.call('HGET', key, 'released') or '0') ~= released then
      table.insert(stale, task_id)
    else
      local others, mine = 0, false
      local entries = redis.call('HGETALL', key)
      for j = 1, #entries, 2 do
        local name = entries[j]
        if string.sub(name, 1, 2) == 'p:' then
          if tonumber(entries[j + 1]) <= now or answered[name] then redis.call('HDEL', key, name)
          elseif name == field then mine = true
          else others = others + 1 end
        end
      end
      if mine or others < places then
        redis.call('HSET', key, field, expires)
        redis.call('EXPIRE', key, ttl)
        redis.call('ZADD', KEYS[1], expires, task_id)
        redis.call('EXPIRE', KEYS[1], ttl)
        table.insert(granted, task_id)
      end
    end
  end
end
return {granted, stale}
"""

# KEYS: the task's hash, the participant's index. ARGV: participant, task id, key ttl.
RELEASE = """
redis.call('HDEL', KEYS[1], 'p:' .. ARGV[1])
redis.call('HINCRBY', KEYS[1], 'released', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[2])
"""


def _answered(db, task_ids) -> dict[int, set[str]]:
    """{task id: reservation keys of the participants whose answers to it are stored}."""
    found: dict[int, set[str]] = {}
    rows = db.execute(select(TaskRun.task_id, *ANSWERER).where(TaskRun.task_id.in_(task_ids)))
    for task_id, *who in rows:
        found.setdefault(task_id, set()).add(participant_key(*who))
    return found


def _places_and_answers(db, task_ids) -> tuple[dict[int, int], dict[int, set[str]]]:
    """({task id: places left}, {task id: keys of the participants who answered it}) in one
    statement: one snapshot, so every answer seen is counted in the places too (ignoring its
    volunteer's hold can never hand out the place that answer used)."""
    rows = db.execute(
        select(Task.id, Task.n_answers - Task.n_task_runs, *ANSWERER)
        .outerjoin(TaskRun, TaskRun.task_id == Task.id)
        .where(Task.id.in_(task_ids))
    )
    places: dict[int, int] = {}
    done: dict[int, set[str]] = {}
    for task_id, left, *who in rows:
        places[task_id] = left
        if who != [None, None, None]:
            done.setdefault(task_id, set()).add(participant_key(*who))
    return places, done


# Who wrote a run, as the reservation key of that participant (_answerer_key).
ANSWERER = (TaskRun.user_id, TaskRun.external_uid, TaskRun.user_ip)


def participant_key(user_id, external_uid, user_ip) -> str:
    """How reservations, the guard and the schedulers know a participant (Participant.key)."""
    if user_id is not None:
        return f"user:{user_id}"
    if external_uid:
        return f"external:{external_uid}"
    return f"ip:{user_ip}"


def _task_key(task_id) -> str:
    return f"crowdnest:reservation:task:{task_id}"


def _held_key(project_id, participant) -> str:
    return f"crowdnest:reservation:project:{project_id}:{participant}"


def _redis_held(redis, project_id, participant, at) -> list[int]:
    key = _held_key(project_id, participant)
    pipe = redis.pipeline()
    pipe.zremrangebyscore(key, "-inf", at)
    pipe.zrangebyscore(key, f"({at!r}", "+inf")
    return [int(task_id) for task_id in pipe.execute()[1]]


def _redis_holds(redis, task_id, participant, at) -> bool:
    expires = redis.hget(_task_key(task_id), f"p:{participant}")
    return expires is not None and float(expires) > at


def _redis_reserve(redis, counts, project_id, participant, task_ids, want, timeout, at):
    """Atomic check-and-reserve in one script; tasks found stale are read again and retried.

    `counts(task_ids)` gives ({task id: places left}, {task id: keys of the participants whose
    answers are stored}), read together.
    """
    script = redis.register_script(RESERVE)
    granted, todo = [], list(task_ids)
    for _ in range(STALE_RETRIES):
        if not todo or len(granted) >= want:
            break
        keys = [_task_key(task_id) for task_id in todo]
        pipe = redis.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "released")
        # Read `released` before the counts: an answer committed in between shows as stale.
        seen = [(value or b"0").decode() for value in pipe.execute()]
        places, done = counts(todo)
        args = [
            participant,
            repr(at),
            repr(at + timeout),
            want - len(granted),
            timeout + KEY_MARGIN,
        ]
        for task_id, released in zip(todo, seen, strict=True):
            keys_done = sorted(done.get(task_id, ()))
            args += [task_id, places.get(task_id, 0), released, len(keys_done), *keys_done]
        new, stale = script(keys=[_held_key(project_id, participant), *keys], args=args)
        granted += [int(task_id) for task_id in new]
        todo = [int(task_id) for task_id in stale]
    return sorted(granted, key=task_ids.index)


def _redis_release(redis, project_id, task_id, participant, timeout) -> None:
    script = redis.register_script(RELEASE)
    script(
        keys=[_task_key(task_id), _held_key(project_id, participant)],
        args=[participant, task_id, timeout + KEY_MARGIN],
    )
