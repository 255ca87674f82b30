"""Pending hand-outs (decision 25): a task handed out and not yet answered counts towards its
`n_answers`, so a crowd asking at once is spread over the open tasks instead of all answering
the first one.

The rule: a task is *full* for a volunteer when its answers (`n_task_runs`) and the live
hand-outs of other volunteers reach its `n_answers`. A scheduler that counts pending hand-outs
(Scheduler.pending) returns its candidates in order, `options.spare` more than asked: one for
each task marked full, since only those can be passed over. The first candidates the volunteer
is not full for are handed out; a full one only when too few others are left, so nobody is
turned away while a task they have not answered is open. A volunteer's own live hand-out never
counts against them: asking again gives them the same task. A hand-out lapses after
`scheduler.pending_ttl` seconds (a project's `info.pending_ttl`), or when its volunteer answers
the task (after the answer's commit). One volunteer holds at most MOST_HELD tasks of a project
at once; tasks handed to them beyond are not held.

The book of hand-outs. With Redis it is shared by every process and host: a sorted set per task
(volunteer -> when the hand-out lapses), one per project of the tasks marked full (task ->
when the earliest of its hand-outs lapses: it may be open again from then on) and one per
project and volunteer of the tasks they hold, judged and written by one Lua call
(`pending_hold`). Without Redis, or while it is unreachable, each
process keeps its own book (`Book`), judged the same way; a test drives both with the same
requests (tests/unit/core/services/test_pending.py).

Domain code: knows nothing of HTTP.
"""

import threading
import time
from dataclasses import replace

from core.db import after_commit
from core.hookspecs import AnswerGate, LeanForm, Scheduler
from core.ratelimit import LUA as WINDOW_LUA
from core.redis import attempt, either, script
from core.services import guard

# Tasks marked full read past at most: a crowd holding more than this many tasks full at once
# (200 volunteers at n_answers 2) may be handed some. Each is a row every newtask reads and a
# Redis step: accounts acting together to mark many tasks full raise a newtask's cost by at most
# this much (about 2 ms of CPU), not by what they hold (the attacker's F4).
MOST_SPARE = 100
# Reads of the lean form before it leaves the request to the application (which reads READS
# times more), and the candidates it reads beyond its hint of the marks' count.
LEAN_READS = 2
SLACK = 2
# Reads of a request: when the candidates read held too few the volunteer is not full for
# (tasks became full since the marks were counted), it reads again with the new count; the
# last read hands out what it found.
READS = 3
# Candidates an offset makes the rule read past at most (pybossa.js asks offset=1): beyond, the
# rest of the offset skips rows unjudged, as PYBOSSA's (each judged one is a row read into the
# process and a Redis call's argument: a larger bound lets one request cost many).
MOST_SKIP = 100
# Live hand-outs one volunteer holds in a project at most: past them, tasks are still handed
# out but not held (one account asking page after page would fill the project for everyone,
# and make every newtask read as many candidates more).
MOST_HELD = 100
# A released hand-out still counts for the reads that began before its release, less this many
# seconds (the clocks of the hosts may differ): their `n_task_runs` may not show its answer.
SKEW = 0.05
# Seconds a release is kept for those reads.
RELEASES_KEPT = 10
# Bounds of a project's `info.pending_ttl` (seconds).
SHORTEST, LONGEST = 1, 7 * 24 * 3600


def task_key(task_id) -> str:
    """The Redis sorted set of a task's live hand-outs (volunteer -> lapse time)."""
    return f"{TASK_PREFIX}{task_id}"


TASK_PREFIX = "crowdnest:pending:"


def full_key(project_id) -> str:
    """The Redis sorted set of a project's tasks marked full (task -> until when)."""
    return f"crowdnest:pending_full:{project_id}"


