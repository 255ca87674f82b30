"""The book of pending hand-outs judges the same way in Redis (Lua) and in the process
(`Book`, without Redis): the same requests, the same hand-outs."""

import random

from core.redis import script
from core.services import pending


def _redis_hold(client, project_id, who, candidates, skip, want, complete, ttl, now):
    flat = [value for candidate in candidates for value in candidate]
    args = [pending.TASK_PREFIX, who, now, ttl, skip, want, int(complete), *flat]
    ids = script(client, pending.HOLD)(keys=[pending.full_key(project_id)], args=args)
    return None if ids is None else [int(task_id) for task_id in ids]


def _redis_marked(client, project_id, now):
    return int(script(client, pending.MARKED)(keys=[pending.full_key(project_id)], args=[now]))


def test_redis_and_the_process_book_hand_out_the_same(redis_client):
    rng = random.Random(25)
    book = pending.Book()
    runs = {task: rng.randrange(3) for task in range(1, 13)}
    needed = {task: rng.randrange(1, 4) for task in runs}
    volunteers = [f"user:{n}" for n in range(8)]
    now = 1_000_000.0
    decisions = 0
    for _ in range(400):
        now += rng.choice([0.0, 0.5, 3.0])
        if rng.random() < 0.2:
            task, who = rng.choice(list(runs)), rng.choice(volunteers)
            runs[task] += 1
            book.release(7, task, who)
            keys, args = pending._release_call(7, task, who, None, {})
            script(redis_client, pending.RELEASE)(keys=keys, args=args)
            continue
        order = sorted(runs, key=lambda task: (rng.random() < 0.1, task))
        candidates = [(task, runs[task], needed[task]) for task in order[: rng.randrange(1, 12)]]
        who, skip, want = rng.choice(volunteers), rng.choice([0, 0, 1, 2]), rng.randrange(1, 4)
        request = (7, who, candidates, skip, want, rng.random() < 0.5)
        ttl = rng.choice([2, 10])
        in_process = book.hold(*request, ttl, now)
        in_redis = _redis_hold(redis_client, *request, ttl, now)
        assert in_process == in_redis, request
        assert book.marked(7, now) == _redis_marked(redis_client, 7, now)
        decisions += in_process is not None
    assert decisions > 100  # most requests were judged, not sent back to read more


def test_the_rule_counts_answers_and_other_volunteers_hand_outs():
    assert pending.pending_open(runs=1, others=0, needed=2)
    assert not pending.pending_open(runs=1, others=1, needed=2)
    assert not pending.pending_open(runs=2, others=0, needed=2)


def test_a_volunteers_own_hand_out_does_not_count_against_them():
    book = pending.Book()
    candidates = [(1, 0, 1), (2, 0, 1)]
    assert book.hold(1, "a", candidates, 0, 1, True, 60, 0.0) == [1]
    assert book.hold(1, "a", candidates, 0, 1, True, 60, 1.0) == [1]
    assert book.hold(1, "b", candidates, 0, 1, True, 60, 1.0) == [2]
    # Every task full for c: without `complete`, read again; with it, the first full one.
    assert book.hold(1, "c", candidates, 0, 1, False, 60, 1.0) is None
    assert book.hold(1, "c", candidates, 0, 1, True, 60, 1.0) == [1]
    assert book.marked(1, 1.0) == 2
    assert book.marked(1, 61.0) == 0


def test_an_offset_counts_the_tasks_the_volunteer_may_get():
    """pybossa.js asks for the next task with offset=1 while it shows the first: it must get
    another task than the one it holds, whatever tasks others filled before it."""
    book = pending.Book()
    candidates = [(1, 0, 1), (2, 0, 1), (3, 0, 1)]
    assert book.hold(1, "a", candidates, 0, 1, True, 60, 0.0) == [1]
    assert book.hold(1, "b", candidates, 0, 1, True, 60, 0.0) == [2]
    assert book.hold(1, "b", candidates, 1, 1, True, 60, 0.0) == [3]


def test_one_volunteer_holds_at_most_most_held_tasks_in_redis_and_in_the_book(redis_client):
    """Past MOST_HELD, tasks are handed to the volunteer but not held: another volunteer may
    get them. Released holds make room again."""
    most = pending.MOST_HELD
    candidates = [(task, 0, 1) for task in range(1, most + 11)]
    book = pending.Book()
    for hold in (
        lambda *request: book.hold(*request),
        lambda *request: _redis_hold(redis_client, *request),
    ):
        assert hold(3, "hoarder", candidates, 0, most, True, 60, 0.0) == list(range(1, most + 1))
        assert hold(3, "hoarder", candidates, most, 10, True, 60, 0.0) == [
            most + 1 + n for n in range(10)
        ]
        # The first MOST_HELD are full (n_answers 1); the ten after them are not held.
        assert hold(3, "other", candidates, 0, 1, True, 60, 0.0) == [most + 1]
    keys, args = pending._release_call(3, 1, "hoarder", None, {})
    script(redis_client, pending.RELEASE)(keys=keys, args=args)
    book.release(3, 1, "hoarder")
    for hold in (
        lambda *request: book.hold(*request),
        lambda *request: _redis_hold(redis_client, *request),
    ):
        # Task 1 released: room for one more hold, taken by the next task handed out (the
        # hoarder's 101st task they may get: task 1 again, their 99 held, then past "other"'s).
        assert hold(3, "hoarder", candidates, most + 1, 1, True, 60, 0.0) == [most + 3]
        assert hold(3, "third", candidates, 0, 2, True, 60, 0.0) == [1, most + 2]
