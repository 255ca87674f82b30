"""Bad input is a clear 4xx, never a 500 (issue 17 points 10 and 11; decisions 9, 14, 22).

Each test sends one kind of input that used to crash the server and checks the documented
answer: the API's JSON error shape under /api, an error page elsewhere.
"""

import io
import json

import pytest

from tests import factories
from tests.security.rawhttp import api_error, send

BIG = "99999999999999999999"


@pytest.fixture
def owner(db):
    return factories.UserFactory(admin=True)


def as_json(owner):
    return {"Content-Type": "application/json", "Authorization": owner.api_key}


# -- OPTIONS without Origin ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/project", "/api/project/1", "/api/favorites"])
def test_preflight_without_origin_is_a_400_in_the_api_shape(app, path):
    body = api_error(send(app, path, method="OPTIONS"), 400, "BadRequest")
    assert "Origin" in body["exception_msg"]


# -- integers out of range -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/api/task/{BIG}",
        f"/api/project/{BIG}",
        f"/api/{BIG}/newtask",
        "/api/task/2147483648",
        "/api/task/" + "9" * 5000,
    ],
)
def test_an_id_no_column_can_hold_is_not_found(app, path):
    api_error(send(app, path), 404, "NotFound")


def test_an_id_in_a_web_path_no_column_can_hold_is_a_404_page(app):
    response = send(app, f"/admin/users/del/{BIG}")
    assert response.status_int == 404


@pytest.mark.parametrize(
    "query",
    [
        f"id={BIG}",
        f"id=-{BIG}",
        f"project_id={BIG}",
        f"offset={BIG}",
        f"last_id={BIG}",
        "n_answers=2147483648",
    ],
)
def test_an_integer_filter_out_of_range_is_a_415(app, db, query):
    factories.TaskFactory()
    api_error(send(app, "/api/task", query=query), 415, "DataError")


def test_a_huge_limit_is_capped_as_before(app, db):
    factories.TaskFactory()
    assert send(app, "/api/task", query=f"limit={BIG}").status_int == 200


def test_newtask_and_favorites_refuse_out_of_range_numbers(app, owner):
    project = factories.ProjectFactory(owner=owner)
    api_error(send(app, f"/api/project/{project.id}/newtask", query=f"offset={BIG}"), 415)
    headers = {"Authorization": owner.api_key}
    favourites = send(app, "/api/favorites", query=f"last_id={BIG}", headers=headers)
    api_error(favourites, 415, "DataError")
    added = send(
        app, "/api/favorites", "POST", body=b'{"task_id": 99999999999}', headers=as_json(owner)
    )
    api_error(added, 404, "NotFound")


def test_an_integer_field_out_of_range_in_a_body_is_a_415(app, owner):
    project = factories.ProjectFactory(owner=owner)
    body = json.dumps({"project_id": project.id, "info": {}, "n_answers": 2**40}).encode()
    response = send(app, "/api/task", "POST", body=body, headers=as_json(owner))
    api_error(response, 415, "DataError")


# -- invalid UTF-8 and NUL in the URL --------------------------------------------------------


@pytest.mark.parametrize(
    "path, query",
    [
        ("/api/task/\xff", ""),
        ("/api/project", "short_name=%ff"),
        ("/api/project", "%ff=1"),
        ("/api/project", "info=a::%ed%a0%80"),
        ("/api/project", "name=a%00b"),
        ("/api/project", "info=a%00b::c"),
        ("/api/project", "created=a%00"),
        ("/api/userprogress/a\x00b", ""),
    ],
)
def test_an_unreadable_url_under_api_is_a_400_in_the_api_shape(app, path, query):
    api_error(send(app, path, query=query), 400, "BadRequest")


def test_an_unreadable_url_of_a_page_is_an_error_page(app):
    response = send(app, "/project/\xff/")
    assert response.status_int == 400
    assert response.content_type == "text/html"
    assert b"<html" in response.body


