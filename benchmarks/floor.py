"""The floor: a trivial WSGI app served as the benchmarks serve Crowdnest, to scale their figures.

Every HTTP benchmark (contribute.py, api_list.py) also measures, in the same run, this app
(a 40-byte JSON body, nothing else) under `gunicorn -w <workers>` on loopback, driven by the same
load client (httpload.py) with the same clients and duration. A figure divided by the floor's
requests per second ("0.31 of floor") says how close to the bare cost of gunicorn, the loopback
and the load client the server comes: unlike req/s, it compares across machines, and moves
less when other work shares the CPUs (both are slowed alike). The floor is measured before and
after the others; their mean is the one figures are divided by, and both are printed.

    python benchmarks/floor.py [--clients 16] [--duration 10] [--workers 4]

prints the floor alone. Loopback only; every loop is bounded in time. Not a test.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from httpload import Figures, fetch, load

HERE = os.path.dirname(os.path.abspath(__file__))
BODY = b'{"id": 1, "state": "ongoing", "ok": true}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    """The trivial WSGI app: the same small JSON body for every request."""
    start_response("200 OK", HEADERS)
    return [BODY]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [pid, *map(int, children.read().split())]
    except OSError:
        return [pid]


def measure_floor(clients: int, duration: float, warmup: float, workers: int) -> Figures:
    """The trivial app's figures under `gunicorn -w workers`, driven by httpload."""
    port = free_port()
    log_path = os.path.join(tempfile.gettempdir(), f"crowdnest-floor-{port}.log")
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "floor:app",
        "--chdir",
        HERE,
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
    ]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=HERE, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the floor's gunicorn exited; see {log_path}")
            try:
                if fetch(port, "/")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    message = f"the floor's gunicorn did not answer; see {log_path}"
                    raise SystemExit(message) from None
                time.sleep(0.1)
        load(port, "/", clients, warmup)
        return load(port, "/", clients, duration, _children(server.pid))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class Floor:
    """The floor measured before and after a benchmark's figures; `of(rate)` scales one."""

    def __init__(self, clients: int, duration: float, warmup: float, workers: int):
        self.settings = (clients, duration, warmup, workers)
        self.found: list[Figures] = []

    def measure(self) -> Figures:
        figures = measure_floor(*self.settings)
        self.found.append(figures)
        print(f"floor: {row(figures)}", flush=True)
        return figures

    @property
    def per_second(self) -> float:
        """The mean of the floor's measurements so far (req/s)."""
        return sum(f.per_second for f in self.found) / len(self.found)

    def of(self, per_second: float) -> str:
        """A rate as a fraction of the floor: '0.31 of floor'."""
        if not self.found:
            return "(no floor)"
        return f"{per_second / self.per_second:.3f} of floor"

    def summary(self) -> str:
        each = ", ".join(f"{f.per_second:.0f}" for f in self.found)
        cpu = ", ".join(f"{f.app_cpu_ms:.2f}" for f in self.found)
        return (
            f"floor (trivial WSGI app, same gunicorn, client, clients and duration): "
            f"{self.per_second:.0f} req/s, the mean of {each}; gunicorn CPU ms/request {cpu}"
        )


def row(f: Figures) -> str:
    return (
        f"{f.per_second:7.0f} req/s, p50 {f.p50_ms:.1f} ms, p99 {f.p99_ms:.1f} ms, "
        f"{f.errors} errors; CPU ms/request app {f.app_cpu_ms:.2f}, client {f.client_cpu_ms:.2f}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    Floor(args.clients, args.duration, args.warmup, args.workers).measure()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
