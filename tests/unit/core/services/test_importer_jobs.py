"""Large imports as jobs (core.services.importer run_import, peek, spooling) and the
`crowdnest import` command."""

import io
import json
import os
from argparse import Namespace

import pytest
from sqlalchemy import select

from core.cli.common import CommandError
from core.cli.imports import import_command
from core.models import Project, Task
from core.services.importer import (
    ImporterError,
    import_status,
    peek,
    run_import,
    spool_upload,
)
from core.settings import load_settings
from tests.factories import ProjectFactory, TaskFactory


class Upload:
    def __init__(self, data: bytes, filename: str = "tasks.csv"):
        self.filename = filename
        self.file = io.BytesIO(data)


@pytest.fixture
def job_settings(database_url, tmp_path):
    return load_settings(
        {
            "sqlalchemy.url": database_url,
            "plugins.importers": "csv json",
            "importer.spool_dir": str(tmp_path / "spool"),
            "importer.max_bytes": "1000",
        },
        environ={},
    )


def tasks_of(db, project) -> list[Task]:
    db.expire_all()
    return list(db.scalars(select(Task).where(Task.project_id == project.id).order_by(Task.id)))


def test_peek_tells_small_from_large_sources():
    closed = []

    def records(n):
        try:
            yield from ({"n": i} for i in range(n))
        finally:
            closed.append(n)

    small, small_is_large = peek(records(3), 3)
    head, large = peek(records(10), 3)

    assert (small, small_is_large) == ([{"n": 0}, {"n": 1}, {"n": 2}], False)
    assert (len(head), large) == (4, True)
    assert closed == [3, 10]


def test_spooled_uploads_reopen_and_respect_the_size_limit(job_settings, tmp_path):
    spooled = spool_upload(Upload(b"q\n1\n"), job_settings)

    with spooled.opened().file as reopened:
        assert reopened.read() == b"q\n1\n"
    with pytest.raises(ImporterError, match="too large"):
        spool_upload(Upload(b"x" * 2000), job_settings)
    spooled.delete()

    assert list((tmp_path / "spool").iterdir()) == []


def test_the_job_imports_a_spooled_upload_and_records_its_status(job_settings, db):
    project = ProjectFactory()
    TaskFactory(project=project, info={"q": 1})
    db.commit()
    spooled = spool_upload(Upload(b"q\n1\n2\n3\n"), job_settings)

    run_import(job_settings, project.id, "csv", {"csv_url": None, "csv_file": spooled})

    db.expire_all()
    project = db.get(Project, project.id)
    assert [task.info for task in tasks_of(db, project)] == [{"q": 1}, {"q": 2}, {"q": 3}]
    status = import_status(job_settings, project)
    assert status["state"] == "done"
    assert (status["created"], status["skipped"], status["importer"]) == (2, 1, "csv")
    assert status["message"] == "2 new tasks were imported successfully (1 duplicate skipped)"
    assert not os.path.exists(spooled.path)


def test_a_failing_job_imports_nothing_and_says_why(job_settings, db):
    project = ProjectFactory()
    db.commit()
    spooled = spool_upload(Upload(b"q,n_answers\n1,2\n2,many\n"), job_settings)

    run_import(job_settings, project.id, "csv", {"csv_url": None, "csv_file": spooled})

    db.expire_all()
    project = db.get(Project, project.id)
    assert tasks_of(db, project) == []
    status = import_status(job_settings, project)
    assert status["state"] == "failed"
    assert "Record 2" in status["message"] and "n_answers" in status["message"]


def test_a_job_for_a_disabled_importer_fails_cleanly(job_settings, db):
    project = ProjectFactory()
    db.commit()

    run_import(job_settings, project.id, "flickr", {"album_id": "1"})

    db.expire_all()
    status = import_status(job_settings, db.get(Project, project.id))
    assert status["state"] == "failed" and "'flickr' is not enabled" in status["message"]


# --- crowdnest import --------------------------------------------------------------------------


def command(project: str, source: str | None, type_: str = "csv", fields=None) -> Namespace:
    return Namespace(project=project, type=type_, source=source, field=fields)


def test_the_command_imports_a_file_with_progress_on_stderr(job_settings, db, tmp_path, capsys):
    project = ProjectFactory()
    db.commit()
    path = tmp_path / "tasks.csv"
    path.write_text("question,n_answers\nA?,2\nB?,\n")

    code = import_command(job_settings, command(project.short_name, str(path)))

    err = capsys.readouterr().err
    assert code == 0
    assert "imported 2 tasks, 0 duplicates skipped (100 % of tasks.csv)" in err
    assert "2 new tasks were imported successfully" in err
    assert [(task.info, task.n_answers) for task in tasks_of(db, project)] == [
        ({"question": "A?"}, 2),
        ({"question": "B?"}, 30),
    ]


def test_the_command_takes_a_url_and_other_fields(job_settings, db, tmp_path, capsys):
    project = ProjectFactory()
    db.commit()
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([{"q": 1}]))

    code = import_command(
        job_settings, command(str(project.id), str(path), "json", ["json_url=ftp://nowhere"])
    )

    assert code == 0
    assert [task.info for task in tasks_of(db, project)] == [{"q": 1}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (command("nope", "x.csv"), "no project named 'nope'"),
        (command("{project}", "x.csv", "flickr"), "no enabled importer is named 'flickr'"),
        (command("{project}", "x.csv", fields=["oops"]), "--field wants NAME=VALUE"),
        (command("{project}", "ftp://example.org/x.csv"), "nothing imported: Please give a valid"),
    ],
)
def test_the_command_explains_mistakes(job_settings, db, args, message):
    project = ProjectFactory()
    db.commit()
    args.project = args.project.format(project=project.short_name)

    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        import_command(job_settings, args)

    assert tasks_of(db, project) == []


def test_the_command_imports_nothing_from_a_broken_file(job_settings, db, tmp_path):
    project = ProjectFactory()
    db.commit()
    path = tmp_path / "broken.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")

    with pytest.raises(CommandError, match="malformed CSV"):
        import_command(job_settings, command(project.short_name, str(path)))

    assert tasks_of(db, project) == []


def test_the_command_is_registered_on_the_crowdnest_parser():
    from core.cli import build_parser

    args = build_parser().parse_args(["import", "birds", "--type", "csv", "t.csv"])

    assert (args.project, args.type, args.source, args.run) == (
        "birds",
        "csv",
        "t.csv",
        import_command,
    )
