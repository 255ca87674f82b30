"""Nothing private is observable, not even as an oracle (issue 17 point 3, decision 17).

A filter, `orderby` (with or without `desc`), `info=key::value`, JSON containment or full-text
query on a field the caller may not read is answered exactly as one on a field that does not
exist: a right guess and a wrong guess get the same answer, so bisection learns nothing.
"""

import json
from urllib.parse import quote

import pytest

from core.models import Project, User
from core.services.readable import USER_OPEN_FIELDS, USER_PUBLIC_FIELDS, USER_QUERYABLE
from tests.factories import ProjectFactory, UserFactory
from tests.functional.api.roles import auth

NOBODY = "no_such_field"
# Every column of a user that someone other than the user and admins may not read.
USER_PRIVATE = sorted(
    c.key
    for c in User.__table__.columns
    if c.key not in {*USER_PUBLIC_FIELDS, *USER_OPEN_FIELDS, *USER_QUERYABLE}
)
# Beyond even an admin through /api/user (it never shows them).
USER_NEVER = ["api_key", "ckan_api", "passwd_hash"]
PROJECT_PRIVATE = [
    "secret_key",
    "webhook",
    "published",
    "allow_anonymous_contributors",
    "zip_download",
    "contacted",
]


def _query(app, model: str, query: str, user, status="*"):
    return app.get(f"/api/{model}?{query}", headers=auth(user), status=status)


def _as_unknown(app, model: str, key: str, query: str, user) -> None:
    """`query` on `key` is answered exactly as the same query on a field that does not exist."""
    answer = _query(app, model, query, user)
    unknown = _query(app, model, query.replace(key, NOBODY), user)
    assert answer.status_int == unknown.status_int == 415
    assert answer.json == json.loads(json.dumps(unknown.json).replace(NOBODY, key))


def _value(obj, key: str) -> str:
    value = getattr(obj, key)
    if isinstance(value, bool):
        return "true" if value else "false"
    return quote(str(value if value is not None else ""))


@pytest.fixture
def people(db):
    target = UserFactory(
        ckan_api="ckan-secret", info={"avatar": "a.png", "secret": "s3cret"}, privacy_mode=False
    )
    return {
        "anonymous": None,
        "other": UserFactory(),
        "self": target,
        "admin": UserFactory(admin=True),
        "target": target,
    }


# -- users ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["anonymous", "other", "self"])
@pytest.mark.parametrize("column", USER_PRIVATE)
@pytest.mark.parametrize("use", ["filter", "orderby", "orderby_desc"])
def test_private_user_columns_are_unknown(app, people, role, column, use):
    if column == "api_key" and use == "filter":
        pytest.skip("?api_key= authenticates the caller (behavior.md 5): never a filter")
    target = people["target"]
    query = {
        "filter": f"{column}={_value(target, column)}",
        "orderby": f"orderby={column}",
        "orderby_desc": f"orderby={column}&desc=true",
    }[use]

    _as_unknown(app, "user", column, query, people[role])


@pytest.mark.parametrize("column", USER_NEVER)
def test_columns_no_answer_shows_are_unknown_to_admins_too(app, people, column):
    target = people["target"]

    if column != "api_key":  # ?api_key= authenticates (behavior.md 5)
        _as_unknown(app, "user", column, f"{column}={_value(target, column)}", people["admin"])
    _as_unknown(app, "user", column, f"orderby={column}", people["admin"])


def test_right_and_wrong_guesses_of_an_email_get_the_same_answer(app, people):
    target = people["target"]
    right = _query(app, "user", f"email_addr={quote(target.email_addr)}", people["other"])
    wrong = _query(app, "user", "email_addr=nobody%40example.com", people["other"])
    ordered = _query(app, "user", "orderby=email_addr&desc=true", people["other"])

    assert right.status_int == wrong.status_int == ordered.status_int == 415
    assert right.json["exception_msg"] == wrong.json["exception_msg"]


def test_admins_may_filter_on_what_they_read(app, people):
    target = people["target"]

    found = _query(app, "user", f"email_addr={quote(target.email_addr)}", people["admin"]).json

    assert [user["name"] for user in found] == [target.name]


@pytest.mark.parametrize("role", ["anonymous", "other", "self"])
@pytest.mark.parametrize(
    "query",
    [
        "orderby=fullname",
        "orderby=created&desc=true",
        "fullname={fullname}",
        "info=avatar::a.png",
        'info={{"avatar": "a.png"}}',
    ],
)
def test_fields_hidden_by_privacy_mode_only_reach_open_profiles(app, people, role, query):
    hidden = UserFactory(fullname="Hidden Person", privacy_mode=True, info={"avatar": "a.png"})
    query = query.format(fullname=quote(hidden.fullname))

    names = [user["name"] for user in _query(app, "user", query, people[role], 200).json]

    assert hidden.name not in names


