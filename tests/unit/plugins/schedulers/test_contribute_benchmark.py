"""benchmarks/contribute.py, which measures the schedulers' speed targets: a reused database is
brought to alembic's head, and CPU per request decides what a figure could reach."""

import os
import sys
from argparse import Namespace

import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "benchmarks")
# Last on the path: its modules (floor, httpload...) never shadow anything else.
sys.path.append(os.path.abspath(BENCHMARKS))

contribute = pytest.importorskip("contribute")
from httpload import Figures  # noqa: E402


def _args(**given) -> Namespace:
    values = {"db": "postgresql+psycopg://x/y", "tasks": 10, "runs": 100, "users": 5}
    return Namespace(**{**values, **given})


def test_a_reused_database_is_brought_to_head(monkeypatch):
    """--reuse keeps the seeded rows but not an old schema: a database seeded before 0014 ran
    `incremental` without its index (9.5 ms of database CPU a newtask instead of 0.2)."""
    calls = []
    monkeypatch.setattr(contribute, "seeded_size", lambda url: (10, 100, 5))
    monkeypatch.setattr(contribute, "upgrade", lambda url: calls.append(("upgrade", url)))
    monkeypatch.setattr(contribute, "seed", lambda *a: calls.append(("seed",)) or 0.0)
    contribute.prepare_main(_args(reuse=True))
    assert calls == [("upgrade", "postgresql+psycopg://x/y")]


def test_a_database_of_another_size_is_seeded_again(monkeypatch):
    calls = []
    monkeypatch.setattr(contribute, "seeded_size", lambda url: (99, 100, 5))
    monkeypatch.setattr(contribute, "upgrade", lambda url: calls.append(("upgrade",)))
    monkeypatch.setattr(contribute, "seed", lambda *a: calls.append(("seed", *a)) or 0.0)
    args = _args(reuse=True)
    contribute.prepare_main(args)
    assert calls == [("seed", args.db, 10, 100, 5)] and args.reuse is False


def test_the_ceiling_counts_every_process_of_a_request(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    figures = Figures(1000, 0, 1.0, 1.0, 2.0, 0.6, 0.2, 0.15, 0.05)
    assert contribute.total_cpu_ms(figures) == pytest.approx(1.0)
    assert contribute.ceiling(figures) == pytest.approx(2000)
    # Redis not measured (a remote one): counted as nothing, not as NaN.
    figures.redis_cpu_ms = float("nan")
    assert contribute.ceiling(figures) == pytest.approx(2000 / 0.95)


def test_what_a_backend_waits_on():
    assert contribute.wait_kind(None, None) == "on CPU"
    assert contribute.wait_kind("Lock", "transactionid") == "row locks"
    assert contribute.wait_kind("Lock", "tuple") == "row locks"
    assert contribute.wait_kind("IO", "WALSync") == "WAL flush"
    assert contribute.wait_kind("LWLock", "WALWrite") == "WAL flush"
    assert contribute.wait_kind("IO", "DataFileRead") == "other waits"


def test_a_process_gone_during_a_measurement_is_left_out():
    """A backend whose connection closed (or a restarted PostgreSQL) took its whole CPU out of
    the sum: a run printed -8.59 ms of database CPU a request."""
    from httpload import cpu_by_pid, cpu_spent

    assert cpu_spent({1: 30.0, 2: 1.0}, {2: 1.5}) == pytest.approx(0.5)
    assert cpu_spent({1: 1.0}, {1: 1.25, 3: 9.0}) == pytest.approx(0.25)
    assert os.getpid() in cpu_by_pid([os.getpid()])
