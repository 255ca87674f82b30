"""core.services.importer and the csv/json importer plugins, without the web pages."""

import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select, text

from core.hookspecs import hookimpl
from core.models import Project, ProjectStats, Task
from core.models.task import digest_of
from core.plugins import get_plugin_manager
from core.services.importer import (
    BATCH_SIZE,
    ImporterError,
    ImportReport,
    LimitedReader,
    digest_lookup,
    enabled_importers,
    import_tasks,
    open_url,
)
from core.settings import load_settings
from plugins.importers.csv import CSVImporter, cell_value, parse_csv, sheet_csv_url
from plugins.importers.json import JSONImporter, parse_json
from tests.factories import ProjectFactory, TaskFactory

SETTINGS = {
    "importer.max_bytes": 1024 * 1024,
    "importer.timeout": 5,
    "importer.allow_private_urls": True,
}


class Upload:
    """What webob hands over for a file field."""

    def __init__(self, data: bytes, filename: str = "tasks.csv"):
        self.filename = filename
        self.file = io.BytesIO(data)


def csv_records(text: str) -> list[dict]:
    return list(parse_csv(io.BytesIO(text.encode("utf-8"))))


def tasks_of(db, project) -> list[Task]:
    db.expire_all()
    return list(db.scalars(select(Task).where(Task.project_id == project.id).order_by(Task.id)))


# --- Records to tasks --------------------------------------------------------------------------


def test_import_creates_tasks_with_fields_and_info(db):
    project = ProjectFactory()
    records = [
        {"question": "A?", "n_answers": 3, "priority_0": 0.5, "calibration": 1},
        {"question": "B?", "user_pref": {"languages": ["en"]}, "quorum": ""},
    ]

    report = import_tasks(db, project, records)
    db.commit()

    assert report.as_dict() == {"created": 2, "skipped": 0, "errors": []}
    first, second = tasks_of(db, project)
    assert (first.info, first.n_answers, first.priority_0, first.calibration) == (
        {"question": "A?"},
        3,
        0.5,
        1,
    )
    assert (first.state, first.n_task_runs) == ("ongoing", 0)
    assert (second.info, second.n_answers, second.quorum) == ({"question": "B?"}, 30, 0)
    assert second.user_pref == {"languages": ["en"]}
    stats = db.scalars(select(ProjectStats).where(ProjectStats.project_id == project.id)).one()
    assert stats.n_tasks == 2


def test_import_skips_duplicates_of_existing_tasks_and_of_earlier_records(db):
    project = ProjectFactory()
    TaskFactory(project=project, info={"url": "a.png", "n": 1})
    records = [{"n": 1, "url": "a.png"}, {"url": "b.png"}, {"url": "b.png"}, {"url": "c.png"}]

    report = import_tasks(db, project, records, batch_size=1)
    db.commit()

    assert (report.created, report.skipped) == (2, 2)
    assert [task.info for task in tasks_of(db, project)][1:] == [
        {"url": "b.png"},
        {"url": "c.png"},
    ]
    assert report.message == "2 new tasks were imported successfully (2 duplicates skipped)"


def test_duplicates_across_batch_boundaries_are_skipped(db):
    project = ProjectFactory()
    TaskFactory(project=project, info={"n": 1, "url": "e.png"})
    urls = ["a", "b", "a", "c", "b", "d", "c", "e", "a", "f"]
    records = [{"url": f"{url}.png", **({"n": 1} if url == "e" else {})} for url in urls]

    # Batches of two: each duplicate of a/b/c is met in a later batch than its first record.
    report = import_tasks(db, project, records, batch_size=2)
    db.commit()

    assert (report.created, report.skipped) == (5, 5)
    assert [task.info["url"] for task in tasks_of(db, project)] == [
        "e.png",
        "a.png",
        "b.png",
        "c.png",
        "d.png",
        "f.png",
    ]


def test_imported_tasks_carry_the_digest_of_their_info(db):
    project = ProjectFactory()

    import_tasks(db, project, [{"b": [1, 2.5], "a": "é"}, {"q": None}], batch_size=1)
    db.commit()

    assert [task.info_digest for task in tasks_of(db, project)] == [
        digest_of({"a": "é", "b": [1, 2.5]}),
        digest_of({"q": None}),
    ]


