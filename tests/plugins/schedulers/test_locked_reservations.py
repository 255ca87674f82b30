"""locked's reservations over both stores: capacity, re-entrancy, expiry, release, races."""

import threading

import orjson
import pytest
from sqlalchemy import select

from core.db import get_engine, get_session_factory
from core.models import TaskReservation, TaskRun
from plugins.schedulers.locked import reservations
from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory, UserFactory

AT = 1_900_000_000.0
TIMEOUT = 3600


@pytest.fixture(params=["database", "redis"])
def redis(request):
    """None for the database store, else a Redis client on an emptied test database."""
    if request.param == "database":
        return None
    return request.getfixturevalue("redis_client")


def _reserve(db, redis, task, participant, at=AT, want=1):
    granted = reservations.reserve(
        db, redis, task.project_id, participant, [task.id], want, TIMEOUT, at
    )
    db.commit()
    return granted == [task.id]


def test_places_are_n_answers_minus_answers_given(db, redis):
    task = TaskFactory(n_answers=3, n_task_runs=1)

    granted = [_reserve(db, redis, task, f"user:{n}") for n in range(3)]

    assert granted == [True, True, False]


def test_holder_gets_its_reservation_again_when_full(db, redis):
    task = TaskFactory(n_answers=1)
    assert _reserve(db, redis, task, "user:1")
    assert not _reserve(db, redis, task, "user:2")

    assert _reserve(db, redis, task, "user:1", at=AT + 10)
    assert reservations.holds(db, redis, task.id, "user:1", AT + TIMEOUT + 5)


def test_expired_reservations_free_their_place(db, redis):
    task = TaskFactory(n_answers=1)
    assert _reserve(db, redis, task, "user:1")

    assert _reserve(db, redis, task, "user:2", at=AT + TIMEOUT)
    assert not reservations.holds(db, redis, task.id, "user:1", AT + TIMEOUT)


def test_reserve_takes_tasks_in_order_up_to_want(db, redis):
    project = ProjectFactory()
    full, *tasks = (TaskFactory(project=project, n_answers=1) for _ in range(4))
    assert _reserve(db, redis, full, "user:9")

    ids = [full.id] + [task.id for task in reversed(tasks)]
    granted = reservations.reserve(db, redis, project.id, "user:1", ids, 2, TIMEOUT, AT)
    db.commit()

    assert granted == [tasks[2].id, tasks[1].id]
    assert sorted(reservations.held(db, redis, project.id, "user:1", AT)) == sorted(granted)
    assert reservations.held(db, redis, project.id, "user:1", AT + TIMEOUT) == []


def test_release_frees_the_place_once_committed(db, redis):
    task = TaskFactory(n_answers=1)
    assert _reserve(db, redis, task, "user:1")

    reservations.release(db, redis, task.project_id, task.id, "user:1", TIMEOUT, 0)
    db.commit()

    assert not reservations.holds(db, redis, task.id, "user:1", AT)
    assert reservations.held(db, redis, task.project_id, "user:1", AT) == []
    assert _reserve(db, redis, task, "user:2")


def test_release_is_forgotten_when_the_answer_is_rolled_back(db, redis):
    task = TaskFactory(n_answers=1)
    assert _reserve(db, redis, task, "user:1")

    db.execute(select(TaskReservation.task_id))
    reservations.release(db, redis, task.project_id, task.id, "user:1", TIMEOUT, 1)
    db.rollback()
    db.commit()

    assert reservations.holds(db, redis, task.id, "user:1", AT)


def test_redis_refuses_places_read_before_an_answer_was_released(db, redis):
    if redis is None:
        pytest.skip("the database store reads places under a row lock")
    task = TaskFactory(n_answers=2)
    assert _reserve(db, redis, task, "user:1")
    reads = []

    def counts(task_ids):
        reads.append(task_ids)
        if len(reads) > 1:
            return {task.id: (1, 1, {"user:1"})}
        # Read before user:1's answer counted; the answer commits (the task's first run) and
        # is released before the reservation is made.
        reservations.release_committed(redis, task.project_id, task.id, "user:1", TIMEOUT, 1)
        return {task.id: (2, 0, set())}

    granted = reservations._redis_reserve(
        redis, counts, task.project_id, "user:2", [task.id], 1, TIMEOUT, AT
    )

    assert granted == [task.id] and len(reads) == 2