# The rule and the book's Redis side. `pending_hold(full, prefix, who, now, ttl, skip, want,
# complete, candidates)`: candidates a flat list of (task id, answers, n_answers) in the
# scheduler's order. They are ranked: those the volunteer is not full for, then (only when
# `complete`: no candidate follows those read) the full ones, each part in order; ranks `skip`
# + 1 to `skip` + `want` are handed out (held), in the scheduler's order, and their ids
# returned. False when fewer than `skip` + `want` are not full and more may follow. A task
# found full, or made full by this hold, is marked until its earliest hand-out lapses.
LUA = (
    f"local pending_most_held, pending_skew = {MOST_HELD}, {SKEW}\n"
    + """
local function pending_by(full, who) return full .. ':by:' .. who end
local function pending_from(args, first)
  local list = {}
  for i = first, #args do list[#list + 1] = args[i] end
  return list
end
local function pending_open(runs, others, needed) return runs + others < needed end
local function pending_count(key, now)
  local released = redis.call('ZCOUNT', key .. ':done', now - pending_skew, '+inf')
  return redis.call('ZCARD', key) + released
end
local function pending_others(key, who, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local others = pending_count(key, now)
  if redis.call('ZSCORE', key, who) then others = others - 1 end
  local done = redis.call('ZSCORE', key .. ':done', who)
  if done and tonumber(done) >= now - pending_skew then others = others - 1 end
  return others
end
local function pending_mark(full, key, task)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then redis.call('ZADD', full, first[2], task) end
end
local function pending_hold(full, prefix, who, now, ttl, skip, want, complete, candidates)
  redis.call('ZREMRANGEBYSCORE', full, '-inf', now)
  local open, passed = {}, {}
  for i = 1, #candidates, 3 do
    if #open >= skip + want then break end
    local key = prefix .. candidates[i]
    local runs, needed = tonumber(candidates[i + 1]), tonumber(candidates[i + 2])
    if redis.call('ZSCORE', full, candidates[i]) and not redis.call('ZSCORE', key, who) then
      -- Marked: full for all but its holders until its earliest hand-out lapses (a release
      -- leaves it as full: an answer for a hand-out; the last one takes the mark away).
      passed[#passed + 1] = i
    elseif pending_open(runs, pending_others(key, who, now), needed) then
      open[#open + 1] = i
    else
      passed[#passed + 1] = i
      pending_mark(full, key, candidates[i])
    end
  end
  if #open < skip + want then
    if not complete then return false end
    for _, i in ipairs(passed) do open[#open + 1] = i end
  end
  local chosen = {}
  for n = skip + 1, math.min(skip + want, #open) do chosen[#chosen + 1] = open[n] end
  table.sort(chosen)
  local ids, by = {}, pending_by(full, who)
  redis.call('ZREMRANGEBYSCORE', by, '-inf', now)
  local holding = redis.call('ZCARD', by)
  for _, i in ipairs(chosen) do
    local key, task = prefix .. candidates[i], candidates[i]
    local again = redis.call('ZSCORE', by, task)
    if again or holding < pending_most_held then
      if not again then holding = holding + 1 end
      redis.call('ZADD', by, now + ttl, task)
      redis.call('ZADD', key, now + ttl, who)
      redis.call('EXPIRE', key, ttl + 1)
      local runs, needed = tonumber(candidates[i + 1]), tonumber(candidates[i + 2])
      if not pending_open(runs, pending_count(key, now), needed) then
        pending_mark(full, key, task)
      end
    end
    ids[#ids + 1] = task
  end
  if #ids > 0 then
    redis.call('EXPIRE', full, ttl + 1)
    redis.call('EXPIRE', by, ttl + 1)
  end
  return ids
end
"""
)
# KEYS: the project's full marks. ARGV: now.
MARKED = "return redis.call('ZCOUNT', KEYS[1], ARGV[1], '+inf')"
# KEYS: the project's full marks. ARGV: prefix, who, now, ttl, skip, want, complete,
# candidates...
HOLD = (
    LUA
    + """
local ids = pending_hold(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1', pending_from(ARGV, 8))
if not ids then return false end
return ids
"""
)
# The lean path's one call (LeanForm.counts): the request counted in its rate-limit window, and
# when allowed, the hand-outs judged and held and their guard stamps set (a window expiry of
# '': counted already, by the call before). KEYS: the window's
# counter, the project's full marks. ARGV: window expiry, limit, prefix, who, now, ttl, skip,
# want, complete, stamp prefix, stamp value, stamp ttl, candidates... Returns {count} when over the
# limit, {count, marked, 0} when too few candidates were read, {count, marked, 1, ids}
# otherwise (`marked`: the project's tasks marked full after it, the next request's spare).
COUNT_HOLD_STAMP = (
    guard.LUA
    + WINDOW_LUA
    + LUA
    + """
local count = 0
if ARGV[1] ~= '' then
  count = window_count(KEYS[1], ARGV[1])
  if count > tonumber(ARGV[2]) then return {count} end
end
local ids = pending_hold(KEYS[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]),
  tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9] == '1', pending_from(ARGV, 13))
local marked = redis.call('ZCOUNT', KEYS[2], ARGV[5], '+inf')
if not ids then return {count, marked, 0} end
for _, id in ipairs(ids) do guard_stamp(ARGV[10] .. id, ARGV[11], ARGV[12]) end
return {count, marked, 1, ids}
"""
)


