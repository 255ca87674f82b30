"""core.services.export_store and `crowdnest export --refresh-stale`: stored zips, kept fresh."""

import io
import json
import os
import time
import zipfile
from pathlib import Path

import pytest
import rq

from core import jobs
from core.cli import main
from core.plugins import get_plugin_manager
from core.services.export import FORMATS, TYPES, ExportTarget
from core.services.export_store import (
    gets_updated_exports,
    max_age,
    refresh_stale_job,
    store_while_streaming,
    stored_path,
    sweep,
)
from core.settings import load_settings
from tests.factories import ProjectFactory, TaskFactory, UserFactory

HOUR = 3600


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch):
    for key in ("SQLALCHEMY_URL", "EXPORT_DIR", "EXPORT_MAX_AGE", "PRO_FEATURES", "REDIS_URL"):
        monkeypatch.delenv(f"CROWDNEST_{key}", raising=False)


@pytest.fixture
def export_dir(tmp_path):
    return str(tmp_path / "exports")


@pytest.fixture
def ini(tmp_path, database_url, export_dir, db):
    path = tmp_path / "test.ini"
    path.write_text(
        "[app:main]\n"
        "use = egg:crowdnest\n"
        f"sqlalchemy.url = {database_url}\n"
        f"export.dir = {export_dir}\n"
        "pro_features = updated_exports\n"
    )
    return str(path)


def target_of(project, kind="task", fmt="json") -> ExportTarget:
    return ExportTarget(project.id, project.short_name, kind, fmt)


def store(export_dir, target, content: bytes, hours_old: float) -> str:
    """A stored zip of `target` built `hours_old` hours ago."""
    path = stored_path(export_dir, target)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as stored:
        stored.write(content)
    then = time.time() - hours_old * HOUR
    os.utime(path, (then, then))
    return path


def stored_questions(path: str) -> list[str]:
    archive = zipfile.ZipFile(path)
    (name,) = archive.namelist()
    return [task["info"]["q"] for task in json.loads(archive.read(name))]


@pytest.fixture
def projects(db):
    """A plain owner's published project, a pro owner's, and a draft: one task each."""
    found = {
        "plain": ProjectFactory(short_name="plain", owner=UserFactory()),
        "pro": ProjectFactory(short_name="pro", owner=UserFactory(pro=True)),
        "draft": ProjectFactory(short_name="draft", owner=UserFactory(), published=False),
    }
    for project in found.values():
        TaskFactory(project=project, info={"q": "first"})
    return found


# --- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reserved", "owner_pro", "updated"),
    [("", False, True), ("updated_exports", False, False), ("updated_exports", True, True)],
)
def test_updated_exports_follow_the_owner_when_reserved(reserved, owner_pro, updated):
    settings = load_settings({"pro_features": reserved}, environ={})

    assert gets_updated_exports(settings, owner_pro) is updated


def test_max_age_per_kind_of_project():
    settings = load_settings({"export.max_age": "600"}, environ={})
    # export.pro_max_age is the updated_exports plugin's setting.
    get_plugin_manager(settings)

    assert max_age(settings, updated=False) == 600
    assert max_age(settings, updated=True) == 0


# --- storing while streaming -------------------------------------------------------------------


def test_the_zip_is_stored_only_once_every_chunk_went_through(export_dir, db):
    target = ExportTarget(7, "birds", "task", "json")
    path = stored_path(export_dir, target)

    stream = store_while_streaming(export_dir, target, iter([b"one", b"two"]))
    first = next(stream)
    midway = os.path.exists(path)
    rest = list(stream)

    assert (first, rest) == (b"one", [b"two"])
    assert midway is False
    with open(path, "rb") as stored:
        assert stored.read() == b"onetwo"
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]


def test_a_failing_export_stores_nothing_and_keeps_the_old_zip(export_dir):
    target = ExportTarget(7, "birds", "task", "json")
    old = store(export_dir, target, b"old", hours_old=30)

    def broken():
        yield b"new"
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        list(store_while_streaming(export_dir, target, broken()))

    with open(old, "rb") as stored:
        assert stored.read() == b"old"
    assert os.listdir(os.path.dirname(old)) == [os.path.basename(old)]


def test_the_stored_zip_is_dated_from_when_its_build_began(export_dir):
    target = ExportTarget(7, "birds", "task", "json")

    def slow():
        yield b"a"
        time.sleep(0.3)
        yield b"b"

    before = time.time()
    list(store_while_streaming(export_dir, target, slow()))

    assert before <= os.stat(stored_path(export_dir, target)).st_mtime < before + 0.25


# --- `crowdnest export --refresh-stale` --------------------------------------------------------


def test_refresh_rebuilds_the_stale_stored_exports_only(ini, export_dir, projects, capsys):
    plain = projects["plain"]
    stale = store(export_dir, target_of(plain), b"stale", hours_old=30)
    fresh = store(export_dir, target_of(plain, "task", "csv"), b"fresh", hours_old=2)
    fresh_time = os.stat(fresh).st_mtime
    TaskFactory(project=plain, info={"q": "second"})

    code = main(["-c", ini, "export", "--refresh-stale", "--interval", "0"])
    out = capsys.readouterr().out

    assert code == 0
    assert stored_questions(stale) == ["first", "second"]
    assert time.time() - os.stat(stale).st_mtime < 60
    assert os.stat(fresh).st_mtime == fresh_time
    # Nothing is built for exports never stored, pro owners' projects (fresh) or drafts.
    assert sorted(os.listdir(os.path.dirname(stale))) == [
        "plain_task_csv.zip",
        "plain_task_json.zip",
    ]
    assert os.listdir(export_dir) == [str(plain.id)]
    assert "plain task json: rebuilt (stored 30.0 h ago)" in out
    assert "refresh: 1 export(s) rebuilt, 1 fresh, 0 failed, 0 old file(s) removed" in out


