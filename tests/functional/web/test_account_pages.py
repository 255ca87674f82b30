"""The account, admin and help pages of issue 18: applications, export, delete, users export,
license (behavior.md 9.3, 9.6, 9.8)."""

import csv
import io
import json
import zipfile

import pytest
from pyramid_mailer.interfaces import IMailer
from sqlalchemy import func, select

from core import jobs
from core.models import Auditlog, Favorite, Project, Result, Task, TaskRun, User
from core.services import account_data
from tests.factories import ProjectFactory, ResultFactory, TaskFactory, TaskRunFactory
from tests.functional.web.conftest import JSON, PASSWORD, csrf_token, make_user, sign_in


@pytest.fixture
def app(make_app):
    """The application with its mails kept in an emptied outbox."""
    application = make_app(mail__mailer="dummy")
    outbox(application).clear()
    return application


def outbox(app) -> list:
    return app.app.registry.getUtility(IMailer).outbox


def token(app) -> str:
    return csrf_token(app, "/account/profile")


def refused_anonymous(response) -> bool:
    """§9.1: a 302 to sign in; the JSON twin answers 401 until issue 18 point 3 lands."""
    if response.status_int == 302:
        return "/account/signin" in response.location
    return response.status_int == 401


def account_exists(db, user_id: int) -> bool:
    """Asked of the database, in a fresh snapshot (the identity map remembers deleted rows)."""
    db.rollback()
    return db.scalar(select(func.count()).where(User.id == user_id)) == 1


@pytest.fixture
def people(db):
    """ada answered bob's project (as did cy), owns nothing alone and co-owns bob's project."""
    bob = make_user(name="bob")
    ada = make_user(name="ada", fullname="Ada Lovelace", info={"k": "=HYPERLINK(1)"})
    cy = make_user(name="cy")
    project = ProjectFactory(owner=bob, coowners=[ada], short_name="birds", name="Birds")
    task = TaskFactory(project=project, n_answers=2)
    other = TaskFactory(project=project, n_answers=2)
    ada_run = TaskRunFactory(user=ada, task=task, info={"answer": "-2+3"})
    cy_run = TaskRunFactory(user=cy, task=task, info={"answer": "yes"})
    TaskRunFactory(user=ada, task=other)
    result = ResultFactory(task=task, task_run_ids=[ada_run.id, cy_run.id], info={"a": 1})
    db.add(Favorite(task_id=task.id, user_id=ada.id))
    db.commit()
    return {"ada": ada, "bob": bob, "cy": cy, "project": project, "task": task, "result": result}


# --- /account/<name>/applications ---------------------------------------------------------------


def test_applications_lists_own_projects_as_projects_does(app, people):
    sign_in(app, people["ada"])

    body = app.get("/account/ada/applications", headers=JSON).json

    assert body == app.get("/account/ada/projects", headers=JSON).json
    assert [p["short_name"] for p in body["projects_published"]] == ["birds"]
    assert "Birds" in app.get("/account/ada/applications").text


def test_applications_rights(app, people):
    assert refused_anonymous(app.get("/account/ada/applications", headers=JSON, status="*"))
    assert app.get("/account/ada/applications").status_int == 302
    sign_in(app, people["cy"])
    app.get("/account/ada/applications", headers=JSON, status=403)
    app.get("/account/ada/applications", status=403)
    app.get("/account/nobody/applications", headers=JSON, status=404)


def test_applications_refuse_an_admin(app, people):
    """behavior.md 9.3: the account itself only, else 403."""
    sign_in(app, make_user(admin=True))
    app.get("/account/ada/applications", headers=JSON, status=403)


# --- /account/<name>/export ---------------------------------------------------------------------


def exported(message) -> dict[str, bytes]:
    (attachment,) = message.attachments
    archive = zipfile.ZipFile(io.BytesIO(attachment.data))
    return {name: archive.read(name) for name in archive.namelist()}


