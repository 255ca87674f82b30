"""core.jobs: after-commit enqueueing, in-process runs with retries, RQ and the worker command."""

import threading
from types import SimpleNamespace

import pytest
import rq
import transaction

from core import jobs
from core.cli import main
from core.redis import get_redis
from core.settings import load_settings


def inline_settings(**overrides) -> dict:
    return load_settings({"redis.url": "", "brand": "Inline", **overrides}, environ={})


def request_with(settings, manager):
    """What enqueue needs of a request: its registry's settings and its transaction manager."""
    return SimpleNamespace(registry=SimpleNamespace(settings=settings), tm=manager)


# Jobs run by RQ must be importable: they report through Redis, which every process shares.


def note_brand(settings, key: str, suffix: str) -> None:
    get_redis(settings["redis.url"]).rpush(key, f"{settings['brand']}{suffix}")


def fail_once(settings, key: str) -> None:
    if get_redis(settings["redis.url"]).incr(key) == 1:
        raise RuntimeError("first run fails")


def test_enqueue_with_settings_runs_the_job_at_once_with_the_settings_first():
    calls = []

    jobs.enqueue(
        inline_settings(), lambda settings, a, b=0: calls.append((settings["brand"], a, b)), 1, b=2
    )

    assert calls == [("Inline", 1, 2)]


def test_a_request_job_waits_for_the_commit():
    manager, calls = transaction.TransactionManager(explicit=True), []
    request = request_with(inline_settings(), manager)

    manager.begin()
    jobs.enqueue(request, lambda settings, value: calls.append(value), "sent")
    assert calls == []
    manager.commit()

    assert calls == ["sent"]


def test_a_rolled_back_transaction_enqueues_nothing():
    manager, calls = transaction.TransactionManager(explicit=True), []
    request = request_with(inline_settings(), manager)

    manager.begin()
    jobs.enqueue(request, lambda settings, value: calls.append(value), "never")
    manager.abort()
    manager.begin()
    manager.commit()

    assert calls == []


def test_an_inline_job_is_retried_as_its_retry_says_then_succeeds():
    runs = []

    def flaky(settings):
        runs.append(len(runs) + 1)
        if len(runs) < 3:
            raise RuntimeError("not yet")

    jobs.enqueue(inline_settings(), flaky, retry=jobs.Retry(max=4, interval=0))

    assert runs == [1, 2, 3]


def test_an_inline_job_failing_for_good_is_logged_not_raised(caplog):
    runs = []

    def broken(settings):
        runs.append(1)
        raise RuntimeError("receiver down")

    jobs.enqueue(inline_settings(), broken, retry=jobs.Retry(max=2, interval=0))

    assert len(runs) == 3
    assert "failed for good" in caplog.text


def test_thread_mode_runs_the_job_outside_the_calling_thread():
    done, ran_in = threading.Event(), []

    def job(settings):
        ran_in.append(threading.current_thread().name)
        done.set()

    jobs.enqueue(inline_settings(**{"jobs.inline": "thread"}), job)

    assert done.wait(10)
    assert ran_in == ["job-job"]


def test_the_database_helper_commits_on_success_and_rolls_back_on_error(database_url, db):
    from core.models import Category

    settings = inline_settings(**{"sqlalchemy.url": database_url})
    with jobs.database(settings) as session:
        session.add(Category(name="Kept", short_name="kept", description="d"))
    with pytest.raises(RuntimeError), jobs.database(settings) as session:
        session.add(Category(name="Lost", short_name="lost", description="d"))
        raise RuntimeError("boom")

    names = {category.short_name for category in db.query(Category)}
    assert names == {"kept"}


# --- RQ ----------------------------------------------------------------------------------------


@pytest.fixture
def rq_settings(redis_client, redis_url):
    return load_settings({"redis.url": redis_url, "brand": "Worker"}, environ={})


def test_rq_jobs_wait_in_redis_until_a_worker_runs_them_with_its_settings(
    rq_settings, redis_client
):
    jobs.enqueue({**rq_settings, "brand": "Web"}, note_brand, "notes", "!", queue="low")

    assert redis_client.lrange("notes", 0, -1) == []
    assert rq.Queue("low", connection=redis_client).count == 1
    worker = jobs.SimpleWorker(["low"], connection=redis_client, settings=rq_settings)
    worker.work(burst=True)

    assert redis_client.lrange("notes", 0, -1) == [b"Worker!"]


def test_rq_retries_a_failing_job(rq_settings, redis_client):
    jobs.enqueue(rq_settings, fail_once, "runs", retry=jobs.Retry(max=2, interval=0))

    jobs.SimpleWorker(["default"], connection=redis_client, settings=rq_settings).work(burst=True)

    assert redis_client.get("runs") == b"2"


def test_worker_command_serves_the_queues_in_burst_mode(
    tmp_path, rq_settings, redis_client, redis_url, capsys
):
    ini = tmp_path / "worker.ini"
    ini.write_text(f"[app:main]\nuse = egg:crowdnest\nredis.url = {redis_url}\nbrand = Command\n")
    jobs.enqueue(rq_settings, note_brand, "notes", "?", queue="default")

    code = main(["-c", str(ini), "worker", "--burst", "--simple"])

    assert code == 0
    assert "serving queues high, default, low" in capsys.readouterr().out
    assert redis_client.lrange("notes", 0, -1) == [b"Command?"]


def note_plugin_setting(settings, key):
    redis_client_of(settings).rpush(key, str(settings["webhooks.attempts"]))


def redis_client_of(settings):
    import redis

    return redis.Redis.from_url(settings["redis.url"])


def test_worker_jobs_read_the_enabled_plugins_settings(
    tmp_path, rq_settings, redis_client, redis_url
):
    ini = tmp_path / "worker.ini"
    ini.write_text(
        f"[app:main]\nuse = egg:crowdnest\nredis.url = {redis_url}\nplugins.webhooks = http\n"
        "webhooks.attempts = 9\n"
    )
    jobs.enqueue(rq_settings, note_plugin_setting, "attempts", queue="default")

    code = main(["-c", str(ini), "worker", "--burst", "--simple"])

    assert code == 0
    assert redis_client.lrange("attempts", 0, -1) == [b"9"]


def test_worker_command_without_redis_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CROWDNEST_REDIS_URL", raising=False)
    ini = tmp_path / "worker.ini"
    ini.write_text("[app:main]\nuse = egg:crowdnest\nredis.url =\n")

    code = main(["-c", str(ini), "worker", "--burst"])

    assert code == 1
    assert "the worker needs redis.url" in capsys.readouterr().err