def pending_open(runs: int, others: int, needed: int) -> bool:
    """Whether a task with `runs` answers and `others` live hand-outs to other volunteers may
    go to one more (the rule; Lua's pending_open above)."""
    return runs + others < needed


class Book:
    """One process's book of hand-outs: used without Redis, or while it is unreachable. The
    same judgement as `pending_hold`, under a lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._held: dict[int, dict[str, float]] = {}  # task -> {volunteer: lapses at}
        self._full: dict[int, dict[int, float]] = {}  # project -> {task: marked until}
        self._by: dict[tuple, dict[int, float]] = {}  # (project, volunteer) -> {task: lapses}
        self._done: dict[int, dict[str, float]] = {}  # task -> {volunteer: released at}

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self._full.clear()
            self._by.clear()
            self._done.clear()

    def marked(self, project_id: int, now: float) -> int:
        """How many of the project's tasks are marked full now."""
        with self._lock:
            return sum(1 for until in self._full.get(project_id, {}).values() if until > now)

    def hold(self, project_id, who, candidates, skip, want, complete, ttl, now):
        """pending_hold's judgement on this process's book; `candidates` (id, runs, needed).
        The ids handed out, or None to read again."""
        with self._lock:
            full = self._full.setdefault(project_id, {})
            for task, until in list(full.items()):
                if until <= now:
                    del full[task]
            ranked, passed = [], []
            for index, (task, runs, needed) in enumerate(candidates):
                if len(ranked) >= skip + want:
                    break
                if task in full and who not in self._live(task, now):
                    passed.append(index)  # marked: full for all but its holders (as the Lua)
                    continue
                held = self._live(task, now)
                released = self._released(task, now)
                others = len(held) - (who in held) + len(released) - (who in released)
                if pending_open(runs, others, needed):
                    ranked.append(index)
                else:
                    passed.append(index)
                    if held:  # marked until its earliest hand-out lapses, as pending_mark
                        full[task] = min(held.values())
            if len(ranked) < skip + want:
                if not complete:
                    return None
                ranked += passed
            chosen = sorted(ranked[skip : skip + want])
            mine = self._by.setdefault((project_id, who), {})
            for task, lapses in list(mine.items()):
                if lapses <= now:
                    del mine[task]
            for index in chosen:
                task, runs, needed = candidates[index]
                if task not in mine and len(mine) >= MOST_HELD:
                    continue  # handed out, not held
                mine[task] = now + ttl
                held = self._held.setdefault(task, {})
                held[who] = now + ttl
                if not pending_open(runs, len(held) + len(self._released(task, now)), needed):
                    full[task] = min(held.values())
            return [candidates[index][0] for index in chosen]

    def release(self, project_id: int, task_id: int, who: str, at: float) -> None:
        """`who`'s hand-out of the task lapses at `at`, still counted by reads begun before;
        with the task's last one, its mark goes (as RELEASE_LUA)."""
        with self._lock:
            done = self._done.setdefault(task_id, {})
            done[who] = at
            for gone, when in list(done.items()):
                if when < at - RELEASES_KEPT:
                    del done[gone]
            self._by.get((project_id, who), {}).pop(task_id, None)
            held = self._held.get(task_id, {})
            held.pop(who, None)
            if not held:
                self._held.pop(task_id, None)
                self._full.get(project_id, {}).pop(task_id, None)

    def _released(self, task: int, now: float) -> set[str]:
        """Those whose release a read begun at `now` may not have seen counted (SKEW)."""
        return {who for who, at in self._done.get(task, {}).items() if at >= now - SKEW}

    def _live(self, task: int, now: float) -> dict[str, float]:
        held = self._held.get(task)
        if held is None:
            return {}
        for who, lapses in list(held.items()):
            if lapses <= now:
                del held[who]
        if not held:
            del self._held[task]
        return held


# Where a settings dict keeps its process's book (one per application).
BOOK = "crowdnest.pending_book"


def book_of(settings: dict) -> Book:
    """This application's own book (settings are the application's: one book per app)."""
    book = settings.get(BOOK)
    if book is None:
        book = settings.setdefault(BOOK, Book())
    return book


