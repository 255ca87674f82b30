"""core.services.reservations over both stores: capacity, re-entrancy, expiry, release, races."""

import threading

import pytest
from sqlalchemy import select

from core.db import get_engine, get_session_factory
from core.models import TaskReservation
from core.services import reservations
from core.settings import load_settings
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

    reservations.release(db, redis, task.project_id, task.id, "user:1", TIMEOUT)
    db.commit()

    assert not reservations.holds(db, redis, task.id, "user:1", AT)
    assert reservations.held(db, redis, task.project_id, "user:1", AT) == []
    assert _reserve(db, redis, task, "user:2")


def test_release_is_forgotten_when_the_answer_is_rolled_back(db, redis):
    task = TaskFactory(n_answers=1)
    assert _reserve(db, redis, task, "user:1")

    db.execute(select(TaskReservation.task_id))
    reservations.release(db, redis, task.project_id, task.id, "user:1", TIMEOUT)
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
            return {task.id: 1}, {task.id: {"user:1"}}
        # Read before user:1's answer counted; the answer commits and is released meanwhile.
        reservations._redis_release(redis, task.project_id, task.id, "user:1", TIMEOUT)
        return {task.id: 2}, {}

    granted = reservations._redis_reserve(
        redis, counts, task.project_id, "user:2", [task.id], 1, TIMEOUT, AT
    )

    assert granted == [task.id] and len(reads) == 2


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


@pytest.mark.parametrize(
    ("sched", "default", "enabled", "expected"),
    [
        ("locked", "default", "default locked", True),
        ("locked", "default", "default", False),
        (None, "locked", "default locked", True),
        ("breadth_first", "locked", "default breadth_first locked", False),
    ],
)
def test_required_only_for_projects_served_by_locked(sched, default, enabled, expected):
    settings = load_settings(
        {"scheduler.default": default, "plugins.schedulers": enabled}, environ={}
    )
    project = type("Project", (), {"info": {"sched": sched} if sched else {}})()

    assert reservations.required(project, settings) is expected


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

    places, done = reservations._places_and_answers(db, [task.id, empty.id])

    assert places == {task.id: 1, empty.id: 2}
    assert done == {task.id: {f"user:{alice.id}", "ip:1.2.3.4"}}
