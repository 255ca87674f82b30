"""core.services.export and `crowdnest export`: flattening, JSON and CSV text, the zip stream."""

import io
import json
import random
import zipfile

import pytest

from core.cli import main
from core.services.export import (
    ExportError,
    ExportTarget,
    csv_cell,
    csv_chunks,
    csv_header,
    document_keys,
    flat_record,
    json_chunks,
    safe_name,
    zip_stream,
)
from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory

# --- names ---------------------------------------------------------------------------------------


def test_file_names_follow_pybossa():
    target = ExportTarget(1, "birds", "task_run", "csv")

    assert target.member_name == "birds_task_run.csv"
    assert target.zip_name == "birds_task_run_csv.zip"


def test_short_names_are_made_safe_for_a_file_name():
    assert safe_name('Oiseaux "été"/1') == "Oiseaux___t___1"
    assert safe_name("..") == "project"


@pytest.mark.parametrize(("kind", "fmt"), [("user", "csv"), ("task", "xml")])
def test_unknown_types_and_formats_are_refused(kind, fmt):
    with pytest.raises(ExportError):
        ExportTarget(1, "birds", kind, fmt)


# --- flattening ----------------------------------------------------------------------------------


def test_flat_record_spreads_nested_objects_with_underscores():
    record = {"id": 1, "info": {"a": {"b": 1, "c": {"d": "x"}}, "e": [1, 2], "f": {}}}

    assert flat_record(record, ("info",)) == {
        "id": 1,
        "info_a_b": 1,
        "info_a_c_d": "x",
        "info_e": [1, 2],
    }


def test_flat_record_leaves_a_plain_info_alone():
    assert flat_record({"id": 1, "info": "text"}, ("info",)) == {"id": 1, "info": "text"}
    assert flat_record({"id": 1, "info": None}, ("info",)) == {"id": 1, "info": None}


def test_csv_header_is_the_api_fields_with_the_keys_of_every_row_sorted():
    documents = [({"b": 1, "a": {"x": 1}},), ({"c": 2},), (None,)]

    header = csv_header("task_run", *document_keys("task_run", documents))

    assert header[:4] == ["id", "created", "project_id", "task_id"]
    assert header[-3:] == ["info_a_x", "info_b", "info_c"]
    assert "info" not in header


def test_csv_header_keeps_the_field_when_a_row_holds_a_plain_value():
    header = csv_header("task_run", *document_keys("task_run", [({"b": 1},), ("plain",)]))

    assert header[-2:] == ["info", "info_b"]


def test_csv_header_of_tasks_flattens_user_pref_too():
    header = csv_header("task", *document_keys("task", [({"q": 1}, {"languages": ["en"]})]))

    assert "info_q" in header and "user_pref_languages" in header
    assert header[-1] == "fav_user_ids"


@pytest.mark.parametrize(
    ("value", "cell"),
    [(None, None), (True, True), ("é", "é"), ([1, "é"], '[1,"é"]'), ({"a": 1}, '{"a":1}')],
)
def test_csv_cells(value, cell):
    assert csv_cell(value) == cell


def test_csv_chunks_write_one_chunk_per_batch():
    header = ["id", "info", "info_a"]
    batches = [[{"id": 1, "info": {"a": "x,y"}}], [{"id": 2, "info": "plain"}]]

    chunks = list(csv_chunks(header, "result", batches))

    assert len(chunks) == 3
    assert b"".join(chunks).decode() == 'id,info,info_a\r\n1,,"x,y"\r\n2,plain,\r\n'


# --- JSON ----------------------------------------------------------------------------------------


def test_json_chunks_make_one_array():
    batches = [[{"id": 1, "info": "été"}, {"id": 2}], [], [{"id": 3}]]

    text = b"".join(json_chunks(batches)).decode()

    assert json.loads(text) == [{"id": 1, "info": "été"}, {"id": 2}, {"id": 3}]


def test_json_chunks_of_nothing_is_an_empty_array():
    assert json.loads(b"".join(json_chunks([]))) == []


# --- the zip -------------------------------------------------------------------------------------


def test_zip_stream_compresses_as_the_chunks_come():
    noise = random.Random(3)
    consumed = []

    def chunks():
        for number in range(50):
            consumed.append(number)
            # Random bytes: deflate cannot hold them back for long.
            yield noise.randbytes(20_000)

    # How many chunks had been read when each piece of the zip came out.
    read_when_produced = [len(consumed) for _ in zip_stream("data.bin", chunks())]

    assert read_when_produced[0] == 0
    assert len([read for read in read_when_produced if 0 < read < 50]) >= 10


def test_zip_stream_makes_a_valid_zip64_archive():
    text = "".join(f"{number},été\n" for number in range(5000)).encode()

    body = b"".join(zip_stream("data.csv", [text[:1000], text[1000:]]))
    archive = zipfile.ZipFile(io.BytesIO(body))

    assert archive.testzip() is None
    assert archive.namelist() == ["data.csv"]
    assert archive.read("data.csv") == text
    assert archive.getinfo("data.csv").compress_type == zipfile.ZIP_DEFLATED


# --- `crowdnest export` --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch):
    monkeypatch.delenv("CROWDNEST_SQLALCHEMY_URL", raising=False)
    monkeypatch.delenv("CROWDNEST_EXPORT_BATCH_SIZE", raising=False)


@pytest.fixture
def ini(tmp_path, database_url, db):
    path = tmp_path / "test.ini"
    path.write_text(
        "[app:main]\n"
        "use = egg:crowdnest\n"
        f"sqlalchemy.url = {database_url}\n"
        "export.batch_size = 2\n"
    )
    return str(path)


@pytest.fixture
def project(db):
    project = ProjectFactory(short_name="birds")
    task = TaskFactory(project=project, info={"question": "Où ?"})
    for answer in ("ici", "là", "ailleurs"):
        TaskRunFactory(task=task, info={"answer": answer})
    return project


def test_export_command_writes_the_zip_and_reports_progress(ini, project, tmp_path, capsys):
    output = tmp_path / "runs.zip"

    code = main(
        ["-c", ini, "export", "birds", "--type", "task_run", "--format", "csv", "-o", str(output)]
    )
    _, err = capsys.readouterr()

    archive = zipfile.ZipFile(output)
    lines = archive.read("birds_task_run.csv").decode().splitlines()
    assert code == 0
    assert "info_answer" in lines[0].split(",")
    assert [line.rsplit(",", 1)[-1] for line in lines[1:]] == ["ici", "là", "ailleurs"]
    assert "exported 3/3 task runs (100 %)" in err
    assert f"wrote {output}: 3 task runs" in err
    assert not (tmp_path / "runs.zip.part").exists()


def test_export_command_names_the_file_like_the_web_download(ini, project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    code = main(["-c", ini, "export", str(project.id), "--format", "json"])

    tasks = json.loads(zipfile.ZipFile(tmp_path / "birds_task_json.zip").read("birds_task.json"))
    assert code == 0
    assert [task["info"] for task in tasks] == [{"question": "Où ?"}]


def test_export_command_refuses_an_unknown_project(ini, db, capsys):
    code = main(["-c", ini, "export", "nope"])

    assert code == 1
    assert "no project named 'nope'" in capsys.readouterr().err


def test_export_command_refuses_an_unknown_type(ini, capsys):
    with pytest.raises(SystemExit):
        main(["-c", ini, "export", "birds", "--type", "user"])

    assert "invalid choice: 'user'" in capsys.readouterr().err