def test_an_unreadable_url_of_a_page_asking_json_answers_json(app):
    response = send(app, "/project/\xff/", headers={"Accept": "application/json"})
    assert response.status_int == 400
    assert json.loads(response.body)["code"] == 400


# -- NUL and lone surrogates in bodies --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a\\u0000b", "short_name": "nul", "description": "d"}',
        b'{"name": "\\ud800", "short_name": "lone", "description": "d"}',
        b'{"name": "ok", "short_name": "k", "description": "d", "info": {"k\\u0000": 1}}',
        b'{"name": "ok", "short_name": "v", "description": "d", "info": {"k": ["\\udfff"]}}',
    ],
)
def test_text_no_database_can_store_in_a_json_body_is_a_415(app, owner, body):
    response = send(app, "/api/project", "POST", body=body, headers=as_json(owner))
    api_error(response, 415, "DataError")


def test_a_json_info_filter_holding_an_escaped_nul_is_a_415(app, db):
    factories.ProjectFactory()
    response = send(app, "/api/project", query='info={"a":"%5Cu0000"}')
    api_error(response, 415, "DataError")


def test_a_form_field_holding_nul_is_a_400(app, owner):
    # Refused before the view runs (its CSRF check would also answer 400: look at the words).
    response = send(
        app,
        "/account/signin",
        "POST",
        body=b"email=a%00b%40example.com&password=x",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    assert response.status_int == 400
    assert "NUL" in json.loads(response.body)["description"]


def test_a_header_holding_nul_is_a_400(app, db):
    # An api key arrives in a header and is looked up before any view runs.
    response = send(app, "/api/project", headers={"Authorization": "key\x00"})
    api_error(response, 400, "BadRequest")


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_text_reaching_the_database_is_checked_there_too(db, text):
    from sqlalchemy import select

    from core.errors import DomainError
    from core.models import User

    with pytest.raises(DomainError, match="NUL characters or lone surrogates"):
        db.execute(select(User).where(User.name == text))


# -- JSON nesting ----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [65, 2000, 100_000])
def test_deeply_nested_json_is_a_415(app, owner, depth):
    body = b'{"name": "n", "info": ' + b"[" * depth + b"]" * depth + b"}"
    response = send(app, "/api/project", "POST", body=body, headers=as_json(owner))
    api_error(response, 415, "ValueError")


def test_json_within_the_depth_limit_is_stored(app, owner):
    category = factories.CategoryFactory()
    info = {"geometry": [[[[1, 2]]]]}
    body = {"name": "Deep", "short_name": "deep", "description": "d", "info": info}
    body["category_id"] = category.id
    data = json.dumps(body).encode()
    response = send(app, "/api/project", "POST", body=data, headers=as_json(owner))
    assert response.status_int == 200, response.body
    assert json.loads(response.body)["info"]["geometry"] == info["geometry"]


def test_a_deep_info_filter_is_a_415(app, db):
    response = send(app, "/api/project", query="info=" + "[" * 2000 + "]" * 2000)
    api_error(response, 415, "ValueError")


def test_deep_json_on_a_web_form_is_a_400(app):
    response = send(
        app,
        "/account/signin",
        "POST",
        body=b"[" * 5000 + b"]" * 5000,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_int == 400


# -- multipart -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", 'multipart/form-data; boundary=""']
)
def test_multipart_without_a_boundary_is_a_400(app, owner, content_type):
    headers = {"Content-Type": content_type, "Authorization": owner.api_key}
    response = send(app, "/api/taskrun", "POST", body=b"--x\r\n\r\n", headers=headers)
    api_error(response, 400, "BadRequest")


def test_a_multipart_field_holding_a_file_where_a_value_belongs_is_a_415(app, owner):
    task = factories.TaskFactory(project=factories.ProjectFactory(owner=owner))
    boundary = "xyz"
    parts = [
        ("project_id", None, str(task.project_id)),
        ("task_id", None, str(task.id)),
        ("info", "info.json", "{}"),
        ("file", "a.png", "png"),
    ]
    body = io.BytesIO()
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename else ""
        )
        body.write(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n".encode()
        )
    body.write(f"--{boundary}--\r\n".encode())
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Authorization": owner.api_key,
    }
    response = send(app, "/api/taskrun", "POST", body=body.getvalue(), headers=headers)
    api_error(response, 415, "DataError")


