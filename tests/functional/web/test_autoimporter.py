"""/project/<short_name>/tasks/autoimporter: who may use it, the form's dry read, saving and
deleting the stored source."""

import pytest
from sqlalchemy import select

from core.models import Auditlog, Project, Task
from core.services.autoimport import run_autoimports
from tests.factories import ProjectFactory
from tests.functional.web.conftest import JSON, answer_of, csrf_token, make_user, sign_in
from tests.functional.web.test_import import http_server  # noqa: F401 (a fixture)

IMPORTERS = {"plugins__importers": "csv json", "importer__allow_private_urls": "true"}
CSV = b"question,n_answers\nfirst?,2\nsecond?,3\n"


@pytest.fixture
def auto_app(make_app):
    """An app with the csv and json importers on, `user` signed in (None stays anonymous)."""

    def make(user=None, **settings):
        app = make_app(**{**IMPORTERS, **settings})
        if user is not None:
            sign_in(app, user)
        return app

    return make


@pytest.fixture
def csv_source(http_server):  # noqa: F811
    base, routes = http_server
    routes["/tasks.csv"] = (200, "text/csv", CSV)
    return f"{base}/tasks.csv"


def page_url(project, query: str = "") -> str:
    return f"/project/{project.short_name}/tasks/autoimporter{query}"


def stored(db, project):
    db.expire_all()
    return (db.get(Project, project.id).info or {}).get("autoimporter")


def save(app, project, url: str, status=200, **headers):
    token = csrf_token(app, page_url(project, "?type=csv"))
    return app.post_json(
        page_url(project),
        {"form_name": "csv", "csv_url": url},
        headers={**JSON, "X-CSRFToken": token, **headers},
        status=status,
    )


# --- who may see it ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("volunteer", 403), ("owner", 200), ("coowner", 200), ("admin", 200)],
)
def test_only_owners_and_admins_see_the_page(auto_app, project_roles, role, status):
    project, roles = project_roles
    app = auto_app(roles[role])

    body = answer_of(app.get(page_url(project), headers=JSON, status=status))

    if status == 200:
        assert body["template"] == "autoimporter/index.html"
        assert body["autoimporter"] is None
        assert [item["name"] for item in body["importers"]] == ["csv", "json"]
        assert body["form"] is None and body["importer"] is None
        assert body["pro_features"]["autoimporter_enabled"] is True
        assert body["project"]["short_name"] == project.short_name
        assert body["interval"] == 86400
    else:
        assert body["code"] == status
        assert "importers" not in body


def test_anonymous_browsers_are_sent_to_sign_in(auto_app, project_roles):
    project, _ = project_roles

    response = auto_app().get(page_url(project), status=302)

    assert "/account/signin?next=" in response.location


@pytest.mark.parametrize(("role", "status"), [("owner", 403), ("admin", 200)])
def test_reserved_to_pro_users_when_the_ini_says_so(auto_app, project_roles, role, status):
    project, roles = project_roles
    app = auto_app(roles[role], pro_features="autoimporter")

    body = answer_of(app.get(page_url(project), headers=JSON, status=status))

    if status == 403:
        assert body["description"].startswith("The autoimporter is a pro feature")
    else:
        assert body["pro_features"]["autoimporter_enabled"] is True
        # The non-pro primary owner's saved source would not run: the page says so.
        assert body["owner_may_autoimport"] is False


def test_a_pro_owner_may_use_it_when_reserved(auto_app, db):
    owner = make_user(pro=True)
    project = ProjectFactory(owner=owner)
    app = auto_app(owner, pro_features="autoimporter")

    body = app.get(page_url(project), headers=JSON).json

    assert body["owner_may_autoimport"] is True


def test_the_tasks_page_links_it_for_owners_only(auto_app, project_roles, db):
    project, roles = project_roles
    project.published = True  # a draft's tasks page is its owners' only (decision 24)
    db.commit()

    owner_html = auto_app(roles["owner"]).get(f"/project/{project.short_name}/tasks").text
    volunteer_html = auto_app(roles["volunteer"]).get(f"/project/{project.short_name}/tasks").text

    assert page_url(project) in owner_html
    assert page_url(project) not in volunteer_html


# --- the form ----------------------------------------------------------------------------------


def test_the_form_leaves_uploads_out(auto_app, project_roles):
    project, roles = project_roles
    app = auto_app(roles["owner"])

    body = app.get(page_url(project, "?type=csv"), headers=JSON).json
    html = app.get(page_url(project, "?type=csv")).text

    assert [field["name"] for field in body["importer"]["fields"]] == ["csv_url"]
    assert set(body["form"]) == {"csv_url", "errors", "csrf"}
    assert 'name="csv_url"' in html and 'type="file"' not in html
    assert 'name="csrf_token"' in html


def test_an_unknown_or_unscheduled_importer_is_a_404(auto_app, project_roles):
    project, roles = project_roles
    app = auto_app(roles["owner"])

    app.get(page_url(project, "?type=flickr"), headers=JSON, status=404)


