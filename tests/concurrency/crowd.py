"""The load driver of the concurrency proof: gunicorn on loopback and a crowd of volunteers.

Each volunteer is a thread that asks for a task and answers it until the project has nothing
left for it. Every loop is bounded by a deadline and every connection goes to 127.0.0.1.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Connection errors tolerated per request before a volunteer gives up on it.
RETRIES = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, body: dict | None = None):
    """One request on a fresh connection: (status, decoded JSON or raw text)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body)
        headers = {"Accept": "application/json", "Connection": "close"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw.decode("utf-8", "replace")


class Gunicorn:
    """`gunicorn --paste production.ini` on a free loopback port, settings from the environment."""

    def __init__(self, overrides: dict[str, str], workers: int, log_path: str):
        self.overrides, self.workers, self.log_path = overrides, workers, log_path
        self.port = free_port()
        self.process = None

    def start(self, within: float = 60) -> None:
        environ = {**os.environ, **self.overrides}
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--paste",
            os.path.join(ROOT, "production.ini"),
            "-w",
            str(self.workers),
            "-b",
            f"127.0.0.1:{self.port}",
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=log, stderr=log)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.process.returncode}:\n" + self.log_tail()
                )
            try:
                if request(self.port, "GET", "/api/project")[0] == 200:
                    self.wait_for_workers(deadline - time.monotonic())
                    self.warm_up()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {within} s:\n" + self.log_tail())

    def warm_up(self) -> None:
        """A few requests at once, so that every worker has built its app before it counts."""
        threads = [
            threading.Thread(target=request, args=(self.port, "GET", "/api/project"))
            for _ in range(4 * self.workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    def worker_pids(self) -> list[int]:
        """The workers now alive (children of the master)."""
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as children:
                return [int(pid) for pid in children.read().split()]
        except OSError:
            return []

    def wait_for_workers(self, within: float) -> None:
        """Until every worker has booted (the master has replaced any killed one)."""
        deadline = time.monotonic() + max(within, 0)
        while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
            time.sleep(0.1)

    def kill_worker(self) -> int:
        """SIGKILL one worker, as an out-of-memory killer or a crash would; returns its pid."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def log_tail(self, size: int = 4000) -> str:
        with open(self.log_path, "rb") as log:
            return log.read()[-size:].decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Tally:
    """What the crowd saw, merged over every volunteer (appends are atomic under the GIL)."""

    # (run id, task id, user id) of every answer the server acknowledged with a 200.
    acknowledged: list = field(default_factory=list)
    # (task id, user id) of answers whose response was lost to a connection error.
    unconfirmed: list = field(default_factory=list)
    # (what, status, body) of refusals a volunteer did not expect.
    unexpected: list = field(default_factory=list)
    # Refusals of a retried answer ("already answered", "request a task first").
    retried_refusals: list = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    connection_errors: int = 0
    finished: int = 0
    # Volunteers that stopped before newtask answered `{}` (deadline, refusal, no answer).
    gave_up: int = 0


@dataclass
class Volunteer:
    user_id: int
    api_key: str


class Crowd:
    """Volunteers answering one project at once, each until newtask answers `{}`."""

    def __init__(self, port: int, project_id: int, volunteers: list[Volunteer], deadline: float):
        self.port, self.project_id = port, project_id
        self.volunteers, self.deadline = volunteers, deadline
        self.tally = Tally()
        self._lock = threading.Lock()

    def run(self) -> Tally:
        threads = [
            threading.Thread(target=self._contribute, args=(v,), daemon=True)
            for v in self.volunteers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, self.deadline - time.monotonic()) + 35)
        return self.tally

    def _call(self, method: str, path: str, body: dict | None = None):
        """The request, retried on connection errors; (status, body, attempts) or None."""
        for attempt in range(1, RETRIES + 1):
            if time.monotonic() > self.deadline:
                return None
            try:
                status, data = request(self.port, method, path, body)
            except (OSError, http.client.HTTPException):
                with self._lock:
                    self.tally.connection_errors += 1
                time.sleep(0.05 * attempt)
                continue
            with self._lock:
                self.tally.statuses[f"{method} {status}"] += 1
            return status, data, attempt
        return None

    def _contribute(self, volunteer: Volunteer) -> None:
        newtask = f"/api/project/{self.project_id}/newtask?api_key={volunteer.api_key}"
        while True:
            reply = self._call("GET", newtask)
            if reply is None:
                break
            status, task, _ = reply
            if status != 200 or not isinstance(task, dict):
                self.tally.unexpected.append(("newtask", status, task))
                break
            if not task:
                self.finished(volunteer)
                return
            if not self._answer(volunteer, task["id"]):
                break
        with self._lock:
            self.tally.gave_up += 1

    def finished(self, volunteer: Volunteer) -> None:
        """Newtask answered the volunteer `{}`: nothing is left for them."""
        with self._lock:
            self.tally.finished += 1

    def _answer(self, volunteer: Volunteer, task_id: int) -> bool:
        """POST the answer; False when the volunteer should stop."""
        body = {
            "project_id": self.project_id,
            "task_id": task_id,
            "info": {"answer": f"user {volunteer.user_id} on task {task_id}"},
        }
        reply = self._call("POST", f"/api/taskrun?api_key={volunteer.api_key}", body)
        if reply is None:
            self.tally.unconfirmed.append((task_id, volunteer.user_id))
            return False
        status, run, attempts = reply
        if attempts > 1:
            # The first attempt may have been stored before its response was lost.
            self.tally.unconfirmed.append((task_id, volunteer.user_id))
        if status == 200:
            self.tally.acknowledged.append((run["id"], run["task_id"], run["user_id"]))
        elif status == 403 and attempts > 1:
            self.tally.retried_refusals.append((task_id, volunteer.user_id, run))
        else:
            self.tally.unexpected.append(("taskrun", status, run))
        return True