def testrelease_committed_keeps_the_highest_run_count(redis_client):
    # Two answers commit (counts 1 then 2); their releases arrive in the other order.
    redis = redis_client
    for runs in (2, 1):
        reservations.release_committed(redis, 7, 70, f"user:{runs}", TIMEOUT, runs)
    read = {70: (1, 1, {"user:1"})}  # a read from between the two commits

    assert reservations.reserve_read(redis, 7, "user:3", read, 1, TIMEOUT, AT)[:3] == (
        [],
        [70],
        [],
    )
    read = {70: (0, 2, {"user:1", "user:2"})}
    assert reservations.reserve_read(redis, 7, "user:3", read, 1, TIMEOUT, AT)[:3] == ([], [], [])


def test_redis_held_first_grants_held_tasks_first_or_names_the_missing(redis_client):
    redis = redis_client
    free = {task_id: (1, 0, set()) for task_id in (1, 2, 3)}
    assert reservations.reserve_read(redis, 7, "user:1", {3: free[3]}, 1, TIMEOUT, AT)[0] == [3]

    # Held 3 is granted before 1 and 2, whatever the order given.
    found = reservations.reserve_read(redis, 7, "user:1", free, 2, TIMEOUT, AT, held_first=True)
    assert found[:3] == ([3, 1], [], []) and not found.redo
    # A held task not among those given: nothing granted, the missing ones named.
    found = reservations.reserve_read(
        redis, 7, "user:1", {2: free[2]}, 1, TIMEOUT, AT, held_first=True
    )
    assert found[:3] == ([], [], [1, 3]) and found.redo
    # Expired holds are neither granted first nor missing.
    later = AT + TIMEOUT + 1
    found = reservations.reserve_read(
        redis, 7, "user:1", {2: free[2]}, 1, TIMEOUT, later, held_first=True
    )
    assert found[:3] == ([2], [], []) and not found.redo