def test_saving_stores_the_form_and_logs_it(auto_app, project_roles, csv_source, db):
    project, roles = project_roles
    app = auto_app(roles["coowner"])

    body = save(app, project, csv_source).json
    shown = app.get(page_url(project), headers=JSON).json

    assert body["next"] == page_url(project) and body["status"] == "success"
    assert stored(db, project) == {"type": "csv", "csv_url": csv_source}
    assert shown["autoimporter"] == {"type": "csv", "csv_url": csv_source}
    # Nothing is imported by saving: the dry read only checks the source.
    assert db.scalars(select(Task).where(Task.project_id == project.id)).all() == []
    logs = db.scalars(select(Auditlog).where(Auditlog.project_id == project.id)).all()
    assert [(log.attribute, log.old_value, log.user_id) for log in logs] == [
        ("autoimporter", None, roles["coowner"].id)
    ]


def test_the_html_form_saves_and_redirects(auto_app, project_roles, csv_source, db):
    project, roles = project_roles
    app = auto_app(roles["owner"])
    form = app.get(page_url(project, "?type=csv")).forms["autoimporter-form"]
    form["csv_url"] = csv_source

    response = form.submit(status=302)
    html = response.follow().text

    assert response.location.endswith(page_url(project))
    assert stored(db, project) == {"type": "csv", "csv_url": csv_source}
    assert "The autoimporter was saved" in html and csv_source in html
    assert "Last run" in html and "not yet" in html


def test_a_bad_url_is_refused_and_nothing_saved(auto_app, project_roles, http_server, db):  # noqa: F811
    project, roles = project_roles
    app = auto_app(roles["owner"])
    missing = f"{http_server[0]}/missing.csv"

    body = save(app, project, missing).json
    html = app.post(
        page_url(project),
        {
            "csrf_token": csrf_token(app, page_url(project, "?type=csv")),
            "form_name": "csv",
            "csv_url": "not a url",
        },
    ).text

    assert body["form"]["errors"]["csv_url"] == ["The URL answered HTTP 404."]
    assert body["form"]["csv_url"] == missing
    assert body["status"] == "error"
    assert "Please give a valid http:// or https:// URL." in html
    assert stored(db, project) is None


def test_a_broken_csv_is_refused(auto_app, project_roles, http_server, db):  # noqa: F811
    base, routes = http_server
    routes["/broken.csv"] = (200, "text/csv", b"a,a\n1,2\n")
    project, roles = project_roles
    app = auto_app(roles["owner"])

    body = save(app, project, f"{base}/broken.csv").json

    assert "two headers with the same name" in body["form"]["errors"]["form"][0]
    assert stored(db, project) is None


def test_posting_without_csrf_is_refused(auto_app, project_roles, csv_source, db):
    project, roles = project_roles
    app = auto_app(roles["owner"])

    body = app.post_json(
        page_url(project), {"form_name": "csv", "csv_url": csv_source}, status=400
    ).json
    app.post(page_url(project) + "/delete", {}, status=400)

    assert body["description"] == "CSRF validation failed."
    assert stored(db, project) is None


def test_a_volunteer_cannot_save(auto_app, project_roles, csv_source, db):
    project, roles = project_roles
    app = auto_app(roles["volunteer"])
    token = csrf_token(app, "/account/profile")

    app.post_json(
        page_url(project),
        {"form_name": "csv", "csv_url": csv_source},
        headers={"X-CSRFToken": token},
        status=403,
    )

    assert stored(db, project) is None


def test_editing_prefills_the_saved_values(auto_app, project_roles, csv_source, db):
    project, roles = project_roles
    app = auto_app(roles["owner"])
    save(app, project, csv_source)

    body = app.get(page_url(project, "?type=csv"), headers=JSON).json

    assert body["form"]["csv_url"] == csv_source
    assert body["autoimporter"]["csv_url"] == csv_source


# --- delete ------------------------------------------------------------------------------------


def test_delete_removes_it(auto_app, project_roles, csv_source, db):
    project, roles = project_roles
    app = auto_app(roles["owner"])
    save(app, project, csv_source)
    token = csrf_token(app, page_url(project, "?type=csv"))

    body = app.post_json(page_url(project) + "/delete", {}, headers={"X-CSRFToken": token}).json
    again = app.post_json(page_url(project) + "/delete", {}, headers={"X-CSRFToken": token}).json

    assert body == {
        "next": page_url(project),
        "flash": "The autoimporter was deleted.",
        "status": "success",
    }
    assert again["flash"] == "This project has no autoimporter."
    db.expire_all()
    assert "autoimporter" not in db.get(Project, project.id).info
    logs = db.scalars(
        select(Auditlog).where(Auditlog.project_id == project.id).order_by(Auditlog.id)
    ).all()
    assert [(log.attribute, log.new_value) for log in logs][-1] == ("autoimporter", None)


def test_a_volunteer_cannot_delete(auto_app, project_roles, csv_source, db):
    project, roles = project_roles
    save(auto_app(roles["owner"]), project, csv_source)
    app = auto_app(roles["volunteer"])

    app.post_json(
        page_url(project) + "/delete",
        {},
        headers={"X-CSRFToken": csrf_token(app, "/account/profile")},
        status=403,
    )

    assert stored(db, project) == {"type": "csv", "csv_url": csv_source}


def test_the_page_shows_the_last_run(auto_app, project_roles, csv_source, db):
    project, roles = project_roles
    app = auto_app(roles["owner"])
    save(app, project, csv_source)

    run_autoimports(app.app.registry.settings, project_ids=[project.id])
    body = app.get(page_url(project), headers=JSON).json
    html = app.get(page_url(project)).text

    assert (body["autoimporter"]["last_run"]["created"], body["n_tasks"]) == (2, 2)
    assert "2 new task(s), 0 already there" in html
