"""GET /api/openapi.json: a valid OpenAPI 3.1 document that names every /api route and method.

The fuzzer (tests/fuzz/run.py, `make fuzz`) generates its requests from this document: a route
missing from it is a route never fuzzed, so a new service must be documented to pass.
"""

import pytest
from cornice import Service
from cornice.service import SERVICES
from openapi_spec_validator import validate

from core.openapi import (
    METHODS,
    function_operations,
    path_template,
    service_operations,
    undocumented,
)

LIST_KEYS = {"limit", "offset", "last_id", "orderby", "desc", "all", "related", "fulltextsearch"}


@pytest.fixture
def document(app):
    return app.get("/api/openapi.json").json


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_cornice_service_and_method_is_in_the_document(document):
    expected = {
        (path_template(pattern)[0], method.lower())
        for _, pattern, method, _, _ in service_operations()
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert expected - documented == set()
    names = {path for path, _ in expected}
    for path in (
        "/api/project/{project_id}/newtask",
        "/api/{project_id}/newtask",
        "/api/project/{project}/userprogress",
        "/api/token",
        "/api/token/{provider}",
        "/api/favorites",
        "/api/globalstats",
        "/api/auth/project/{short_name}/token",
        "/api/disqus/sso",
        "/api/projectstats",
    ):
        assert path in names
    assert "get" in document["paths"]["/api"]


def test_every_function_service_is_described(app):
    assert undocumented(app.app.registry) == []


def test_a_new_service_without_a_description_is_reported(app):
    service = Service(name="fuzz_probe", path="/api/fuzzprobe", cors_origins=("*",))
    service.add_view("GET", lambda request: {})
    try:
        assert ("fuzz_probe", "GET") in undocumented(app.app.registry)
    finally:
        SERVICES.remove(service)
    assert ("fuzz_probe", "GET") not in function_operations()


def test_lists_document_the_query_parameters_and_filters(document):
    operation = document["paths"]["/api/task"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert LIST_KEYS <= names
    assert {"project_id", "state", "info", "created"} <= names
    # Private and internal columns are neither filters nor orderings (decision 17).
    users = document["paths"]["/api/user"]["get"]["parameters"]
    user_names = {parameter["name"] for parameter in users}
    assert not {"email_addr", "api_key", "passwd_hash"} & user_names
    orderby = next(p for p in users if p["name"] == "orderby")
    assert "email_addr" not in orderby["schema"]["enum"]
    projects = document["paths"]["/api/project"]["get"]["parameters"]
    assert not {"secret_key", "webhook"} & {parameter["name"] for parameter in projects}


def test_bodies_come_from_the_colander_schemas(document):
    body = document["paths"]["/api/task"]["post"]["requestBody"]["content"]["application/json"]
    schema = body["schema"]
    assert schema["additionalProperties"] is False
    assert "id" not in schema["properties"]  # reserved
    assert "n_task_runs" not in schema["properties"]  # internal
    assert schema["properties"]["n_answers"]["type"] in ("integer", ["integer", "null"])
    assert (
        "multipart/form-data"
        in (document["paths"]["/api/taskrun"]["post"]["requestBody"]["content"])
    )


def test_errors_have_the_documented_shape(document):
    for path, operations in document["paths"].items():
        if path in ("/api", "/api/openapi.json"):
            continue
        for method, operation in operations.items():
            assert method.upper() in METHODS
            assert "401" in operation["responses"]
            # gunicorn's own answer to a request line over 4094 bytes (found by the fuzzer).
            assert "text/html" in operation["responses"]["414"]["content"]
            for status in ("400", "404", "415", "500"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (
                    path,
                    method,
                    status,
                )
    assert set(document["components"]["schemas"]["Error"]["required"]) == {
        "action",
        "status",
        "status_code",
        "target",
        "exception_cls",
        "exception_msg",
    }


# -- what the fuzzer found ---------------------------------------------------------------------


@pytest.mark.parametrize("info", [5, 2.5, -1])
def test_a_task_whose_info_is_a_number_does_not_break_the_lists(app, db, info):
    """SQLite stores a JSON number in a JSON column as a number: reading it back was a 500
    for every later list of tasks, whoever asked."""
    from tests.factories import ProjectFactory, UserFactory

    owner = UserFactory()
    project = ProjectFactory(owner=owner)
    key = owner.api_key
    created = app.post_json(f"/api/task?api_key={key}", {"project_id": project.id, "info": info})
    assert created.json["info"] == info
    assert [task["info"] for task in app.get("/api/task").json] == [info]
    assert app.get(f"/api/task/{created.json['id']}").json["info"] == info