def test_the_duplicate_check_looks_up_one_batch_of_digests_at_a_time(db, engine):
    from sqlalchemy import event

    project = ProjectFactory()
    for n in range(30):
        TaskFactory(project=project, info={"n": n})
    db.commit()
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        report = import_tasks(db, project, ({"n": n} for n in range(20, 50)), batch_size=10)
        db.commit()
    finally:
        event.remove(engine, "before_cursor_execute", record)

    selected = [sql.split(" FROM ")[0] for sql in statements if sql.startswith("SELECT")]
    lookups = [columns for columns in selected if columns.endswith(".info_digest")]
    assert (report.created, report.skipped) == (20, 10)
    assert len(lookups) == 3
    # The existing tasks' infos are never read: memory does not grow with the project.
    assert not [columns for columns in selected if re.search(r"\btask\.info\b(?!_)", columns)]


def test_postgresql_probes_the_digest_index_even_for_rows_it_just_inserted(db, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plan")
    project = ProjectFactory()
    # Statistics of an empty table, as on a new site: the import's rows are not in them.
    db.execute(text("ANALYZE task"))
    db.commit()
    import_tasks(db, project, ({"n": n} for n in range(1000)))
    # A batch's worth of digests, as the importer looks them up.
    digests = [digest_of({"n": n}) for n in range(BATCH_SIZE)]
    statement = digest_lookup("postgresql", project.id, digests)
    compiled = statement.compile(dialect=engine.dialect)

    plan = "\n".join(
        db.connection().exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars()
    )
    db.rollback()

    # One probe of the digest index per digest, never a walk through the project's tasks by an
    # index on project_id (quadratic imports).
    conditions = [line for line in plan.splitlines() if "Index Cond" in line]
    assert "Nested Loop" in plan
    assert "ix_task_info_digest_project" in plan
    assert [line.strip() for line in conditions] == ["Index Cond: (info_digest = wanted.digest)"]


def test_import_ignores_state_because_it_is_derived(db):
    project = ProjectFactory()

    import_tasks(db, project, [{"state": "completed", "q": 1}])
    db.commit()

    (task,) = tasks_of(db, project)
    assert (task.state, task.info) == ("ongoing", {"q": 1})


def test_duplicates_in_another_project_do_not_count(db):
    project, other = ProjectFactory(), ProjectFactory()
    TaskFactory(project=other, info={"q": 1})

    report = import_tasks(db, project, [{"q": 1}])

    assert (report.created, report.skipped) == (1, 0)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"q": 1, "n_answers": "many"}, "n_answers"),
        ({"q": 1, "n_answers": 0}, "n_answers: must be between 1 and 1000"),
        ({"q": 1, "priority_0": "high"}, "priority_0"),
        ({"q": "\x00"}, "NUL characters"),
        ("not a dict", "must be an object"),
    ],
)
def test_a_bad_record_imports_nothing(db, record, message):
    project = ProjectFactory()
    records = [{"q": n} for n in range(5)] + [record]

    with pytest.raises(ImporterError) as raised:
        import_tasks(db, project, records, batch_size=2)
    db.commit()

    assert message in raised.value.message
    assert "Record 6" in raised.value.message
    assert tasks_of(db, project) == []
    stats = db.scalars(select(ProjectStats).where(ProjectStats.project_id == project.id)).one()
    assert stats.n_tasks == 0


def test_an_error_raised_by_the_source_midway_imports_nothing(db):
    project = ProjectFactory()

    def records():
        yield {"q": 1}
        yield {"q": 2}
        raise ImporterError("The source broke.")

    with pytest.raises(ImporterError):
        import_tasks(db, project, records(), batch_size=1)
    db.commit()

    assert tasks_of(db, project) == []


def test_import_bumps_project_updated(db):
    project = ProjectFactory()
    before = project.updated

    import_tasks(db, project, [{"q": 1}])
    db.commit()

    assert db.get(Project, project.id).updated != before


@pytest.mark.parametrize(
    ("created", "skipped", "message"),
    [
        (0, 0, "It looks like there were no new records to import"),
        (1, 0, "1 new task was imported successfully"),
        (3, 1, "3 new tasks were imported successfully (1 duplicate skipped)"),
    ],
)
def test_report_messages(created, skipped, message):
    assert ImportReport(created=created, skipped=skipped).message == message


