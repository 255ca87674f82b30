"""/metrics under the real gunicorn with two workers: every worker's requests are counted
(prometheus_client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR)."""

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.functional.test_metrics import _value

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_workers_counts_add_up(tmp_path):
    port = _free_port()
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {
        **os.environ,
        "CROWDNEST_SQLALCHEMY_URL": f"sqlite:///{tmp_path}/m.sqlite",
        "CROWDNEST_REDIS_URL": "",
        "CROWDNEST_METRICS_ENABLED": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
    command += ["--paste", str(ROOT / "development.ini"), "-w", "2", "-b", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        sent = 60

        def ask(_):
            # A new connection each time, four at once: both workers take some.
            return requests.get(f"{base}/api/category", timeout=10).status_code

        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(ask, range(sent))) == {200}
        text = requests.get(f"{base}/metrics", timeout=10).text
        workers = {name.split("_")[-1] for name in os.listdir(folder) if name.endswith(".db")}
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert (
        _value(text, "crowdnest_requests_total", route="collection_category", status="200") == sent
    )
    assert len(workers) >= 2  # files of more than one process were summed
