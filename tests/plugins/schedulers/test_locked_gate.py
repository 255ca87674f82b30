"""locked's AnswerGate: what core calls on both delivery paths, and its declared setting."""

import pytest
from sqlalchemy import select

from core.delivery import answer_scripts
from core.models import Project, TaskReservation
from core.plugins import get_plugin_manager, schedulers_of
from core.redis import script
from core.services import pending
from core.services.account_data import answer_gates
from core.services.task_run import _gate_of
from core.settings import DEFAULTS, load_settings
from plugins.schedulers import locked
from plugins.schedulers.locked import GATE, reservations
from tests.factories import ProjectFactory, TaskFactory

AT = 1_900_000_000.0
SETTINGS = {"scheduler.locked.timeout": 3600}


def _hold(db, task, participant, redis=None):
    granted = reservations.reserve(
        db, redis, task.project_id, participant, [task.id], 1, 3600, reservations.now()
    )
    db.commit()
    assert granted == [task.id]


def test_the_scheduler_declares_its_gate_and_its_setting():
    assert locked.crowdnest_schedulers()["locked"].answers is GATE
    assert locked.crowdnest_settings() == {"scheduler.locked.timeout": (3600, int)}
    assert "scheduler.locked.timeout" not in DEFAULTS


@pytest.mark.parametrize(
    ("sched", "default", "enabled", "gated"),
    [
        ("locked", "default", "default locked", True),
        ("locked", "default", "default", False),
        (None, "locked", "default locked", True),
        ("breadth_first", "locked", "default breadth_first locked", False),
    ],
)
def test_answers_are_gated_only_for_projects_served_by_locked(db, sched, default, enabled, gated):
    settings = load_settings(
        {"scheduler.default": default, "plugins.schedulers": enabled}, environ={}
    )
    schedulers = schedulers_of(get_plugin_manager(settings))
    project = ProjectFactory(info={"sched": sched} if sched else {})
    db.commit()

    gate = _gate_of(db, {"project_id": project.id}, schedulers, settings)

    assert (gate is GATE) is gated


def test_admits_only_the_holder_of_the_task(db):
    task = TaskFactory(n_answers=1)
    _hold(db, task, "user:1")
    project = db.get(Project, task.project_id)

    assert GATE.admits(db, None, project, task.id, "user:1", SETTINGS)
    assert not GATE.admits(db, None, project, task.id, "user:2", SETTINGS)
    assert not GATE.admits(db, None, project, str(task.id), "user:1", SETTINGS)
    assert not GATE.admits(db, None, project, True, "user:1", SETTINGS)


def test_answered_releases_the_hold(db):
    task = TaskFactory(n_answers=1)
    _hold(db, task, "user:1")
    project = db.get(Project, task.project_id)

    GATE.answered(db, None, project, task.id, "user:1", 1, SETTINGS)
    db.commit()

    assert not GATE.admits(db, None, project, task.id, "user:1", SETTINGS)


def test_purge_deletes_expired_reservations(db):
    task = TaskFactory(n_answers=2)
    _hold(db, task, "user:1")
    expired = {"task_id": task.id, "project_id": task.project_id, "expires": 1}
    db.add(TaskReservation(participant="ip:x", **expired))
    db.commit()

    assert GATE.purge(db) == 1
    db.commit()
    assert db.scalars(select(TaskReservation.participant)).all() == ["user:1"]


def test_the_lean_scripts_read_and_release_the_hold_in_core_calls(db, redis_client):
    task = TaskFactory(n_answers=1)
    _hold(db, task, "user:1", redis_client)
    count_and_read, delete_and_increment = (
        script(redis_client, source) for source in answer_scripts(GATE)
    )
    redis_client.set("stamp", "handed out")
    now = GATE.now()

    gate_keys, gate_args = GATE.read_call(task.id, "user:1", now)
    count, stamp, held = count_and_read(
        keys=["counter", "stamp", *gate_keys], args=[9_999_999_999, *gate_args]
    )
    other_keys, other_args = GATE.read_call(task.id, "user:2", now)
    *_, unheld = count_and_read(
        keys=["counter", "stamp", *other_keys], args=[9_999_999_999, *other_args]
    )

    assert (count, stamp) == (1, b"handed out")
    assert GATE.live(held, now) and not GATE.live(unheld, now)

    keys, args = GATE.release_call(task.project_id, task.id, "user:1", 1, SETTINGS)
    delete_and_increment(keys=["stamp", *keys, "generation"], args=[len(keys), *args])

    assert redis_client.get("stamp") is None and redis_client.get("generation") == b"1"
    assert not reservations.holds(None, redis_client, task.id, "user:1", now)
    assert reservations.held(None, redis_client, task.project_id, "user:1", now) == []


def test_the_scripts_without_a_gate_only_count_and_consume(redis_client):
    count_and_read, delete_and_increment = (
        script(redis_client, source) for source in answer_scripts(None)
    )
    redis_client.set("stamp", "handed out")

    assert count_and_read(keys=["counter", "stamp"], args=[9_999_999_999]) == [
        1,
        b"handed out",
        None,
    ]
    delete_and_increment(keys=["stamp", "generation"], args=[0])

    assert redis_client.get("stamp") is None and redis_client.get("generation") == b"1"


def test_forget_lets_go_of_a_deleted_accounts_reservations(db):
    task = TaskFactory(n_answers=2)
    _hold(db, task, "user:1")
    _hold(db, task, "user:2")

    GATE.forget(db, "user:1")
    db.commit()

    assert db.scalars(select(TaskReservation.participant)).all() == ["user:2"]


def test_account_deletion_asks_the_enabled_schedulers_gates():
    settings = load_settings({"plugins.schedulers": "default locked"}, environ={})
    without = load_settings({"plugins.schedulers": "default"}, environ={})

    # `default` counts pending hand-outs: its gate lets them go (core.services.pending).
    assert answer_gates(settings) == {GATE, pending.GATE}
    assert answer_gates(without) == {pending.GATE}