# -- SQLite info keys with quotes ------------------------------------------------------------


@pytest.mark.parametrize("key", ['a"b', "a'b", "a\\b", '"'])
def test_info_filters_find_keys_holding_quotes(app, db, key):
    project = factories.ProjectFactory(info={key: "v", "task_presenter": "x"})
    factories.TaskFactory(project=project, info={key: "v"})
    quoted = json.dumps({key: "v"})
    for query in (f"info={key}::v", f"info={quoted}"):
        response = send(app, "/api/task", query=query.replace("%", "%25").replace("&", "%26"))
        assert response.status_int == 200, response.body
        assert len(json.loads(response.body)) == 1, query


# -- request size (decision 22) --------------------------------------------------------------


def test_a_30_mb_info_is_refused_before_it_is_read(app, owner):
    class Unread(io.BytesIO):
        def read(self, *args):
            raise AssertionError("the body was read")

    length = 30 * 1024 * 1024
    environ = {"CONTENT_LENGTH": str(length), "wsgi.input": Unread()}
    response = send(app, "/api/project", "POST", headers=as_json(owner), environ=environ)
    body = api_error(response, 413, "RequestEntityTooLarge")
    assert "request.max_json_bytes" in body["exception_msg"]


def test_a_chunked_body_over_the_limit_is_refused(make_app, owner):
    app = make_app(request__max_json_bytes="1000")
    data = json.dumps({"name": "x" * 2000}).encode()
    environ = {
        "HTTP_TRANSFER_ENCODING": "chunked",
        "CONTENT_LENGTH": "",
        "wsgi.input": io.BytesIO(data),
        "wsgi.input_terminated": True,
    }
    response = send(app, "/api/project", "POST", headers=as_json(owner), environ=environ)
    api_error(response, 413, "RequestEntityTooLarge")


def test_a_chunked_body_within_the_limit_is_read(make_app, owner):
    app = make_app(request__max_json_bytes="1000")
    category = factories.CategoryFactory()
    data = json.dumps(
        {"name": "C", "short_name": "chunked", "description": "d", "category_id": category.id}
    ).encode()
    environ = {
        "HTTP_TRANSFER_ENCODING": "chunked",
        "CONTENT_LENGTH": "",
        "wsgi.input": io.BytesIO(data),
        "wsgi.input_terminated": True,
    }
    response = send(app, "/api/project", "POST", headers=as_json(owner), environ=environ)
    assert response.status_int == 200, response.body


def test_multipart_has_its_own_larger_limit(make_app, owner):
    app = make_app(request__max_json_bytes="1000", request__max_multipart_bytes="5000")
    headers = {"Content-Type": "multipart/form-data; boundary=x", "Authorization": owner.api_key}
    small = send(app, "/api/taskrun", "POST", body=b"--x\r\n" + b"a" * 3000, headers=headers)
    assert small.status_int != 413
    large = send(app, "/api/taskrun", "POST", body=b"--x\r\n" + b"a" * 6000, headers=headers)
    body = api_error(large, 413, "RequestEntityTooLarge")
    assert "request.max_multipart_bytes" in body["exception_msg"]


def test_a_web_form_over_the_limit_is_a_413_page(make_app):
    app = make_app(request__max_json_bytes="1000")
    response = send(
        app,
        "/account/signin",
        "POST",
        body=b"email=" + b"a" * 2000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_int == 413


def test_a_bad_content_length_is_a_400(app):
    response = send(app, "/api/project", "POST", environ={"CONTENT_LENGTH": "12x"})
    api_error(response, 400, "BadRequest")
