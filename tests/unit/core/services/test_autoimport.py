"""The autoimporter's schedule (core.services.autoimport run_autoimports) and the
`crowdnest autoimport` command, against a local HTTP server serving the sources."""

import pytest
from sqlalchemy import select

from core.cli import main
from core.models import Project, Task
from core.services import autoimport
from core.services.autoimport import run_autoimports
from core.settings import load_settings
from tests.factories import ProjectFactory, TaskFactory, UserFactory
from tests.functional.web.test_import import http_server  # noqa: F401 (a fixture)

HEADER = b"question,n_answers\n"


@pytest.fixture
def auto_settings(database_url):
    def make(**overrides):
        return load_settings(
            {
                "sqlalchemy.url": database_url,
                "plugins.importers": "csv json",
                "importer.allow_private_urls": "true",
                **overrides,
            },
            environ={},
        )

    return make


@pytest.fixture
def source(http_server):  # noqa: F811
    """serve(path, body) puts a CSV at `path` and returns its URL."""
    base, routes = http_server

    def serve(path: str, body: bytes, status: int = 200) -> str:
        routes[path] = (status, "text/csv", body)
        return f"{base}{path}"

    return serve


def with_autoimporter(url: str, **fields) -> Project:
    info = {"task_presenter": "<div></div>", "autoimporter": {"type": "csv", "csv_url": url}}
    return ProjectFactory(info=info, **fields)


def questions(db, project) -> list[str]:
    db.expire_all()
    tasks = db.scalars(select(Task).where(Task.project_id == project.id).order_by(Task.id))
    return [task.info["question"] for task in tasks]


def last_run(db, project) -> dict:
    db.expire_all()
    return db.get(Project, project.id).info["autoimporter"]["last_run"]


def test_a_second_run_imports_only_the_new_rows(auto_settings, source, db):
    url = source("/grows.csv", HEADER + b"one?,2\ntwo?,2\n")
    project = with_autoimporter(url)
    settings = auto_settings()

    first = run_autoimports(settings)
    source("/grows.csv", HEADER + b"one?,2\ntwo?,2\nthree?,5\n")
    second = run_autoimports(settings)

    assert [(o.short_name, o.created, o.skipped, o.error) for o in first] == [
        (project.short_name, 2, 0, None)
    ]
    assert [(o.created, o.skipped, o.error) for o in second] == [(1, 2, None)]
    assert questions(db, project) == ["one?", "two?", "three?"]
    run = last_run(db, project)
    assert (run["created"], run["skipped"], run["error"]) == (1, 2, None)
    assert run["time"][:4].isdigit()
    # The stored form itself is kept as it was.
    stored = db.get(Project, project.id).info["autoimporter"]
    assert (stored["type"], stored["csv_url"]) == ("csv", url)


def test_a_failing_source_is_recorded_and_the_others_still_run(auto_settings, source, db):
    broken = with_autoimporter(source("/gone.csv", b"missing", status=404))
    TaskFactory(project=broken, info={"question": "kept?"})
    # Two good rows, then a malformed one: nothing of this source may be kept.
    half = with_autoimporter(source("/half.csv", HEADER + b"a?,1\nb?,1\nc?,1,extra\n"))
    good = with_autoimporter(source("/good.csv", HEADER + b"fine?,3\n"))

    outcomes = run_autoimports(auto_settings())

    by_project = {outcome.project_id: outcome for outcome in outcomes}
    assert by_project[broken.id].error == "The URL answered HTTP 404."
    assert "malformed CSV" in by_project[half.id].error
    assert (by_project[good.id].created, by_project[good.id].error) == (1, None)
    assert questions(db, broken) == ["kept?"]
    assert questions(db, half) == []
    assert questions(db, good) == ["fine?"]
    assert last_run(db, broken)["error"] == "The URL answered HTTP 404."
    assert last_run(db, half)["created"] == 0


def test_an_unexpected_error_is_recorded_and_rolled_back(auto_settings, source, db, monkeypatch):
    failing = with_autoimporter(source("/a.csv", HEADER + b"a?,1\n"))
    other = with_autoimporter(source("/b.csv", HEADER + b"b?,1\n"))
    real_import = autoimport.import_tasks

    def import_then_crash(session, project, records):
        report = real_import(session, project, records)
        if project.id == failing.id:
            raise RuntimeError("boom")
        return report

    monkeypatch.setattr(autoimport, "import_tasks", import_then_crash)

    outcomes = run_autoimports(auto_settings())

    assert {o.project_id: o.error for o in outcomes} == {
        failing.id: autoimport.UNEXPECTED,
        other.id: None,
    }
    assert questions(db, failing) == []
    assert questions(db, other) == ["b?"]
    assert last_run(db, failing)["error"] == autoimport.UNEXPECTED