def test_export_page_and_mail(app, people):
    ada = people["ada"]
    sign_in(app, ada)
    page = app.get("/account/ada/export", headers=JSON).json
    assert page["template"] == "account/export.html" and page["form"]["csrf"]
    assert "Send me my data" in app.get("/account/ada/export").text

    answer = app.post_json(
        "/account/ada/export", {}, headers={"X-CSRFToken": page["form"]["csrf"]}
    )

    assert answer.json["next"] == "/account/ada/" and answer.json["status"] == "success"
    (message,) = [m for m in outbox(app) if ada.email_addr in m.recipients]
    files = exported(message)
    assert sorted(files) == sorted(
        f"ada_{part}.{kind}"
        for part in ("account", "projects", "task_runs", "favorites")
        for kind in ("json", "csv")
    )
    account = json.loads(files["ada_account.json"])[0]
    assert account["email_addr"] == ada.email_addr and account["name"] == "ada"
    runs = json.loads(files["ada_task_runs.json"])
    assert len(runs) == 2 and {"answer": "-2+3"} in [r["info"] for r in runs]
    assert [p["short_name"] for p in json.loads(files["ada_projects.json"])] == ["birds"]
    assert [f["task_id"] for f in json.loads(files["ada_favorites.json"])] == [people["task"].id]
    # A formula in the account's info is inert in the CSV (decision 20).
    row = next(csv.DictReader(io.StringIO(files["ada_account.csv"].decode())))
    assert row["info"] == '{"k":"=HYPERLINK(1)"}' and row["fullname"] == "Ada Lovelace"


def test_export_holds_no_secret_of_anyone(app, people):
    ada, bob, cy = people["ada"], people["bob"], people["cy"]
    project = people["project"]
    sign_in(app, ada)
    app.post_json("/account/ada/export", {}, headers={"X-CSRFToken": token(app)})

    everything = b"".join(exported(outbox(app)[-1]).values()).decode()

    secrets = [ada.api_key, ada.passwd_hash, bob.api_key, bob.email_addr, cy.email_addr]
    secrets += [cy.api_key, project.secret_key]
    assert not [secret for secret in secrets if secret in everything]
    assert "passwd_hash" not in everything and "api_key" not in everything


def test_export_csv_neutralises_formulas(app, people):
    sign_in(app, people["ada"])
    app.post_json("/account/ada/export", {}, headers={"X-CSRFToken": token(app)})
    runs = exported(outbox(app)[-1])["ada_task_runs.csv"].decode()
    assert '"{""answer"":""-2+3""}"' in runs  # an object: JSON text, no formula start


def test_export_rights_and_csrf(app, people):
    assert refused_anonymous(app.get("/account/ada/export", headers=JSON, status="*"))
    assert app.get("/account/ada/export").status_int == 302
    sign_in(app, people["cy"])
    app.get("/account/ada/export", headers=JSON, status=403)
    app.post_json("/account/ada/export", {}, headers={"X-CSRFToken": token(app)}, status=403)
    sent = len(outbox(app))
    app.post_json("/account/cy/export", {}, status=400)  # no CSRF token
    assert len(outbox(app)) == sent


def test_admin_exports_an_account_to_its_own_address(app, people):
    ada = people["ada"]
    admin = make_user(admin=True)
    sign_in(app, admin)
    app.post_json("/account/ada/export", {}, headers={"X-CSRFToken": token(app)})
    assert outbox(app)[-1].recipients == [ada.email_addr]


def test_export_runs_as_a_job_on_redis(make_app, people, redis_url, redis_client):
    """With Redis the export is queued on RQ, not run by the request."""
    import rq

    app = make_app(redis__url=redis_url, mail__mailer="dummy")
    queue = rq.Queue("default", connection=redis_client)
    ada = people["ada"]
    sign_in(app, ada)
    app.post_json("/account/ada/export", {}, headers={"X-CSRFToken": token(app)})
    # Only this test's job: other tests may share the queue (pytest -n).
    mine = [
        job
        for job in queue.jobs
        if job.func_name == "core.services.account_data.export_account_job"
        and job.args == (ada.id,)
    ]
    assert len(mine) == 1
    assert not [m for m in outbox(app) if ada.email_addr in m.recipients]
    for job in mine:
        job.delete()


