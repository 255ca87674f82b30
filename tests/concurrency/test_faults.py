"""Fault tests (decision 19): a crowd keeps contributing while Redis dies and PostgreSQL drops
every connection, on `gunicorn --paste production.ini -w 2` with a Redis server of the test's
own. Afterwards the database must show every acknowledged answer stored, none twice.

(a) Redis killed mid-run (no persistence: it comes back empty), started again a few seconds
later: volunteers keep getting tasks and saving answers, no 500, a few log lines; Redis is used
again without a restart. (b) Every session of the app's database terminated mid-run (what a
PostgreSQL restart does to the pools): errors at most briefly (503, never 500), recovery by
itself. (c) A worker killed: test_volunteers.py::test_a_crowd_survives_a_killed_worker.
"""

import os
import shlex
import shutil
import subprocess
import threading
import time
from collections import Counter

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from tests.concurrency import test_volunteers
from tests.concurrency.crowd import Crowd, Gunicorn
from tests.concurrency.test_volunteers import stored
from tests.redis_server import RedisServer

pytestmark = pytest.mark.concurrency

VOLUNTEERS = 16
# Seconds a volunteer takes to answer a task: the run lasts long enough to break things in it.
THINK = 0.05
RUN_SECONDS = 60
# Tasks (of 3 answers each) of a fault test's project: several seconds of work for the crowd,
# outlasting a fault. Since pending hand-outs (decision 25) the crowd no longer over-answers
# (60 tasks took 850 answers before, 316 after, all done while Redis was down): 300.
TASKS = 300


def seed_project(engine, short_name: str, scheduler: str) -> int:
    """test_volunteers' project, with TASKS tasks."""
    return test_volunteers.seed_project(engine, short_name, scheduler, TASKS)


@pytest.fixture(scope="module")
def fault_redis():
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    server = RedisServer()
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def fault_server(concurrency_db_url, fault_redis, tmp_path_factory):
    overrides = {
        "CROWDNEST_SQLALCHEMY_URL": concurrency_db_url,
        "CROWDNEST_REDIS_URL": fault_redis.url,
        "CROWDNEST_RATELIMIT_LIMIT": "100000000",
        "CROWDNEST_SESSION_SECRET": "fault-test-secret-of-at-least-32-bytes!",
        "CROWDNEST_IP_PSEUDONYM_KEY": "fault-test-pseudonym-key-of-32-bytes-at-least",
        "CROWDNEST_SITE_URL": "http://127.0.0.1",
        "CROWDNEST_REDIS_PAUSE": "1",
    }
    log_path = str(tmp_path_factory.mktemp("gunicorn-faults") / "gunicorn.log")
    gunicorn = Gunicorn(overrides, 2, log_path)
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


