"""A small HTTP/1.1 load generator for loopback benchmarks: threads, latencies, CPU per request.

Only for servers on this machine: every loop is bounded by a deadline.
"""

import os
import socket
import threading
import time
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids) -> float:
    """User plus system CPU time of these processes so far (Linux /proc); gone ones count 0."""
    return sum(cpu_by_pid(pids).values())


def cpu_by_pid(pids) -> dict[int, float]:
    """{pid: user plus system CPU seconds so far} of those of these processes that live."""
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    return found


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the processes spent between two cpu_by_pid readings: those gone by the
    second are left out (a backend whose connection a pool closed), not counted negative."""
    return sum(after[pid] - spent for pid, spent in before.items() if pid in after)


class Client:
    """One HTTP/1.1 connection that reopens when the server closes it (gunicorn's sync
    workers close after every response; a keep-alive server would keep it)."""

    def __init__(self, port: int):
        self.port = port
        self.sock = None
        self.buffer = b""

    def _connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed mid-response")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(max(65536, size - len(self.buffer)))
            if not chunk:
                raise ConnectionError("connection closed mid-body")
            self.buffer += chunk
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        return body

    def get(self, path: str) -> tuple[int, bytes]:
        if self.sock is None:
            self._connect()
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n"
        self.sock.sendall(request.encode())
        head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise ConnectionError("response without Content-Length")
        body = self._read_exactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body


def fetch(port: int, path: str) -> tuple[int, bytes]:
    client = Client(port)
    try:
        return client.get(path)
    finally:
        client.close()


@dataclass
class Figures:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    # CPU milliseconds per request: gunicorn, PostgreSQL backends, this load generator, and
    # redis-server (when its pid is given: a local Redis).
    app_cpu_ms: float = float("nan")
    db_cpu_ms: float = float("nan")
    client_cpu_ms: float = float("nan")
    redis_cpu_ms: float = float("nan")

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(
    clients: int, duration: float, work, app_pids=(), db_pids=(), redis_pids=None
) -> Figures:
    """Run `work(slot, deadline, latencies, errors)` in `clients` threads and sum up.

    Each thread appends the seconds of every request to its `latencies` list and counts its
    failures in `errors[slot]`, until `deadline` (a time.perf_counter value) has passed.
    """
    pids = (app_pids, db_pids, [os.getpid()], redis_pids or ())
    cpu_before = [cpu_by_pid(group) for group in pids]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = time.perf_counter()
    deadline = start + duration
    threads = [
        threading.Thread(target=work, args=(slot, deadline, latencies[slot], errors))
        for slot in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu_after = [cpu_by_pid(group) for group in pids]
    ordered = sorted(value for own in latencies for value in own)
    per_request = [
        cpu_spent(before, after) * 1000 / max(1, len(ordered))
        for before, after in zip(cpu_before, cpu_after, strict=True)
    ]
    return Figures(
        requests=len(ordered),
        errors=sum(errors),
        seconds=elapsed,
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        app_cpu_ms=per_request[0],
        db_cpu_ms=per_request[1],
        client_cpu_ms=per_request[2],
        redis_cpu_ms=per_request[3] if redis_pids else float("nan"),
    )


def load(port: int, path: str, clients: int, duration: float, app_pids=(), db_pids=()) -> Figures:
    """`clients` threads request `path` back to back until `duration` seconds have passed."""

    def work(slot: int, deadline: float, own: list, errors: list):
        client, clock = Client(port), time.perf_counter
        while True:
            began = clock()
            if began >= deadline:
                break
            try:
                status, _ = client.get(path)
            except OSError:
                client.close()
                errors[slot] += 1
                continue
            own.append(clock() - began)
            if status != 200:
                errors[slot] += 1
        client.close()

    return measure(clients, duration, work, app_pids, db_pids)