# --- /account/<name>/delete ---------------------------------------------------------------------


def test_delete_page(app, people):
    sign_in(app, people["ada"])
    body = app.get("/account/ada/delete", headers=JSON).json
    assert body["template"] == "account/delete.html" and body["projects_owned"] == []
    assert body["form"]["current_password"] is None and body["form"]["csrf"]
    assert "Delete the account" in app.get("/account/ada/delete").text


def test_delete_keeps_answers_and_everyone_elses_data(app, db, people):
    ada, task, result = people["ada"], people["task"], people["result"]
    ada_id, email = ada.id, ada.email_addr
    before = db.scalar(select(func.count()).select_from(TaskRun))
    sign_in(app, ada)

    answer = app.post_json(
        "/account/ada/delete", {"current_password": PASSWORD}, headers={"X-CSRFToken": token(app)}
    )

    assert answer.json["next"] == "/" and answer.json["status"] == "success"
    db.rollback()  # a fresh snapshot: the request committed in its own
    assert not account_exists(db, ada_id)
    assert db.scalar(select(func.count()).select_from(TaskRun)) == before
    assert db.scalar(select(func.count()).where(TaskRun.user_id == ada_id)) == 0
    moved = db.scalars(select(TaskRun).where(TaskRun.user_id.is_(None))).all()
    assert len(moved) == 2 and len({run.user_ip for run in moved}) == 1 and moved[0].user_ip
    assert db.get(Task, task.id).state == "completed"
    assert db.get(Result, result.id).task_run_ids == result.task_run_ids
    assert db.scalar(select(func.count()).select_from(Favorite)) == 0
    project = db.get(Project, people["project"].id)
    assert project.owners_ids == [people["bob"].id]
    (logged,) = db.scalars(select(Auditlog).where(Auditlog.attribute == "owners_ids"))
    assert (logged.project_id, logged.user_name) == (project.id, "ada")
    assert json.loads(logged.new_value) == [people["bob"].id]
    assert db.scalar(select(func.count()).where(TaskRun.user_id == people["cy"].id)) == 1
    assert outbox(app)[-1].recipients == [email]
    assert "deleted" in outbox(app)[-1].body
    # The session ended with the account.
    assert app.get("/account/profile", headers=JSON).json["status"] == "not_signed_in"


def test_delete_needs_the_current_password(app, db, people):
    sign_in(app, people["ada"])
    csrf = token(app)
    for password in ({}, {"current_password": "wrong"}):
        body = app.post_json("/account/ada/delete", password, headers={"X-CSRFToken": csrf}).json
        assert body["form"]["errors"]["current_password"] and body["status"] == "error"
    db.rollback()  # a fresh snapshot: the request committed in its own
    assert account_exists(db, people["ada"].id)


def test_delete_refused_without_csrf(app, db, people):
    sign_in(app, people["ada"])
    app.post_json("/account/ada/delete", {"current_password": PASSWORD}, status=400)
    db.rollback()  # a fresh snapshot: the request committed in its own
    assert account_exists(db, people["ada"].id)


def test_delete_rights(app, db, people):
    assert refused_anonymous(app.get("/account/ada/delete", headers=JSON, status="*"))
    sign_in(app, people["cy"])
    app.get("/account/ada/delete", headers=JSON, status=403)
    app.post_json(
        "/account/ada/delete",
        {"current_password": PASSWORD},
        headers={"X-CSRFToken": token(app)},
        status=403,
    )
    db.rollback()  # a fresh snapshot: the request committed in its own
    assert account_exists(db, people["ada"].id)


def test_primary_owner_cannot_delete_before_giving_projects_away(app, db, people):
    sign_in(app, people["bob"])
    assert app.get("/account/bob/delete", headers=JSON).json["projects_owned"] == ["birds"]
    body = app.post_json(
        "/account/bob/delete", {"current_password": PASSWORD}, headers={"X-CSRFToken": token(app)}
    ).json
    assert body["form"]["errors"]["form"] and body["status"] == "error"
    db.rollback()  # a fresh snapshot: the request committed in its own
    assert account_exists(db, people["bob"].id)