def test_refresh_also_rebuilds_what_goes_stale_before_the_next_run(ini, export_dir, projects):
    plain = projects["plain"]
    soon = store(export_dir, target_of(plain), b"soon", hours_old=23.5)

    main(["-c", ini, "export", "--refresh-stale", "--interval", "0"])
    kept = Path(soon).read_bytes()
    main(["-c", ini, "export", "--refresh-stale", "--interval", str(HOUR)])

    assert kept == b"soon"
    assert stored_questions(soon) == ["first"]


def test_refresh_all_builds_every_export_of_the_stored_projects(ini, export_dir, projects, capsys):
    plain = projects["plain"]

    code = main(["-c", ini, "export", "--refresh-stale", "--all"])
    out = capsys.readouterr().out

    assert code == 0
    assert os.listdir(export_dir) == [str(plain.id)]
    assert sorted(os.listdir(os.path.join(export_dir, str(plain.id)))) == sorted(
        target_of(plain, kind, fmt).zip_name for kind in TYPES for fmt in FORMATS
    )
    assert "plain result csv: rebuilt (never stored)" in out
    assert "refresh: 6 export(s) rebuilt, 0 fresh, 0 failed" in out


def test_refresh_removes_what_no_project_needs(ini, export_dir, projects):
    plain, pro = projects["plain"], projects["pro"]
    kept = store(export_dir, target_of(plain), b"kept", hours_old=1)
    renamed = store(export_dir, ExportTarget(plain.id, "old_name", "task", "json"), b"", 2)
    deleted = store(export_dir, ExportTarget(9999, "gone", "task", "json"), b"", hours_old=2)
    live_now = store(export_dir, target_of(pro), b"", hours_old=2)
    writing = os.path.join(os.path.dirname(kept), ".tmpabc.part")
    open(writing, "wb").close()
    foreign = os.path.join(export_dir, "README.txt")
    open(foreign, "w").close()
    os.utime(foreign, (0, 0))

    main(["-c", ini, "export", "--refresh-stale", "--interval", "0"])

    assert os.path.exists(kept) and os.path.exists(writing) and os.path.exists(foreign)
    assert not os.path.exists(renamed)
    assert not os.path.exists(live_now)
    assert not os.path.exists(os.path.dirname(deleted))


def test_sweep_leaves_a_folder_that_is_not_a_project_alone(tmp_path):
    folder = tmp_path / "uploads"
    folder.mkdir()
    (folder / "old.zip").write_bytes(b"")
    os.utime(folder / "old.zip", (0, 0))

    removed = sweep(str(tmp_path), [], time.time())

    assert removed == 0
    assert (folder / "old.zip").exists()


def test_refresh_needs_a_project_or_the_option(ini, capsys):
    code = main(["-c", ini, "export"])

    assert code == 1
    assert "name a PROJECT, or give --refresh-stale" in capsys.readouterr().err


def test_refresh_job_runs_with_the_workers_settings(ini, export_dir, projects, database_url):
    settings = load_settings(
        {
            "sqlalchemy.url": database_url,
            "export.dir": export_dir,
            "pro_features": "updated_exports",
        },
        environ={},
    )

    refresh_stale_job(settings, missing=True)

    assert len(os.listdir(os.path.join(export_dir, str(projects["plain"].id)))) == 6


def test_refresh_enqueue_sends_the_job_to_the_export_queue(
    ini, redis_client, redis_url, database_url, export_dir, projects, capsys
):
    with open(ini, "a") as config:
        config.write(f"redis.url = {redis_url}\nexport.queue = low\n")

    code = main(["-c", ini, "export", "--refresh-stale", "--all", "--enqueue"])
    queued = rq.Queue("low", connection=redis_client)
    job = queued.jobs[0]
    settings = load_settings(
        {
            "sqlalchemy.url": database_url,
            "export.dir": export_dir,
            "pro_features": "updated_exports",
            "redis.url": redis_url,
        },
        environ={},
    )
    jobs.SimpleWorker(["low"], connection=redis_client, settings=settings).work(burst=True)

    assert code == 0
    assert "refresh: sent to the worker (queue low)" in capsys.readouterr().out
    assert job.func_name == "core.services.export_store.refresh_stale_job"
    assert len(os.listdir(os.path.join(export_dir, str(projects["plain"].id)))) == 6


def test_stored_zip_is_a_valid_archive(ini, export_dir, projects):
    main(["-c", ini, "export", "--refresh-stale", "--all"])

    path = stored_path(export_dir, target_of(projects["plain"], "task", "csv"))
    archive = zipfile.ZipFile(io.BytesIO(Path(path).read_bytes()))
    assert archive.testzip() is None
    assert archive.namelist() == ["plain_task.csv"]
