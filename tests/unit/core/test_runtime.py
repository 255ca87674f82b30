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


def test_several_workers_without_redis_are_warned_of_and_refused_in_production():
    from types import SimpleNamespace

    from core.runtime import check_workers

    def registry(redis, environment):
        return SimpleNamespace(get={"redis": redis}.get, settings={"environment": environment})

    assert check_workers(1, registry(None, "production")) is None
    assert check_workers(4, registry(object(), "production")) is None
    assert "4 workers without Redis" in check_workers(4, registry(None, "development"))
    with pytest.raises(SystemExit, match="refuses to start: 2 workers without Redis"):
        check_workers(2, registry(None, "production"))


def test_gunicorn_with_two_workers_and_no_redis_says_so(tmp_path):
    """The real gunicorn, its configuration file and development.ini's settings."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "CROWDNEST_SQLALCHEMY_URL": f"sqlite:///{tmp_path}/w.sqlite",
        "CROWDNEST_REDIS_URL": "",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", str(root / "gunicorn.conf.py")]
    command += ["--paste", str(root / "development.ini"), "-w", "2", "-b", "127.0.0.1:0"]
    server = subprocess.Popen(command, cwd=root, env=env, stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        deadline = time.monotonic() + 60
        while "workers without Redis" not in seen and time.monotonic() < deadline:
            line = server.stderr.readline()
            if not line and server.poll() is not None:
                break
            seen += line
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "2 workers without Redis" in seen
