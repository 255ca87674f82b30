"""The schema-driven fuzzer: schemathesis against a live server, led by /api/openapi.json.

One run per database: a fresh database is migrated and seeded (a volunteer and a project owner
with API keys, a published project with tasks, answers, a result and one object of every other
kind), the server is started (`pserve development.ini` on SQLite; `gunicorn --paste
production.ini` on PostgreSQL with Redis), and schemathesis sends its generated requests twice:
as the owner (API key in the Authorization header) and anonymously. It fails on any 5xx and on
any answer the document does not allow (status code, content type, body schema).

    python tests/fuzz/run.py sqlite
    python tests/fuzz/run.py postgresql --database-url postgresql+psycopg://... \
        --redis-url redis://localhost:6379/15

Deterministic: a fixed seed and schemathesis' deterministic generation.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `python tests/fuzz/run.py` puts tests/fuzz first on the path: the seed needs `tests`.
sys.path.insert(0, str(ROOT))
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
ALL_PHASES = "examples,coverage,fuzzing"
# Long enough for 36 paths x 4 methods x max_examples requests on 2 cores.
SCHEMATHESIS_TIMEOUT = 600
# Secrets of this throw-away server only (production refuses the defaults).
SECRETS = {
    "CROWDNEST_SESSION_SECRET": "fuzz-session-secret-0123456789abcdef0123456789",
    "CROWDNEST_IP_PSEUDONYM_KEY": "fuzz-pseudonym-key-0123456789abcdef0123456789",
    "CROWDNEST_SITE_URL": "http://127.0.0.1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database(url: str) -> None:
    """An empty, migrated database at `url`."""
    from sqlalchemy import text

    from core.db import get_engine
    from core.migrate import upgrade

    engine = get_engine({"sqlalchemy.url": url})
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)


def seed(url: str) -> dict:
    """Objects for the object-level routes to find; the owner's and volunteer's API keys."""
    from core.db import get_engine, get_session_factory
    from core.models import Favorite
    from tests import factories as f

    engine = get_engine({"sqlalchemy.url": url})
    db = get_session_factory(engine)()
    f.bind(db)
    owner = f.UserFactory(name="owner")
    volunteer = f.UserFactory(name="volunteer")
    category = f.CategoryFactory()
    project = f.ProjectFactory(
        owner=owner, category=category, short_name="fuzzproject", allow_anonymous_contributors=True
    )
    f.ProjectFactory(owner=volunteer, category=category, published=False)
    tasks = [f.TaskFactory(project=project) for _ in range(10)]
    runs = [f.TaskRunFactory(task=tasks[0], user=user) for user in (owner, volunteer)]
    f.ResultFactory(task=tasks[0], task_run_ids=[run.id for run in runs])
    f.BlogpostFactory(project=project)
    f.HelpingMaterialFactory(project=project)
    f.PageFactory(project=project)
    f.AnnouncementFactory(user_id=owner.id)
    db.add(Favorite(task_id=tasks[1].id, user_id=owner.id))
    db.commit()
    keys = {"owner": owner.api_key, "volunteer": volunteer.api_key}
    db.close()
    engine.dispose()
    return keys


def start_server(kind: str, workdir: Path, port: int, env: dict) -> subprocess.Popen:
    log = open(workdir / "server.log", "w")
    if kind == "sqlite":
        ini = workdir / "development.ini"
        shutil.copy(ROOT / "development.ini", ini)
        command = [
            sys.executable,
            "-m",
            "pyramid.scripts.pserve",
            str(ini),
            f"http_port={port}",
        ]
    else:
        ini = workdir / "production.ini"
        shutil.copy(ROOT / "production.ini", ini)
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--paste",
            str(ini),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
        ]
    # Its own process group: stopped as a whole, with whatever the server forked.
    return subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until_up(server: subprocess.Popen, url: str, workdir: Path) -> None:
    for _ in range(120):
        if server.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    print((workdir / "server.log").read_text()[-5000:])
    raise SystemExit(f"the server did not answer at {url}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def run_schemathesis(
    base, workdir: Path, label: str, phases: str, examples: int, headers=(), extra=(), config=None
) -> dict:
    """One schemathesis run; its counts from the NDJSON event stream."""
    events = workdir / f"{label}.ndjson"
    command = [sys.executable, "-m", "schemathesis.cli"]
    if config:
        command += ["--config-file", str(config)]
    command += [
        "run",
        f"{base}/api/openapi.json",
        "--url",
        base,
        "--checks",
        ",".join(CHECKS),
        "--generation-deterministic",
        "--max-examples",
        str(examples),
        "--phases",
        phases,
        "--workers",
        "2",
        "--no-shrink",
        # Every failing case counted, not only the first of each operation.
        "--continue-on-failure",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(events),
        "--no-color",
        "--output-truncate",
        "true",
    ]
    for header in headers:
        command += ["--header", header]
    command += list(extra)
    print(f"== schemathesis ({label})", flush=True)
    completed = subprocess.run(command, cwd=workdir, timeout=SCHEMATHESIS_TIMEOUT)
    return {"status": completed.returncode, **count_events(events)}


def objects_config(workdir: Path) -> Path:
    """A schemathesis configuration that fills the path parameters with seeded objects."""
    path = workdir / "objects.toml"
    path.write_text(
        "[parameters]\n"
        '"path.oid" = 1\n'
        '"path.project" = "fuzzproject"\n'
        '"path.project_id" = 1\n'
        '"path.short_name" = "fuzzproject"\n'
    )
    return path


def count_events(path: Path) -> dict:
    """Requests sent, and failures by check and by operation, from the NDJSON report."""
    requests, failures, where = 0, {}, {}
    if not path.exists():
        return {"requests": 0, "failures": {}, "where": {}}
    for line in path.read_text().splitlines():
        scenario = json.loads(line).get("ScenarioFinished")
        if not scenario:
            continue
        recorder = scenario.get("recorder") or {}
        interactions = recorder.get("interactions") or {}
        requests += len(interactions)
        for case_id, checks in (recorder.get("checks") or {}).items():
            response = (interactions.get(case_id) or {}).get("response") or {}
            for check in checks:
                if check.get("status") != "failure":
                    continue
                name = check["name"]
                failures[name] = failures.get(name, 0) + 1
                key = f"{name} {recorder.get('label')} -> {response.get('status_code')}"
                where[key] = where.get(key, 0) + 1
    return {"requests": requests, "failures": failures, "where": where}


def server_errors(log: Path) -> dict:
    """The exceptions behind the server's 500s, by their last traceback line."""
    found, lines = {}, log.read_text(errors="replace").splitlines()
    for index, line in enumerate(lines):
        if "unexpected error on" not in line:
            continue
        for following in lines[index + 1 : index + 200]:
            if following and not following.startswith((" ", "Traceback", "During", "The above")):
                found[following[:160]] = found.get(following[:160], 0) + 1
                break
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", choices=("sqlite", "postgresql"))
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url", default="redis://localhost:6379/15")
    parser.add_argument("--examples", type=int, default=12, help="test cases per operation")
    parser.add_argument("--min-requests", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--schemathesis-arg",
        dest="schemathesis_args",
        action="append",
        default=[],
        help="one more schemathesis option (repeatable)",
    )
    args = parser.parse_args()

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f"crowdnest-fuzz-{args.database}-"))
    (workdir / "var").mkdir()
    env = {
        **os.environ,
        **SECRETS,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        # Every generated request must reach the code, not the rate limiter.
        "CROWDNEST_RATELIMIT_LIMIT": "10000000",
        "CROWDNEST_UPLOAD_DIR": str(workdir / "var" / "uploads"),
        "CROWDNEST_EXPORT_DIR": str(workdir / "var" / "exports"),
        # Nothing leaves the machine: no webhook, mails written as files.
        "CROWDNEST_PLUGINS_WEBHOOKS": "",
        "CROWDNEST_MAIL_MAILER": "debug",
        "CROWDNEST_MAIL_DEBUG_DIR": str(workdir / "var" / "mail"),
    }
    if args.database == "sqlite":
        url = f"sqlite:///{workdir}/var/crowdnest.sqlite"
        env["CROWDNEST_REDIS_URL"] = ""
    else:
        if not args.database_url:
            parser.error("postgresql needs --database-url")
        url = args.database_url
        env["CROWDNEST_REDIS_URL"] = args.redis_url
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
    env["CROWDNEST_SQLALCHEMY_URL"] = url
    prepare_database(url)
    keys = seed(url)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(args.database, workdir, port, env)
    runs = {}
    try:
        wait_until_up(server, f"{base}/api/openapi.json", workdir)
        # The owner gets every phase (the coverage phase's boundary values are most of the
        # requests); the anonymous caller the explicit examples and random cases.
        owner = [f"Authorization: {keys['owner']}"]
        runs["owner"] = run_schemathesis(
            base, workdir, "owner", ALL_PHASES, args.examples, owner, args.schemathesis_args
        )
        # Then the seeded objects themselves: every path parameter names one (no DELETE, so
        # that they last the run).
        runs["objects"] = run_schemathesis(
            base,
            workdir,
            "objects",
            "fuzzing",
            args.examples,
            owner,
            ["--exclude-method", "DELETE", *args.schemathesis_args],
            config=objects_config(workdir),
        )
        runs["anonymous"] = run_schemathesis(
            base,
            workdir,
            "anonymous",
            "examples,fuzzing",
            args.examples,
            (),
            args.schemathesis_args,
        )
    finally:
        stop_server(server)

    requests = sum(run["requests"] for run in runs.values())
    failures, where = {}, {}
    for run in runs.values():
        for name, count in run["failures"].items():
            failures[name] = failures.get(name, 0) + count
        for key, count in run["where"].items():
            where[key] = where.get(key, 0) + count
    for key, count in sorted(where.items()):
        print(f"   {count:5d}  {key}")
    for exception, count in sorted(server_errors(workdir / "server.log").items()):
        print(f"   {count:5d}  server log: {exception}")
    print(
        f"== fuzz on {args.database}: {requests} requests in {time.monotonic() - started:.0f} s,"
        f" failures by check: {failures or 0}"
    )
    print(f"   work folder {workdir}")
    failed = any(run["status"] != 0 for run in runs.values())
    if requests < args.min_requests:
        print(f"fuzz FAILED: {requests} requests, fewer than {args.min_requests}")
        failed = True
    if not args.keep and not failed:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