@pytest.mark.parametrize("role", ["anonymous", "other", "self"])
@pytest.mark.parametrize("fulltext", [False, True])
def test_private_user_info_keys_answer_as_unknown_keys(app, people, role, fulltext):
    suffix = "&fulltextsearch=1" if fulltext else ""
    answers = [
        _query(app, "user", f"info={key}::{value}{suffix}", people[role])
        for key, value in (("secret", "s3cret"), ("secret", "wrong"), (NOBODY, "s3cret"))
    ]
    contained = [
        _query(app, "user", "info=" + quote(json.dumps({key: "s3cret"})), people[role])
        for key in ("secret", NOBODY)
    ]

    assert [(a.status_int, a.json) for a in answers] == [
        (answers[2].status_int, answers[2].json)
    ] * 3
    assert contained[0].json == contained[1].json == []


def test_admins_search_every_info_key(app, people):
    found = _query(app, "user", "info=secret::s3cret", people["admin"], 200).json

    assert [user["name"] for user in found] == [people["target"].name]


# -- projects -----------------------------------------------------------------------------------


@pytest.fixture
def projects(db):
    owner = UserFactory()
    mine = ProjectFactory(
        owner=owner,
        webhook="https://hooks.example.com/secret",
        info={"task_presenter": "<p>", "note": "private words", "passwd_hash": "h"},
    )
    ProjectFactory(webhook="https://other.example.com/")
    return {
        "project": mine,
        "anonymous": None,
        "volunteer": UserFactory(),
        "owner": owner,
        "admin": UserFactory(admin=True),
    }


@pytest.mark.parametrize("role", ["anonymous", "volunteer", "owner"])
@pytest.mark.parametrize("column", PROJECT_PRIVATE)
@pytest.mark.parametrize("use", ["filter", "orderby", "orderby_desc"])
def test_private_project_columns_are_unknown_across_owners(app, projects, role, column, use):
    project = projects["project"]
    query = {
        "filter": f"{column}={_value(project, column)}",
        "orderby": f"orderby={column}",
        "orderby_desc": f"orderby={column}&desc=true",
    }[use]
    # all=1: every readable project, not only the caller's own.
    query += "&all=1"

    _as_unknown(app, "project", column, query, projects[role])


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_listing_their_own_projects_and_admins_may_use_private_columns(app, projects, role):
    project = projects["project"]
    query = f"secret_key={project.secret_key}&orderby=webhook"
    if role == "admin":
        query += "&all=1"  # admins' lists are of their own projects too, unless all=1

    found = _query(app, "project", query, projects[role], 200).json

    assert [p["id"] for p in found] == [project.id]


@pytest.mark.parametrize("role", ["anonymous", "volunteer", "owner", "admin"])
@pytest.mark.parametrize("mode", ["pairs", "fulltext", "contains"])
@pytest.mark.parametrize("key", ["note", "passwd_hash"])
def test_private_project_info_keys_answer_as_unknown_keys(app, projects, role, mode, key):
    project = projects["project"]
    stored = project.info[key]
    # The owner lists their own projects; the others every readable one.
    scope = "" if role == "owner" else "&all=1"

    def ask(name, value):
        if mode == "contains":
            query = "info=" + quote(json.dumps({name: value}))
        else:
            query = f"info={name}::{quote(value)}"
            if mode == "fulltext":
                query += "&fulltextsearch=1"
        return _query(app, "project", query + scope, projects[role], 200).json

    right = stored.split()[0] if mode == "fulltext" else stored
    found, wrong, unknown = ask(key, right), ask(key, "wrong"), ask(NOBODY, right)

    if role in ("owner", "admin") and key != "passwd_hash":
        assert [p["id"] for p in found] == [project.id]
    else:
        assert found == wrong == unknown == []


def test_project_answers_keep_private_columns_and_keys_to_owners(app, projects):
    project = projects["project"]

    shown = _query(app, "project", f"id={project.id}&all=1", projects["volunteer"], 200)
    shown = shown.json[0]
    owned = _query(app, "project", f"id={project.id}", projects["owner"], 200).json[0]

    assert not set(PROJECT_PRIVATE) & set(shown)
    assert set(shown["info"]) == {"task_presenter"}
    assert set(owned["info"]) == {"task_presenter", "note"}
    assert owned["secret_key"] == project.secret_key


# -- JSON page twins ------------------------------------------------------------------------------


def test_project_page_json_keeps_private_fields_to_owners(app, projects):
    project = projects["project"]
    body = app.get(
        f"/project/{project.short_name}/",
        headers={**auth(projects["volunteer"]), "Accept": "application/json"},
    ).json

    text = json.dumps(body)
    assert project.secret_key not in text
    assert "hooks.example.com" not in text and "private words" not in text
    assert projects["owner"].email_addr not in text and projects["owner"].api_key not in text


def test_profile_page_json_keeps_private_fields_to_its_user(app, people):
    target = people["target"]
    body = app.get(
        f"/account/{target.name}/",
        headers={**auth(people["other"]), "Accept": "application/json"},
    ).json

    text = json.dumps(body)
    assert target.email_addr not in text and target.api_key not in text
    assert "ckan-secret" not in text and "s3cret" not in text


def test_project_model_and_shaping_agree(db):
    # The private columns the tests enumerate are the serializer's.
    from core.serializers import PROJECT_PRIVATE as SHAPED

    assert set(PROJECT_PRIVATE) == SHAPED
    assert SHAPED <= {c.key for c in Project.__table__.columns}
