"""runtime.gc_tuning: the worker's garbage collector is tuned only when asked."""

import gc

import pytest

from core import main


@pytest.fixture
def restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_gc_tuning_on_freezes_and_raises_threshold(database_url, restore_gc):
    main({"here": "."}, **{"sqlalchemy.url": database_url, "runtime.gc_tuning": "true"})

    assert gc.get_threshold()[0] == 50_000
    assert gc.get_freeze_count() > 0


def test_gc_tuning_off_leaves_the_collector_alone(database_url, restore_gc):
    gc.set_threshold(700, 10, 10)

    main({"here": "."}, **{"sqlalchemy.url": database_url})

    assert gc.get_threshold() == (700, 10, 10)
