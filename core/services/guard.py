"""The contributions guard: which tasks were handed to which volunteer, and when.

Domain code: knows nothing of HTTP. Stamps live in Redis when it is configured (shared by every
process), otherwise in the database; never in process memory. While Redis is unreachable
(core.redis.either) stamps go to the database, and an answer whose stamp Redis does not have is
checked against the database too: hand-outs made during an outage are answered after it.
"""

import time

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.db import after_commit, utcnow
from core.models import TaskRequest
from core.redis import attempt, either, script

# The guard's Redis side, written once: a stamp set (its value the hand-out time, expiring
# after its ttl), read when its task is answered, consumed once the answer is committed. The
# application runs these functions as scripts of their own (STAMP, READ, CONSUME); the lean
# path and the lean forms that stamp (Counting) compose them into theirs, one round trip each.
LUA = """
local function guard_stamp(key, value, ttl) redis.call('SET', key, value, 'EX', ttl) end
local function guard_read(key) return redis.call('GET', key) end
local function guard_consume(key) redis.call('DEL', key) end
"""
# KEYS: the stamps; ARGV: value, ttl.
STAMP = LUA + "for i = 1, #KEYS do guard_stamp(KEYS[i], ARGV[1], ARGV[2]) end"
READ = LUA + "return guard_read(KEYS[1])"
CONSUME = LUA + "guard_consume(KEYS[1])"


def stamp_key(participant: str, task_id: int) -> str:
    """The Redis key of the stamp of `task_id` handed to `participant`."""
    return f"{stamp_prefix(participant)}{task_id}"


def stamp_prefix(participant: str) -> str:
    """What the keys of `participant`'s stamps begin with (then the task id; Lua scripts)."""
    return f"crowdnest:task_requested:{participant}:task:"


def stamp(db, redis, participant: str, project_id: int, task_ids, ttl: int) -> None:
    """Remember that these tasks were handed to `participant` now."""
    now = utcnow()

    def in_redis(client) -> bool:
        keys = [stamp_key(participant, task_id) for task_id in task_ids]
        script(client, STAMP)(keys=keys, args=[now, ttl])
        return True

    if either(redis, in_redis, lambda: False):
        return
    expires = time.time() + ttl
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    for task_id in task_ids:
        statement = insert(TaskRequest).values(
            task_id=task_id,
            participant=participant,
            project_id=project_id,
            created=now,
            expires=expires,
        )
        db.execute(
            statement.on_conflict_do_update(
                index_elements=["task_id", "participant"],
                set_={"created": now, "expires": expires},
            )
        )


def take(db, redis, participant: str, task_id: int) -> str | None:
    """The hand-out time if the task was handed to `participant`, consuming the stamp.

    In Redis the stamp goes once `db`'s transaction commits (at once when `db` is None): an
    answer rolled back or retried (a deadlock, a lost connection) keeps it, so the volunteer's
    retry is not refused as unrequested. Two answers racing on one stamp both see it; the
    database's unique indexes keep one. In the database the stamp goes with the transaction;
    it is looked for there when Redis has none (a hand-out made while Redis was unreachable).
    """
    key = stamp_key(participant, task_id)
    value = either(redis, lambda client: script(client, READ)(keys=[key]), lambda: None)
    if value is not None:
        consume = lambda client: script(client, CONSUME)(keys=[key])  # noqa: E731
        if db is None:
            attempt(redis, consume)
        else:
            after_commit(db, attempt, redis, consume)
        return value.decode() if isinstance(value, bytes) else value
    if db is None:
        return None
    row = db.scalars(
        select(TaskRequest).where(
            TaskRequest.task_id == task_id,
            TaskRequest.participant == participant,
            TaskRequest.expires > time.time(),
        )
    ).first()
    if row is None:
        return None
    created = row.created
    db.execute(
        delete(TaskRequest).where(
            TaskRequest.task_id == task_id, TaskRequest.participant == participant
        )
    )
    return created


def purge_expired(db) -> int:
    """Delete database stamps past their time; returns how many went."""
    result = db.execute(delete(TaskRequest).where(TaskRequest.expires <= time.time()))
    return result.rowcount or 0