def test_import_of_many_rows_uses_one_insert_per_batch(db, engine):
    from sqlalchemy import event

    project = ProjectFactory()
    inserts = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO task"):
            inserts.append(executemany)

    event.listen(engine, "before_cursor_execute", count)
    try:
        report = import_tasks(db, project, ({"n": n} for n in range(1200)), batch_size=500)
        db.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert report.created == 1200
    assert len(inserts) <= 3
    assert db.scalar(select(func.count()).where(Task.project_id == project.id)) == 1200


# --- CSV ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("-3", -3),
        ("0.25", 0.25),
        ("", ""),
        ("007", "007"),
        ("1e5", "1e5"),
        ("NaN", "NaN"),
        (" 4", " 4"),
        ("abc", "abc"),
    ],
)
def test_csv_cells_follow_decision_13(text, value):
    converted = cell_value(text)

    assert converted == value
    assert type(converted) is type(value)


def test_csv_rows_become_records_with_blank_cells_as_empty_strings():
    text = "\ufeffquestion,url,n_answers,score\nWhat?,http://x/a.png,3,\nWho?,,,1.5\n\n"

    records = csv_records(text)

    assert records == [
        {"question": "What?", "url": "http://x/a.png", "n_answers": 3, "score": ""},
        {"question": "Who?", "url": "", "n_answers": "", "score": 1.5},
    ]


def test_csv_short_rows_are_padded_and_user_pref_is_json():
    records = csv_records('a,user_pref\n1\n2,"{""languages"": [""en""]}"\n')

    assert records == [{"a": 1, "user_pref": ""}, {"a": 2, "user_pref": {"languages": ["en"]}}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The file is empty"),
        ("a,,c\n1,2,3\n", "empty header on column 2"),
        ("a,b,a\n1,2,3\n", "two headers with the same name: a"),
        ("a,b\n1,2,3\n", "malformed CSV"),
        ('a,b\n"1,2\n', "malformed CSV"),
        ("a,user_pref\n1,{not json\n", "user_pref must be a JSON object"),
    ],
)
def test_broken_csv_files_are_refused(text, message):
    with pytest.raises(ImporterError) as raised:
        csv_records(text)

    assert message in raised.value.message


def test_csv_that_is_not_utf8_is_refused():
    with pytest.raises(ImporterError) as raised:
        list(parse_csv(io.BytesIO("a\ncafé\n".encode("latin-1"))))

    assert "not UTF-8" in raised.value.message


def test_csv_importer_reads_an_upload():
    importer = CSVImporter()

    records = list(importer.records({"csv_file": Upload(b"q\nA?\n"), "csv_url": None}, SETTINGS))

    assert records == [{"q": "A?"}]


def test_csv_importer_needs_a_url_or_a_file():
    empty_upload = Upload(b"", filename="")

    with pytest.raises(ImporterError) as raised:
        list(CSVImporter().records({"csv_url": "", "csv_file": empty_upload}, SETTINGS))

    assert raised.value.field == "csv_url"


def test_google_sheets_links_become_csv_export_links():
    edit = "https://docs.google.com/spreadsheets/d/1AbC-d_9/edit#gid=0"

    assert (
        sheet_csv_url(edit) == "https://docs.google.com/spreadsheets/d/1AbC-d_9/export?format=csv"
    )
    assert sheet_csv_url("http://example.org/a.csv") == "http://example.org/a.csv"


def test_upload_larger_than_the_limit_is_refused():
    settings = {**SETTINGS, "importer.max_bytes": 100}
    data = b"q\n" + b"a-long-enough-line\n" * 20

    with pytest.raises(ImporterError) as raised:
        list(CSVImporter().records({"csv_file": Upload(data)}, settings))

    assert "too large" in raised.value.message


def test_limited_reader_counts_every_read():
    reader = LimitedReader(io.BytesIO(b"x" * 10), max_bytes=8)

    assert reader.read(5) == b"xxxxx"
    with pytest.raises(ImporterError):
        reader.read(5)


# --- JSON --------------------------------------------------------------------------------------