def test_a_disabled_importer_is_an_error(auto_settings, source, db):
    project = with_autoimporter(source("/x.csv", HEADER + b"x?,1\n"))

    outcomes = run_autoimports(auto_settings(**{"plugins.importers": "json"}))

    assert outcomes[0].error == "The importer 'csv' is not available any more."
    assert questions(db, project) == []


def test_projects_without_an_autoimporter_are_left_alone(auto_settings, source, db):
    plain = ProjectFactory()
    cleared = ProjectFactory(info={"autoimporter": None})

    outcomes = run_autoimports(auto_settings())

    assert outcomes == []
    db.expire_all()
    assert "autoimporter" not in db.get(Project, plain.id).info
    assert db.get(Project, cleared.id).info == {"autoimporter": None}


def test_when_reserved_only_pro_and_admin_owners_projects_run(auto_settings, source, db):
    url = source("/pro.csv", HEADER + b"p?,1\n")
    plain = with_autoimporter(url, owner=UserFactory())
    pro = with_autoimporter(url, owner=UserFactory(pro=True))
    admin = with_autoimporter(url, owner=UserFactory(admin=True))

    reserved = run_autoimports(auto_settings(pro_features="autoimporter"))
    open_to_all = run_autoimports(auto_settings(), project_ids=[plain.id])

    assert sorted(o.project_id for o in reserved) == [pro.id, admin.id]
    assert [(o.project_id, o.created) for o in open_to_all] == [(plain.id, 1)]
    assert questions(db, pro) == ["p?"] and questions(db, admin) == ["p?"]


def test_check_source_reads_only_the_first_records(auto_settings, source):
    rows = b"".join(f"q{n}?,1\n".encode() for n in range(50)) + b"bad,1,extra\n"
    settings = auto_settings()
    importer = autoimport.enabled_importers(autoimport.get_plugin_manager(settings))["csv"]

    autoimport.check_source(importer, {"csv_url": source("/long.csv", HEADER + rows)}, settings)

    with pytest.raises(autoimport.ImporterError, match="valid http"):
        autoimport.check_source(importer, {"csv_url": "ftp://example.org/x.csv"}, settings)


# --- crowdnest autoimport ----------------------------------------------------------------------


@pytest.fixture
def ini(tmp_path, database_url, db, monkeypatch):
    for variable in ("CROWDNEST_SQLALCHEMY_URL", "CROWDNEST_PLUGINS_IMPORTERS"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "test.ini"
    path.write_text(
        "[app:main]\n"
        "use = egg:crowdnest\n"
        f"sqlalchemy.url = {database_url}\n"
        "plugins.importers = csv\n"
        "importer.allow_private_urls = true\n"
    )
    return str(path)


def test_the_command_runs_every_autoimporter_once(ini, source, db, capsys):
    url = source("/cli.csv", HEADER + b"c1?,1\nc2?,1\n")
    project = with_autoimporter(url)

    code = main(["-c", ini, "autoimport"])
    out = capsys.readouterr().out

    assert code == 0
    assert f"{project.short_name}: 2 new task(s), 0 skipped" in out
    assert "autoimport: 1 project(s) run" in out
    assert questions(db, project) == ["c1?", "c2?"]


def test_the_command_fails_when_a_project_failed(ini, source, db, capsys):
    project = with_autoimporter(source("/nope.csv", b"", status=403))

    code = main(["-c", ini, "autoimport"])
    out = capsys.readouterr().out

    assert code == 1
    assert f"{project.short_name}: failed: Oops! It looks like you don't have permission" in out


def test_the_loop_waits_the_interval_between_runs(ini, source, db, capsys, monkeypatch):
    project = with_autoimporter(source("/loop.csv", HEADER + b"l?,1\n"))
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        raise KeyboardInterrupt  # stop after the first run

    monkeypatch.setattr("core.cli.autoimport.time.sleep", sleep)
    monkeypatch.setenv("CROWDNEST_AUTOIMPORTER_INTERVAL", "3600")

    code = main(["-c", ini, "autoimport", "--loop"])

    assert code == 1  # interrupted
    assert len(waits) == 1 and 3500 < waits[0] <= 3600
    assert f"{project.short_name}: 1 new task(s)" in capsys.readouterr().out