class PatientCrowd(Crowd):
    """Volunteers who come back: after a 503 they wait and ask again; an answer refused (its
    hand-out forgotten with Redis's data) sends them back to newtask. Statuses by phase."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.phase = "before"
        self.by_phase: dict[str, Counter] = {}
        # (task id, user id) of answers not acknowledged (refused or failed): possibly stored.
        self.unacknowledged: list = []

    def _count(self, what: str, status: int) -> None:
        with self._lock:
            self.by_phase.setdefault(self.phase, Counter())[f"{what} {status}"] += 1

    def _contribute(self, volunteer) -> None:
        newtask = f"/api/project/{self.project_id}/newtask?api_key={volunteer.api_key}"
        while time.monotonic() < self.deadline:
            reply = self._call("GET", newtask)
            if reply is None:
                break
            status, task, _ = reply
            self._count("newtask", status)
            if status == 503:
                time.sleep(0.2)
                continue
            if status != 200 or not isinstance(task, dict):
                self.tally.unexpected.append(("newtask", status, task))
                break
            if not task:
                self.tally.finished += 1
                return
            time.sleep(THINK)
            self._answer(volunteer, task["id"])
        with self._lock:
            self.tally.gave_up += 1

    def _answer(self, volunteer, task_id: int) -> bool:
        body = {"project_id": self.project_id, "task_id": task_id, "info": {"t": task_id}}
        for _ in range(20):
            reply = self._call("POST", f"/api/taskrun?api_key={volunteer.api_key}", body)
            if reply is None:
                self.tally.unconfirmed.append((task_id, volunteer.user_id))
                return False
            status, run, attempts = reply
            self._count("taskrun", status)
            if attempts > 1:
                self.tally.unconfirmed.append((task_id, volunteer.user_id))
            if status == 200:
                self.tally.acknowledged.append((run["id"], run["task_id"], run["user_id"]))
                return True
            self.unacknowledged.append((task_id, volunteer.user_id))
            if status == 503:
                time.sleep(0.2)
                continue
            if status == 403:  # its hand-out is gone (Redis came back empty): ask again
                self.tally.retried_refusals.append((task_id, volunteer.user_id, run))
                return False
            self.tally.unexpected.append(("taskrun", status, run))
            return False
        return False


def _run(server, volunteers, project_id, fault) -> PatientCrowd:
    """The crowd on the project, `fault(crowd)` run alongside it."""
    crowd = PatientCrowd(
        server.port, project_id, volunteers[:VOLUNTEERS], time.monotonic() + RUN_SECONDS
    )
    breaker = threading.Thread(target=fault, args=(crowd,), daemon=True)
    breaker.start()
    crowd.run()
    breaker.join(30)
    return crowd


def _wait_for_answers(crowd, count: int) -> None:
    while len(crowd.tally.acknowledged) < count and time.monotonic() < crowd.deadline:
        time.sleep(0.01)


def _problems(engine, project_id, crowd) -> list[str]:
    runs, tasks, _, _ = stored(engine, project_id)
    found = []
    pairs = Counter((run.task_id, run.user_id) for run in runs)
    found += [f"user {u} answered task {t} {n} times" for (t, u), n in pairs.items() if n > 1]
    stored_runs = {run.id: (run.task_id, run.user_id) for run in runs}
    for run_id, task_id, user_id in crowd.tally.acknowledged:
        if stored_runs.get(run_id) != (task_id, user_id):
            found.append(f"acknowledged run {run_id} ({task_id}, {user_id}) is lost")
    acknowledged = {run_id for run_id, _, _ in crowd.tally.acknowledged}
    maybe = set(crowd.unacknowledged) | set(crowd.tally.unconfirmed)
    for run_id, owner in stored_runs.items():
        if run_id not in acknowledged and owner not in maybe:
            found.append(f"run {run_id} {owner} stored but never answered for")
    for task in tasks:
        count = sum(1 for owner in stored_runs.values() if owner[0] == task.id)
        if task.n_task_runs != count:
            found.append(f"task {task.id}: n_task_runs {task.n_task_runs}, real count {count}")
    server_errors = {
        phase: {k: n for k, n in counts.items() if k.endswith(" 500")}
        for phase, counts in crowd.by_phase.items()
    }
    if any(server_errors.values()):
        found.append(f"500s: {server_errors}")
    if crowd.tally.unexpected:
        found.append(f"unexpected responses: {crowd.tally.unexpected[:5]}")
    if crowd.tally.gave_up:
        found.append(f"{crowd.tally.gave_up} volunteers stopped before the end")
    if sum(task.state == "completed" for task in tasks) != len(tasks):
        found.append("not every task completed")
    return found


def _log_lines(server, needle: str) -> list[str]:
    with open(server.log_path, encoding="utf-8", errors="replace") as log:
        return [line for line in log if needle in line]


def test_redis_killed_mid_run(fault_server, fault_redis, volunteers, concurrency_engine):
    project_id = seed_project(concurrency_engine, "fault-redis", "default")
    client = redis.Redis(port=fault_redis.port, socket_connect_timeout=0.5)
    figures = {}

    def fault(crowd):
        _wait_for_answers(crowd, 10)
        fault_redis.kill()
        crowd.phase, began, acked = "outage", time.monotonic(), len(crowd.tally.acknowledged)
        time.sleep(4)
        figures["answers during the outage"] = len(crowd.tally.acknowledged) - acked
        fault_redis.start()
        crowd.phase, back = "after", time.monotonic()
        figures["outage seconds"] = round(back - began, 1)
        while time.monotonic() - back < 20 and not client.keys("crowdnest:ratelimit:*"):
            time.sleep(0.05)
        figures["Redis used again after (s)"] = round(time.monotonic() - back, 2)

    crowd = _run(fault_server, volunteers, project_id, fault)

    phases = {phase: dict(counts) for phase, counts in crowd.by_phase.items()}
    print(f"\nRedis killed: {figures}; statuses by phase: {phases}")
    print(
        f"answers refused after the restart (hand-outs lost): {len(crowd.tally.retried_refusals)}"
    )
    problems = _problems(concurrency_engine, project_id, crowd)
    redis_lines = sorted(set(_log_lines(fault_server, "Redis at")))
    print(f"log lines about Redis: {len(redis_lines)}")
    assert not problems, "\n".join(problems) + "\n" + fault_server.log_tail()
    assert figures["answers during the outage"] > 0, "nothing was answered while Redis was down"
    assert figures["Redis used again after (s)"] < 10, "Redis is not used again"
    outage = phases.get("outage", {})
    assert outage.get("taskrun 200", 0) > 0 and outage.get("newtask 200", 0) > 0
    assert 0 < len(redis_lines) <= 12, "".join(redis_lines[:20])


def _terminate_sessions(db_url: str) -> int:
    """pg_terminate_backend on every other session of the database (the role's own)."""
    url = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return sum(1 for (done,) in rows if done)


def test_database_sessions_terminated_mid_run(
    fault_server, fault_redis, concurrency_db_url, volunteers, concurrency_engine
):
    if fault_redis.process is None or fault_redis.process.poll() is not None:
        fault_redis.start()
    project_id = seed_project(concurrency_engine, "fault-database", "default")
    figures = {}

    def fault(crowd):
        _wait_for_answers(crowd, 10)
        crowd.phase, began = "terminated", time.monotonic()
        figures["sessions terminated"] = _terminate_sessions(concurrency_db_url)
        time.sleep(0.5)
        figures["sessions terminated again"] = _terminate_sessions(concurrency_db_url)
        acked = len(crowd.tally.acknowledged)
        while len(crowd.tally.acknowledged) == acked and time.monotonic() < crowd.deadline:
            time.sleep(0.01)
        figures["first answer after (s)"] = round(time.monotonic() - began, 2)
        time.sleep(2)
        crowd.phase = "after"

    crowd = _run(fault_server, volunteers, project_id, fault)
    concurrency_engine.dispose()  # its own pool lost its sessions too

    phases = {phase: dict(counts) for phase, counts in crowd.by_phase.items()}
    print(f"\nsessions terminated: {figures}; statuses by phase: {phases}")
    problems = _problems(concurrency_engine, project_id, crowd)
    assert not problems, "\n".join(problems)
    after = phases.get("after", {})
    assert not [k for k in after if not k.endswith(" 200")], f"still failing: {after}"


# The command that restarts the PostgreSQL server (.ci/run sets it: `pg_ctlcluster 15 main
# restart`); without it the test is skipped, so that `make test` never restarts a developer's
# server unasked.
PG_RESTART = os.environ.get("CROWDNEST_TEST_PG_RESTART", "")


@pytest.mark.skipif(not PG_RESTART, reason="CROWDNEST_TEST_PG_RESTART is not set")
def test_postgresql_restarted_mid_run(fault_server, fault_redis, volunteers, concurrency_engine):
    if fault_redis.process is None or fault_redis.process.poll() is not None:
        fault_redis.start()
    project_id = seed_project(concurrency_engine, "fault-restart", "default")
    figures = {}

    def fault(crowd):
        _wait_for_answers(crowd, 10)
        crowd.phase, began = "restart", time.monotonic()
        subprocess.run(shlex.split(PG_RESTART), check=True, capture_output=True)
        figures["restart took (s)"] = round(time.monotonic() - began, 2)
        acked = len(crowd.tally.acknowledged)
        while len(crowd.tally.acknowledged) == acked and time.monotonic() < crowd.deadline:
            time.sleep(0.01)
        figures["first answer after (s)"] = round(time.monotonic() - began, 2)
        time.sleep(2)
        crowd.phase = "after"

    crowd = _run(fault_server, volunteers, project_id, fault)
    concurrency_engine.dispose()  # its own pool lost its sessions too

    phases = {phase: dict(counts) for phase, counts in crowd.by_phase.items()}
    print(f"\nPostgreSQL restarted: {figures}; statuses by phase: {phases}")
    problems = _problems(concurrency_engine, project_id, crowd)
    assert not problems, "\n".join(problems) + "\n" + fault_server.log_tail()
    after = phases.get("after", {})
    assert not [k for k in after if not k.endswith(" 200")], f"still failing: {after}"