def test_json_list_of_objects_becomes_records():
    data = b'[{"q": "A?", "n_answers": 2}, {"q": "B?", "nested": {"x": [1, 2]}}]'

    records = list(JSONImporter().records({"json_file": Upload(data, "t.json")}, SETTINGS))

    assert records == [{"q": "A?", "n_answers": 2}, {"q": "B?", "nested": {"x": [1, 2]}}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"q": 1}', "must be a list of objects"),
        (b'[{"q": 1}, 3]', "Item 2 of the JSON list is not an object"),
        (b"\xff\xfe\x00", "not"),
    ],
)
def test_broken_json_files_are_refused(data, message):
    with pytest.raises(ImporterError) as raised:
        list(parse_json(io.BytesIO(data)))

    assert message in raised.value.message


# --- URLs, from a local HTTP server ------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):
        status, content_type, body = self.routes.get(self.path, (404, "text/plain", b"missing"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A local server answering {path: (status, content type, body)}; yields (base url, routes)."""
    routes = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", routes
    server.shutdown()
    server.server_close()


def test_csv_importer_fetches_a_url(http_server):
    base, routes = http_server
    routes["/tasks.csv"] = (200, "text/csv; charset=utf-8", b"q,n_answers\nA?,2\n")

    records = list(CSVImporter().records({"csv_url": f"{base}/tasks.csv"}, SETTINGS))

    assert records == [{"q": "A?", "n_answers": 2}]


def test_json_importer_fetches_a_url(http_server):
    base, routes = http_server
    routes["/tasks.json"] = (200, "application/json", b'[{"q": 1}]')

    records = list(JSONImporter().records({"json_url": f"{base}/tasks.json"}, SETTINGS))

    assert records == [{"q": 1}]


@pytest.mark.parametrize(
    ("status", "content_type", "message"),
    [
        (403, "text/plain", "don't have permission"),
        (500, "text/plain", "HTTP 500"),
        (200, "text/html", "does not serve text/csv or text/plain"),
    ],
)
def test_bad_url_answers_are_reported(http_server, status, content_type, message):
    base, routes = http_server
    routes["/file"] = (status, content_type, b"<html></html>")

    with pytest.raises(ImporterError) as raised:
        open_url(f"{base}/file", SETTINGS, "csv_url", ("text/csv", "text/plain"))

    assert message in raised.value.message
    assert raised.value.field == "csv_url"


@pytest.mark.parametrize("url", ["ftp://example.org/a.csv", "not a url", "http://"])
def test_urls_must_be_http(url):
    with pytest.raises(ImporterError) as raised:
        open_url(url, SETTINGS, "csv_url", ())

    assert "valid http" in raised.value.message


def test_private_addresses_are_refused_unless_allowed(http_server):
    base, routes = http_server
    routes["/tasks.csv"] = (200, "text/csv", b"q\n1\n")
    settings = {**SETTINGS, "importer.allow_private_urls": False}

    with pytest.raises(ImporterError) as raised:
        open_url(f"{base}/tasks.csv", settings, "csv_url", ("text/csv",))

    assert "private network" in raised.value.message


def test_unreachable_url_is_reported():
    with pytest.raises(ImporterError) as raised:
        open_url("http://127.0.0.1:9/none.csv", SETTINGS, "csv_url", ())

    assert "could not be fetched" in raised.value.message


# --- The plugins and the hook ------------------------------------------------------------------


def test_hook_crowdnest_importers_gives_the_enabled_importers_in_ini_order():
    manager = get_plugin_manager(load_settings({"plugins.importers": "json csv"}, environ={}))

    importers = enabled_importers(manager)

    assert list(importers) == ["json", "csv"]
    assert isinstance(importers["csv"], CSVImporter)


def test_an_importer_not_listed_in_the_ini_is_off():
    manager = get_plugin_manager(load_settings({"plugins.importers": "csv"}, environ={}))

    assert list(enabled_importers(manager)) == ["csv"]


def test_a_third_party_importer_joins_through_the_hook(db):
    class LinesImporter:
        name = "lines"

        def records(self, values, settings):
            for line in values["lines"].splitlines():
                yield {"text": line}

    class Plugin:
        @hookimpl
        def crowdnest_importers(self):
            return {"lines": LinesImporter()}

    manager = get_plugin_manager(load_settings({}, environ={}))
    manager.register(Plugin())
    project = ProjectFactory()

    importer = enabled_importers(manager)["lines"]
    report = import_tasks(db, project, importer.records({"lines": "a\nb"}, SETTINGS))

    assert report.created == 2