def test_concurrent_hand_outs_never_exceed_the_places(database_url, db, redis):
    task = TaskFactory(n_answers=3)
    engine = get_engine({"sqlalchemy.url": database_url})
    factory = get_session_factory(engine)
    granted, barrier = [], threading.Barrier(12)

    def volunteer(n):
        session = factory()
        barrier.wait()
        try:
            if reservations.reserve(
                session, redis, task.project_id, f"user:{n}", [task.id], 1, TIMEOUT, AT
            ):
                granted.append(n)
            session.commit()
        finally:
            session.close()

    threads = [threading.Thread(target=volunteer, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()

    assert len(granted) == 3


def test_purge_expired_deletes_only_past_database_reservations(db):
    old, new = TaskFactory(), TaskFactory()
    _reserve(db, None, old, "user:1", at=AT - TIMEOUT)
    _reserve(db, None, new, "user:2")

    assert reservations.purge_expired(db, at=AT) == 1
    db.commit()
    assert db.scalars(select(TaskReservation.participant)).all() == ["user:2"]


def test_holds_of_volunteers_who_already_answered_do_not_count(db, redis):
    # A worker died after storing alice's answer and before releasing her hold.
    task = TaskFactory(n_answers=2)
    alice, bob = UserFactory(), UserFactory()
    assert _reserve(db, redis, task, f"user:{alice.id}")
    TaskRunFactory(task=task, user=alice)
    db.expire_all()

    granted = _reserve(db, redis, task, f"user:{bob.id}")

    assert granted
    assert not _reserve(db, redis, task, "user:999999")


def test_places_and_answers_are_read_together(db):
    # One statement, one snapshot: an answer is either in both or in neither, so ignoring the
    # hold of a volunteer whose answer is stored never frees the place that answer used.
    task, empty = TaskFactory(n_answers=3), TaskFactory(n_answers=2)
    alice = UserFactory()
    TaskRunFactory(task=task, user=alice)
    TaskRunFactory(task=task, user=None, user_ip="1.2.3.4")
    db.commit()

    found = reservations._places_and_answers(db, [task.id, empty.id])

    assert found == {
        task.id: (1, 2, {f"user:{alice.id}", "ip:1.2.3.4"}),
        empty.id: (2, 0, set()),
    }


def test_the_sql_participant_key_is_the_python_rule(db):
    task = TaskFactory(n_answers=5)
    TaskRunFactory(task=task, user=UserFactory())
    TaskRunFactory(task=task, user=None, user_ip="1.2.3.4")
    TaskRunFactory(task=task, user=None, user_ip="5.6.7.8", external_uid="partner-7")
    TaskRunFactory(task=task, user=None, user_ip="9.9.9.9", external_uid="")
    db.commit()
    rows = db.execute(
        select(reservations.participant_key_of_run(), *reservations.ANSWERER).where(
            TaskRun.task_id == task.id
        )
    ).all()

    assert [key for key, *_ in rows] == [reservations.participant_key(*who) for _, *who in rows]
    assert len({key.split(":")[0] for key, *_ in rows}) == 3
    listed = db.scalar(select(reservations.answerers_of_task(task.id)))
    assert set(orjson.loads(listed)) == {key for key, *_ in rows}
    nobody = db.scalar(select(reservations.answerers_of_task(-1)))
    assert nobody in (None, "[]")


def test_a_hold_dropped_for_a_stored_answer_makes_older_reads_stale(redis_client):
    # user:1's answer committed (the task's first run) and its worker died before releasing.
    redis = redis_client
    assert reservations.reserve_read(redis, 7, "user:1", {70: (2, 0, set())}, 1, TIMEOUT, AT)[0]
    newer = {70: (1, 1, {"user:1"})}  # a read that sees the answer drops the hold
    assert reservations.reserve_read(redis, 7, "user:2", newer, 1, TIMEOUT, AT)[:3] == (
        [70],
        [],
        [],
    )
    # A read from before the answer would count user:1's place as free: refused as stale.
    older = {70: (2, 0, set())}
    assert reservations.reserve_read(redis, 7, "user:3", older, 1, TIMEOUT, AT)[:3] == (
        [],
        [70],
        [],
    )


def _full_prefix(redis, at) -> int:
    """Project 7's full prefix at time `at`, as a call that reserves nothing leaves it."""
    return reservations.reserve_read(redis, 7, "user:0", {}, 0, TIMEOUT, at).prefix


def test_the_full_prefix_grows_over_full_tasks_and_ends_with_their_first_hold(redis_client):
    redis = redis_client
    one_place = {task_id: (1, 0, set()) for task_id in (1, 2, 3)}
    # user:1 holds task 1 for 5 seconds (from AT + 1), user:2 task 2 for an hour.
    reservations.reserve_read(redis, 7, "user:1", {1: one_place[1]}, 1, 5, AT + 1)
    reservations.reserve_read(redis, 7, "user:2", {2: one_place[2]}, 1, TIMEOUT, AT + 2)
    assert _full_prefix(redis, AT + 3) == -1

    found = reservations.reserve_read(
        redis, 7, "user:9", one_place, 1, TIMEOUT, AT + 3, prefix=(-1, 3)
    )
    assert found[:3] == ([3], [], []) and found.prefix == 2
    # 1 and 2 were full when read (3 was filled by this very call: found full next time).
    assert _full_prefix(redis, AT + 3) == 2
    # Extended only from a prefix still standing.
    reservations.reserve_read(
        redis, 7, "user:8", {3: one_place[3]}, 1, TIMEOUT, AT + 3, prefix=(2, 1)
    )
    assert _full_prefix(redis, AT + 5.9) == 3
    # It ends when the first hold in it expires (user:1's, on task 1, at AT + 6).
    assert _full_prefix(redis, AT + 6) == -1
    reservations.reserve_read(
        redis, 7, "user:7", {3: one_place[3]}, 1, TIMEOUT, AT + 6, prefix=(2, 1)
    )
    assert _full_prefix(redis, AT + 6) == -1


def test_the_full_prefix_lasts_prefix_seconds_at_most(redis_client):
    redis = redis_client
    reservations.reserve_read(redis, 7, "user:1", {1: (1, 0, set())}, 1, TIMEOUT, AT)
    reservations.reserve_read(
        redis, 7, "user:2", {1: (1, 0, set())}, 1, TIMEOUT, AT, prefix=(-1, 1)
    )
    assert _full_prefix(redis, AT) == 1
    assert _full_prefix(redis, AT + reservations.PREFIX_SECONDS) == -1


def test_a_read_past_where_the_prefix_reaches_grants_nothing_and_names_the_prefix(redis_client):
    redis = redis_client
    one_place = {task_id: (1, 0, set()) for task_id in (1, 2, 3)}
    reservations.reserve_read(redis, 7, "user:1", {1: one_place[1]}, 1, TIMEOUT, AT)
    reservations.reserve_read(
        redis, 7, "user:2", {1: one_place[1], 2: one_place[2]}, 1, TIMEOUT, AT, prefix=(-1, 2)
    )

    def read_after(after):
        return reservations.reserve_read(
            redis,
            7,
            "user:3",
            {3: one_place[3]},
            1,
            TIMEOUT,
            AT,
            held_first=True,
            prefix=(after, 1),
            behind=True,
        )

    # The prefix reaches task 1 (user:1's), not 2: a read after 2 may have passed places by.
    behind = read_after(2)
    assert behind.redo and behind.granted == [] and behind.prefix == 1
    # A read after 1 is not behind it: granted.
    found = read_after(1)
    assert found.granted == [3] and not found.redo


def test_a_counted_reservation_counts_first_and_refuses_over_the_limit(redis_client):
    redis = redis_client
    free = {task_id: (1, 0, set()) for task_id in (1, 2, 3)}
    window = ("test:counter", int(AT) + 60, 2)  # two requests allowed; task 3 stays free
    counted = [
        reservations.reserve_read(
            redis, 7, f"user:{n}", free, 1, TIMEOUT, AT, held_first=True, counting=window
        )
        for n in (1, 2, 3)
    ]

    assert [(found.count, found.granted) for found in counted] == [(1, [1]), (2, [2]), (3, [])]
    assert counted[2].redo
    # Nothing reserved for the refused one: user:3 holds nothing.
    assert reservations.held(None, redis, 7, "user:3", AT) == []


def test_a_hold_checked_for_an_answer_outlasts_the_answer(db, redis):
    # alice's hold ends in 5 seconds; her answer is checked now and takes a while to store.
    task = TaskFactory(n_answers=1)
    granted = reservations.reserve(db, redis, task.project_id, "user:1", [task.id], 1, 5, AT)
    db.commit()
    assert granted == [task.id]

    assert reservations.kept(db, redis, task.id, "user:1", AT + 1)
    # Past the reservation's own end, her place is still hers (Redis: kept HOLD_GRACE seconds;
    # the database store has the answer's row lock instead, and keeps the hold as it was).
    later = AT + 6
    if redis is not None:
        assert reservations.holds(db, redis, task.id, "user:1", later)
        assert not _reserve(db, redis, task, "user:2", at=later)
    assert not reservations.kept(db, redis, task.id, "user:3", AT + 1)
    assert not reservations.kept(db, redis, task.id, "user:1", AT + reservations.HOLD_GRACE + 2)


def test_answerers_are_read_by_the_one_participant_key(db, monkeypatch):
    """The SQL reading who answered a task is core.services.answers.participant_key's, made
    from its one definition: changed there, it changes here."""
    from core.services import answers

    project = ProjectFactory()
    task = TaskFactory(project=project)
    TaskRunFactory(task=task, user=None, user_ip="p", external_uid=None)
    db.commit()
    read = select(reservations.participant_key_of_run()).where(TaskRun.task_id == task.id)
    assert db.scalar(read) == answers.participant_key(None, None, "p") == "ip:p"
    changed = (("external_uid", "x:", True), ("user_id", "u:", False), ("user_ip", "a:", None))
    monkeypatch.setattr(answers, "PARTICIPANT_KEYS", changed)
    read = select(reservations.participant_key_of_run()).where(TaskRun.task_id == task.id)
    assert db.scalar(read) == answers.participant_key(None, None, "p") == "a:p"