def own_ttl(value) -> int | None:
    """A project's `info.pending_ttl` as seconds, or None when it is not a number of them."""
    return ttl_of(value, {"scheduler.pending_ttl": None})


def ttl_of(value, settings: dict) -> int:
    """Seconds a hand-out stays pending: the project's `info.pending_ttl` when it is a finite
    number of seconds (its whole part, clamped to a week), else `scheduler.pending_ttl`."""
    seconds = None
    # The lean path reads the JSON text ("45.0") where the application reads the number (45.0):
    # both must give the same seconds.
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            seconds = int(value)
        except ValueError:
            try:
                seconds = int(float(value))
            except (ValueError, OverflowError):
                seconds = None
        except OverflowError:
            seconds = None
    if seconds is None:
        return settings["scheduler.pending_ttl"]
    return min(max(seconds, SHORTEST), LONGEST)


def marked(redis, settings: dict, project_id: int, now: float) -> int:
    """How many of the project's tasks are marked full (the spare candidates to read)."""

    def in_redis(client):
        return int(script(client, MARKED)(keys=[full_key(project_id)], args=[now]))

    count = either(redis, in_redis, lambda: book_of(settings).marked(project_id, now))
    return min(count, MOST_SPARE)


def hold(redis, settings, project_id, who, candidates, skip, want, complete, ttl, now):
    """The ids of the candidates handed out (held for `who`), or None to read again."""

    def in_redis(client):
        flat = [value for candidate in candidates for value in candidate]
        args = [TASK_PREFIX, who, now, ttl, skip, want, int(complete), *flat]
        ids = script(client, HOLD)(keys=[full_key(project_id)], args=args)
        return None if ids is None else [int(task_id) for task_id in ids]

    def in_memory():
        book = book_of(settings)
        return book.hold(project_id, who, candidates, skip, want, complete, ttl, now)

    return either(redis, in_redis, in_memory)


def release(redis, settings: dict, project_id: int, task_id: int, who: str) -> None:
    """`who`'s hand-out of the task lapses (they answered it)."""
    keys, args = _release_call(project_id, task_id, who, None, settings)
    book_of(settings).release(project_id, task_id, who, args[-1])
    attempt(redis, lambda client: script(client, RELEASE)(keys=keys, args=args))


def counting(scheduler: Scheduler) -> Scheduler:
    """The scheduler with the rule applied to what it returns, on both delivery paths, and
    its hand-outs released when answered (an AnswerGate)."""
    if scheduler.answers is not None:
        raise ValueError("a scheduler that counts pending hand-outs may not gate answers")
    lean = scheduler.lean
    if lean is not None:
        lean = LeanForm(_lean(lean.run, scheduler.most), carries=lean.carries, counts=True)
    return Scheduler(
        _select(scheduler.select, scheduler.most), lean, GATE, pending=True, most=scheduler.most
    )


def _wanted(options, most) -> int:
    return options.limit if most is None else min(options.limit, most)


def _skipped(offset: int) -> tuple[int, int]:
    """(rows skipped unjudged, candidates the judgement skips) for a request's offset."""
    judged = min(offset, MOST_SKIP)
    return offset - judged, judged


def _select(select, most):
    def pending_select(db, project, volunteer, options):
        want = _wanted(options, most)
        settings = options.settings
        ttl = ttl_of((project.info or {}).get("pending_ttl"), settings)
        # From the first candidate on: the offset counts those this volunteer may get.
        offset, skip = _skipped(options.offset)
        for read in range(READS):
            now = time.time()
            spare = marked(options.redis, settings, project.id, now) + skip
            if read:  # tasks filled since the marks were counted: read well past them
                spare = min(MOST_SPARE + skip, 4**read * (spare + want))
            tasks = select(db, project, volunteer, replace(options, offset=offset, spare=spare))
            complete = len(tasks) < options.limit + spare or read == READS - 1
            candidates = [(task.id, task.n_task_runs, task.n_answers) for task in tasks]
            args = (project.id, volunteer.key, candidates, skip, want, complete, ttl, now)
            kept = hold(options.redis, settings, *args)
            if kept is not None:
                kept = set(kept)
                return [task for task in tasks if task.id in kept]
        raise AssertionError("the last read is complete")  # pragma: no cover

    return pending_select