def test_admin_deletes_an_account_with_the_admins_password(app, db, people):
    admin, cy_id = make_user(admin=True), people["cy"].id
    db.commit()
    sign_in(app, admin)
    answer = app.post_json(
        "/account/cy/delete", {"current_password": PASSWORD}, headers={"X-CSRFToken": token(app)}
    )
    assert answer.json["next"] == "/admin/users"
    db.rollback()  # a fresh snapshot: the request committed in its own
    assert not account_exists(db, cy_id)
    # The admin stays signed in.
    assert app.get("/account/profile", headers=JSON).json["user"]["name"] == admin.name


def test_deletion_takes_another_pseudonym_on_a_clash(db, people, monkeypatch):
    """The pseudonym must not be one an anonymous answer to the same task holds (unique)."""
    ada, task = people["ada"], people["task"]
    TaskRunFactory(user=None, user_ip="1.2.3.4", task=task)
    drawn = iter(["1.2.3.4", "5.6.7.8"])
    monkeypatch.setattr(account_data, "pseudonymise_ip", lambda *_: next(drawn))

    assert account_data.delete_account(db, ada, "key") == 2
    db.commit()

    assert {
        run.user_ip for run in db.scalars(select(TaskRun).where(TaskRun.user_id.is_(None)))
    } == {
        "1.2.3.4",
        "5.6.7.8",
    }


def test_deletion_job_keeps_an_account_that_became_a_primary_owner(app, db, people):
    """Asked, then made a project's owner before the job ran: kept, and told by mail."""
    bob_id, email = people["bob"].id, people["bob"].email_addr

    registry = app.app.registry
    # As core.jobs runs it in the application's process: with the application's mailer.
    jobs.run_inline(
        registry.settings, account_data.delete_account_job, (bob_id,), {}, None, registry
    )

    assert account_exists(db, bob_id)
    assert outbox(app)[-1].recipients == [email] and "could not" in outbox(app)[-1].body


# --- /admin/users/export ------------------------------------------------------------------------


FIELDS = ["id", "name", "fullname", "email_addr", "created", "locale", "admin", "consent"]
FIELDS.append("restrict")


def test_admin_users_export(app, people):
    admin = make_user(admin=True, fullname="=cmd|calc")
    sign_in(app, admin)

    as_json = app.get("/admin/users/export?format=json")
    as_csv = app.get("/admin/users/export?format=csv")

    rows = as_json.json
    assert as_json.content_disposition.startswith("attachment")
    assert [sorted(row) for row in rows] == [sorted(FIELDS)] * 4
    assert [row["name"] for row in rows] == ["bob", "ada", "cy", admin.name]
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert list(lines[0]) == FIELDS
    assert lines[3]["fullname"] == "'=cmd|calc"
    for user in (admin, *(people[name] for name in ("ada", "bob", "cy"))):
        assert user.api_key not in as_json.text + as_csv.text
        assert user.passwd_hash not in as_json.text + as_csv.text


def test_admin_users_export_rights_and_formats(app, make_app, people):
    assert refused_anonymous(app.get("/admin/users/export?format=json", headers=JSON, status="*"))
    sign_in(app, people["ada"])
    app.get("/admin/users/export?format=json", status=403)
    app = make_app()
    sign_in(app, make_user(admin=True))
    app.get("/admin/users/export?format=xml", status=415)
    app.get("/admin/users/export", headers=JSON, status=415)


# --- /help/license ------------------------------------------------------------------------------


def test_help_license(app, make_app):
    body = app.get("/help/license", headers=JSON).json
    assert body["title"] == "Help: Licenses" and body["template"] == "help/text.html"
    assert "CC BY 4.0" in body["content"]
    assert "CC BY 4.0" in app.get("/help/license").text
    custom = make_app(help__license="<p>All rights reserved</p>")
    assert (
        custom.get("/help/license", headers=JSON).json["content"] == "<p>All rights reserved</p>"
    )
