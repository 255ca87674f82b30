"""Issue 17, the smaller holes: default secrets, CSV formulas, CSRF on /api writes, co-owners,
short names and n_answers, secrets in logs (points 5, 8, 12, 13, 15, 16)."""

import csv
import io
import logging
import os
import zipfile
from types import SimpleNamespace

import pytest
from cornice.service import get_services
from pyramid.paster import get_appsettings
from pyramid_mailer.interfaces import IMailer
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from core import main
from core.gunicorn_logging import AccessLogger
from core.models import Auditlog, Favorite, Project, Task
from core.security import redact_url
from core.services.importer import ImporterError, import_tasks
from core.settings import InsecureSettings, check_secrets, load_settings
from tests.conftest import HERE
from tests.factories import CategoryFactory, ProjectFactory, TaskFactory, TaskRunFactory
from tests.functional.web.conftest import csrf_token, make_user, sign_in

STRONG = "0123456789abcdef0123456789abcdef"  # 32 bytes


def _auth(user) -> dict:
    return {"Authorization": user.api_key}


# -- point 5: production refuses default secrets (decision 18) ---------------------------------


@pytest.fixture
def no_secret_env(monkeypatch):
    for name in (
        "CROWDNEST_SESSION_SECRET",
        "CROWDNEST_IP_PSEUDONYM_KEY",
        "CROWDNEST_ENVIRONMENT",
        "CROWDNEST_SITE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_production_refuses_to_start_with_default_secrets(no_secret_env):
    with pytest.raises(InsecureSettings) as refused:
        main({"here": HERE}, environment="production")

    assert "session.secret" in str(refused.value)
    assert "ip.pseudonym_key" in str(refused.value)


@pytest.mark.parametrize(
    ("secrets", "named"),
    [
        ({"session.secret": "x" * 31, "ip.pseudonym_key": STRONG}, ["session.secret"]),
        ({"session.secret": STRONG, "ip.pseudonym_key": "short"}, ["ip.pseudonym_key"]),
        (
            {"session.secret": "development-only-secret-change-me", "ip.pseudonym_key": STRONG},
            ["session.secret"],
        ),
    ],
)
def test_production_names_each_weak_secret(no_secret_env, secrets, named):
    with pytest.raises(InsecureSettings) as refused:
        main({"here": HERE}, environment="production", **secrets)

    for key in ("session.secret", "ip.pseudonym_key"):
        assert (key in str(refused.value)) is (key in named)


def test_production_ini_refuses_until_the_secrets_are_set():
    settings = get_appsettings(os.path.join(HERE, "production.ini"), name="main")
    given = {
        "CROWDNEST_SESSION_SECRET": STRONG,
        "CROWDNEST_IP_PSEUDONYM_KEY": STRONG[::-1],
        "CROWDNEST_SITE_URL": "https://crowdnest.example.org",
    }

    with pytest.raises(InsecureSettings):
        check_secrets(load_settings(settings, environ={}, here=HERE))
    check_secrets(load_settings(settings, environ=given, here=HERE))


def test_production_refuses_to_start_without_site_url(no_secret_env):
    secrets = {"session.secret": STRONG, "ip.pseudonym_key": STRONG[::-1]}

    with pytest.raises(InsecureSettings) as refused:
        main({"here": HERE}, environment="production", **secrets)

    assert "site.url" in str(refused.value)


def test_development_ini_and_tests_start_with_their_secrets(app):
    settings = get_appsettings(os.path.join(HERE, "development.ini"), name="main")

    check_secrets(load_settings(settings, environ={}, here=HERE))
    assert app.get("/api/project").status_int == 200


# -- point 8: CSV exports neutralise formulas (decision 20) -----------------------------------

FORMULAS = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def _csv_rows(response) -> list[dict]:
    archive = zipfile.ZipFile(io.BytesIO(response.body))
    data = archive.read(archive.namelist()[0]).decode("utf-8")
    return list(csv.DictReader(io.StringIO(data, newline="")))


def test_csv_exports_neutralise_formulas_in_tasks_and_answers(app, db):
    project = ProjectFactory(short_name="sheet")
    info = {f"f{n}": formula for n, formula in enumerate(FORMULAS)}
    task = TaskFactory(project=project, info={**info, "number": -5, "text": "-5", "ok": "a=b"})
    TaskRunFactory(task=task, info={"answer": "=1+2", "score": -1.5})

    tasks = _csv_rows(app.get(f"/project/{project.short_name}/tasks/export?type=task&format=csv"))
    runs = _csv_rows(
        app.get(f"/project/{project.short_name}/tasks/export?type=task_run&format=csv")
    )

    row = tasks[0]
    assert [row[f"info_f{n}"] for n in range(len(FORMULAS))] == ["'" + f for f in FORMULAS]
    # A JSON number stays a number; the same characters as text are neutralised.
    assert (row["info_number"], row["info_text"], row["info_ok"]) == ("-5", "'-5", "a=b")
    assert (runs[0]["info_answer"], runs[0]["info_score"]) == ("'=1+2", "-1.5")


# -- point 12: CSRF on every state-changing /api route (decision 11) -----------------------------


def test_favorites_need_the_csrf_token_with_a_session(app, db):
    task = TaskFactory()
    user = make_user()
    sign_in(app, user)

    added = app.post_json("/api/favorites", {"task_id": task.id}, status=400).json
    assert added["exception_msg"] == "CSRF validation failed."
    assert db.scalars(select(Favorite)).all() == []

    db.add(Favorite(user_id=user.id, task_id=task.id))
    db.commit()
    removed = app.delete(f"/api/favorites/{task.id}", status=400).json
    assert removed["exception_msg"] == "CSRF validation failed."
    db.expire_all()
    assert len(db.scalars(select(Favorite)).all()) == 1

    token = {"X-CSRFToken": csrf_token(app, "/account/profile")}
    app.delete(f"/api/favorites/{task.id}", headers=token)
    app.post_json("/api/favorites", {"task_id": task.id}, headers=token)


def test_favorites_with_an_api_key_need_no_csrf_token(app, db):
    task = TaskFactory()
    user = make_user()

    app.post_json("/api/favorites", {"task_id": task.id}, headers=_auth(user))
    app.delete(f"/api/favorites/{task.id}", headers=_auth(user))


def _write_routes() -> list[tuple[str, str]]:
    """Every (method, path) of a Cornice service under /api that may change state."""
    routes = set()
    for service in get_services():
        if not service.path.startswith("/api"):
            continue
        for method, _, _ in service.definitions:
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                routes.add((method, service.path))
    return sorted(routes)


def test_every_state_changing_api_route_needs_the_csrf_token(app, db):
    task = TaskFactory()
    admin = make_user(admin=True)
    sign_in(app, admin)
    db.add(Favorite(user_id=admin.id, task_id=task.id))
    db.commit()
    routes = _write_routes()
    assert ("POST", "/api/favorites") in routes and ("PUT", "/api/project/{oid:\\d+}") in routes

    for method, path in routes:
        url = path.replace("{oid:\\d+}", str(task.id))
        response = app.request(
            url,
            method=method,
            body=f'{{"task_id": {task.id}}}'.encode(),
            content_type="application/json",
            expect_errors=True,
        )

        refused = response.json.get("exception_msg") == "CSRF validation failed."
        assert refused or response.status_int == 405, (method, path, response.status)


# -- point 13: co-owners (decision 23) -------------------------------------------------------


@pytest.fixture
def mailing_app(make_app):
    app = make_app(mail__mailer="dummy")
    outbox = app.app.registry.getUtility(IMailer).outbox
    outbox.clear()
    return SimpleNamespace(app=app, outbox=outbox)


def _owner_rows(db, project) -> list[Auditlog]:
    db.expire_all()
    query = select(Auditlog).where(
        Auditlog.project_id == project.id, Auditlog.attribute == "owners_ids"
    )
    return list(db.scalars(query))


def test_api_owner_change_is_logged_and_mailed(mailing_app, db):
    owner, coowner, newcomer = make_user(), make_user(), make_user()
    project = ProjectFactory(owner=owner, coowners=[coowner])

    mailing_app.app.put_json(
        f"/api/project/{project.id}",
        {"owners_ids": [coowner.id, newcomer.id]},
        headers=_auth(owner),
    )

    rows = _owner_rows(db, project)
    assert [(row.old_value, row.new_value) for row in rows] == [
        (f"[{owner.id}, {coowner.id}]", f"[{owner.id}, {coowner.id}, {newcomer.id}]")
    ]
    assert rows[0].user_id == owner.id and rows[0].caller == "api"
    assert [message.recipients for message in mailing_app.outbox] == [[newcomer.email_addr]]
    assert project.name in mailing_app.outbox[0].body


def test_api_create_with_owners_ids_is_logged_and_mailed(mailing_app, db):
    CategoryFactory()
    owner, invited = make_user(), make_user()

    body = mailing_app.app.post_json(
        "/api/project",
        {"name": "Birds", "short_name": "birds", "description": "d", "owners_ids": [invited.id]},
        headers=_auth(owner),
    ).json

    project = db.get(Project, body["id"])
    assert [row.new_value for row in _owner_rows(db, project)] == [f"[{owner.id}, {invited.id}]"]
    assert [message.recipients for message in mailing_app.outbox] == [[invited.email_addr]]


def test_api_coowner_cannot_change_owners_but_may_send_them_back(mailing_app, db):
    owner, coowner, stranger = make_user(), make_user(), make_user()
    project = ProjectFactory(owner=owner, coowners=[coowner])
    url = f"/api/project/{project.id}"

    mailing_app.app.put_json(
        url, {"owners_ids": [coowner.id, stranger.id]}, headers=_auth(coowner), status=403
    )
    mailing_app.app.put_json(
        url, {"owners_ids": [owner.id, coowner.id], "description": "x"}, headers=_auth(coowner)
    )

    assert _owner_rows(db, project) == []
    assert mailing_app.outbox == []


def test_web_added_coowner_is_told_by_mail(mailing_app, db):
    owner, newcomer = make_user(), make_user()
    project = ProjectFactory(owner=owner)
    app = mailing_app.app
    sign_in(app, owner)
    token = csrf_token(app, f"/project/{project.short_name}/coowners")

    app.post(
        f"/project/{project.short_name}/add_coowner/{newcomer.name}",
        {"csrf": token},
        headers={"X-CSRFToken": token},
    )

    assert len(_owner_rows(db, project)) == 1
    assert [message.recipients for message in mailing_app.outbox] == [[newcomer.email_addr]]


# -- point 15: short_name and n_answers ---------------------------------------------------------

BAD_SHORT_NAMES = ["a/b", "..", "<script>", "bird\u202ename", "two words", "dot.ted", "x\n"]


@pytest.mark.parametrize("short_name", BAD_SHORT_NAMES)
def test_api_refuses_unsafe_short_names(app, db, short_name):
    CategoryFactory()
    owner = make_user()
    project = ProjectFactory(owner=owner, short_name="kept")

    created = app.post_json(
        "/api/project",
        {"name": "N", "short_name": short_name, "description": "d"},
        headers=_auth(owner),
        status=415,
    ).json
    updated = app.put_json(
        f"/api/project/{project.id}", {"short_name": short_name}, headers=_auth(owner), status=415
    ).json

    assert created["exception_cls"] == updated["exception_cls"] == "DataError"
    assert "short_name" in created["exception_msg"]
    db.expire_all()
    assert db.scalars(select(Project.short_name)).all() == ["kept"]


@pytest.mark.parametrize("short_name", ["birds", "Birds_2", "flickr-person", "a"])
def test_api_accepts_slug_short_names(app, db, short_name):
    CategoryFactory()
    owner = make_user()

    app.post_json(
        "/api/project",
        {"name": "N", "short_name": short_name, "description": "d"},
        headers=_auth(owner),
    )


@pytest.mark.parametrize("short_name", BAD_SHORT_NAMES)
def test_web_refuses_unsafe_short_names(app, db, short_name):
    CategoryFactory()
    sign_in(app, make_user())
    token = csrf_token(app, "/project/new")

    body = app.post_json(
        "/project/new",
        {"name": "Count birds", "short_name": short_name, "description": "d", "csrf": token},
        headers={"X-CSRFToken": token},
    ).json

    assert "short_name" in body["form"]["errors"]
    assert db.scalars(select(Project)).all() == []


@pytest.mark.parametrize("n_answers", [0, -1, 1_001])
def test_api_refuses_n_answers_out_of_range(app, db, n_answers):
    owner = make_user()
    project = ProjectFactory(owner=owner)
    task = TaskFactory(project=project)

    created = app.post_json(
        "/api/task",
        {"project_id": project.id, "info": {}, "n_answers": n_answers},
        headers=_auth(owner),
        status=415,
    ).json
    app.put_json(
        f"/api/task/{task.id}", {"n_answers": n_answers}, headers=_auth(owner), status=415
    )

    assert "n_answers" in created["exception_msg"]
    db.expire_all()
    assert db.get(Task, task.id).n_answers == 2


def test_api_accepts_n_answers_in_range(app, db):
    owner = make_user()
    project = ProjectFactory(owner=owner)

    for n_answers in (1, 1_000):
        body = app.post_json(
            "/api/task",
            {"project_id": project.id, "info": {}, "n_answers": n_answers},
            headers=_auth(owner),
        ).json
        assert body["n_answers"] == n_answers


@pytest.mark.parametrize("n_answers", [0, -3, 1_001])
def test_import_refuses_n_answers_out_of_range(db, n_answers):
    project = ProjectFactory()

    with pytest.raises(ImporterError) as refused:
        import_tasks(db, project, [{"q": 1, "n_answers": n_answers}])

    assert "n_answers" in refused.value.message


# -- point 16: secrets never logged -------------------------------------------------------------


def test_sql_errors_do_not_show_bound_parameters(engine):
    secret = "api-key-0f3c9a7e"

    with pytest.raises(DBAPIError) as failed, engine.connect() as connection:
        connection.execute(
            text("SELECT secret FROM no_such_table WHERE key = :key"), {"key": secret}
        )

    assert secret not in str(failed.value)


def test_the_lean_path_engine_hides_parameters_too(app_settings):
    from core.db import get_engine

    engine = get_engine(app_settings, generic_plans=True)
    try:
        assert engine.hide_parameters is True
    finally:
        engine.dispose()


def test_urls_in_logs_mask_credentials():
    line = "GET /api/project?api_key=abc123&limit=5 HTTP/1.1 /account/reset?key=signed.token"

    masked = redact_url(line)

    assert "abc123" not in masked and "signed.token" not in masked
    assert "api_key=***" in masked and "limit=5" in masked


def test_access_log_lines_mask_the_api_key():
    from gunicorn.config import Config

    logger = AccessLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/task?api_key=abc123",
        "PATH_INFO": "/api/task",
        "QUERY_STRING": "api_key=abc123",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": "http://x/?api_key=abc123",
    }
    response = SimpleNamespace(status="200 OK", headers=[], sent=10)
    request = SimpleNamespace(headers=[("AUTHORIZATION", "abc123")])
    elapsed = SimpleNamespace(seconds=0, microseconds=1000)

    atoms = logger.atoms(response, request, environ, elapsed)

    assert not [name for name, value in atoms.items() if "abc123" in str(value)]


def test_an_unexpected_error_logs_no_api_key(app, db, caplog, monkeypatch):
    user = make_user()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("core.api.favorites._page", broken)
    with caplog.at_level(logging.ERROR):
        app.get(f"/api/favorites?api_key={user.api_key}", status=500)

    assert "boom" in caplog.text
    assert user.api_key not in caplog.text