def _lean(run, most):
    """The lean form: its candidates read, then one Lua call that counts the request, judges
    and holds, and stamps (COUNT_HOLD_STAMP). Too few candidates read (tasks filled since this
    process last counted the marks): once more, reading past the marks the call returned,
    uncounted; then the application's path answers."""

    def pending_lean(store, project, participant, options):
        if options.redis is None:
            return None
        # The project's marks as this process's last call saw them (a hint: the Lua call says
        # when too few were read), else read now; SLACK more, for those made since.
        hint = ("pending marked", project.id)
        spare = options.hints.get(hint)
        if spare is None:
            spare = marked(options.redis, options.settings, project.id, time.time())
        spare = min(spare + SLACK, MOST_SPARE)
        # From the first candidate on: the offset counts those this volunteer may get.
        asked = options.offset
        offset, skip = _skipped(asked)
        want = _wanted(options, most)
        for read in range(LEAN_READS):
            now = time.time()
            options.spare, options.offset = spare + skip, offset
            try:
                rows = run(store, project, participant, options)
            finally:
                options.spare, options.offset = None, asked
            if rows is None:
                return None
            participant = store.admit(participant)
            # Set by the lean path once the caller is admitted (LeanForm.counts).
            counting = options.counting
            if participant is None or counting is None:
                return None
            project = store.project(project)
            ttl = ttl_of(getattr(project, "pending_ttl", None), options.settings)
            complete = len(rows) < options.limit + spare + skip
            flat = [
                value
                for row in rows
                for value in (row["id"], row["n_task_runs"], row["n_answers"])
            ]
            counter, expires, limit = counting.window
            # Counted once: the second call only judges, holds and stamps.
            window = (expires, limit) if read == 0 else ("", limit)
            judged = (TASK_PREFIX, participant.key, now, ttl, skip, want, int(complete))
            found = script(options.redis, COUNT_HOLD_STAMP)(
                keys=[counter, full_key(project.id)],
                args=[*window, *judged, *counting.stamps, *flat],
            )
            if read == 0:
                options.counted = int(found[0])
                if len(found) == 1:
                    return []  # over the limit: the application answers (429)
            marks = int(found[1])
            if int(found[2]):
                options.hints[hint] = min(marks, MOST_SPARE)
                kept = {int(task_id) for task_id in found[3]}
                for row in rows:
                    del row["n_task_runs"]
                return [row for row in rows if row["id"] in kept]
            spare = min(4 * (marks + want), MOST_SPARE)
        # Still too few: the application reads again, and will mark what it hands out.
        options.hints[hint] = min(marks + want, MOST_SPARE)
        return None

    return pending_lean


def _answered(db, redis, project, task_id, participant_key, n_task_runs, settings) -> None:
    after_commit(db, release, redis, settings, project.id, task_id, participant_key)


def _admits(db, redis, project, task_id, participant_key, settings) -> bool:
    return True


def _no_read(task_id, participant_key, now):
    return [], []


def _release_call(project_id, task_id, participant_key, runs, settings):
    return [task_key(task_id), full_key(project_id)], [participant_key, task_id, time.time()]


# What answering adds for a scheduler that counts pending hand-outs: the hand-out released once
# the answer is committed, on both paths (the lean path in its after-commit Redis call).
# The volunteer's hand-out of the task released; with the task's last one, its mark (a task
# without hand-outs is judged by its answers alone, and a completed one is read no more).
# KEYS: the task's hand-outs, the project's marks. ARGV: the volunteer, the task.
RELEASE_LUA = f"""
local function gate_release(keys, args)
  redis.call('ZREM', keys[2] .. ':by:' .. args[1], args[2])
  redis.call('ZREM', keys[1], args[1])
  redis.call('ZADD', keys[1] .. ':done', args[3], args[1])
  redis.call('EXPIRE', keys[1] .. ':done', {RELEASES_KEPT})
  if redis.call('ZCARD', keys[1]) == 0 then redis.call('ZREM', keys[2], args[2]) end
end
"""
RELEASE = RELEASE_LUA + "gate_release(KEYS, ARGV)"
GATE = AnswerGate(
    admits=_admits,
    answered=_answered,
    now=time.time,
    read_lua="local function gate_read() return false end\n",
    read_call=_no_read,
    live=lambda value, now: True,
    release_lua=RELEASE_LUA,
    release_call=_release_call,
    purge=lambda db: 0,
    forget=lambda db, participant_key: None,
)
