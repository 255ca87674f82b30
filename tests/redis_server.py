"""A redis-server of a test's own on a free port, to kill and start again (decision 19)."""

import subprocess
import time

import redis

from tests.concurrency.crowd import free_port


class RedisServer:
    """redis-server on a free port, no persistence: killed, it comes back empty."""

    def __init__(self):
        self.port, self.process = free_port(), None

    @property
    def url(self) -> str:
        return f"redis://localhost:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
