"""Pro features are plugins (plugins/pro/, entry-point group crowdnest.pro) switched on by name
in plugins.pro: off, a feature's pages answer 404 (admins too), its job does not run and the
project pages report it false; on, it works; reserved by pro_features, pro users only."""

import io
import json
import os
import shutil
import zipfile

import pytest
from sqlalchemy import select

from core.cli import main
from core.cli.autoimport import run_once
from core.models import Project
from core.services import pro
from core.services.autoimport import run_autoimports
from core.settings import load_settings
from tests.factories import ProjectFactory, TaskFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in

ALL_OFF = {"plugins.pro": ""}
ALL_RESERVED = {"pro_features": " ".join(pro.FEATURES)}
# (feature, method, path after /project/<short_name>/) of every page a feature's plugin adds.
PAGES = [
    ("auditlog", "GET", "auditlog"),
    ("webhooks", "GET", "webhook"),
    ("webhooks", "POST", "webhook/1/resend"),
    ("autoimporter", "GET", "tasks/autoimporter"),
    ("autoimporter", "POST", "tasks/autoimporter/delete"),
]
GET_PAGES = [(feature, path) for feature, method, path in PAGES if method == "GET"]


def only(*names) -> dict:
    """Settings switching on these pro features only."""
    return {"plugins.pro": " ".join(names)}


def request_page(app, project, method: str, path: str, status):
    url = f"/project/{project.short_name}/{path}"
    if method == "GET":
        return app.get(url, headers=JSON, status=status)
    token = csrf_token(app, "/account/profile")
    return app.post(url, {"csrf_token": token}, headers={"X-CSRFToken": token}, status=status)


def page_features(app, project, page: str = "") -> dict:
    return app.get(f"/project/{project.short_name}/{page}", headers=JSON).json["pro_features"]


# --- Off: 404, reported false, for everyone ---------------------------------------------------


@pytest.mark.parametrize(("feature", "method", "path"), PAGES)
def test_a_feature_switched_off_answers_404_even_to_an_admin(make_app, db, feature, method, path):
    others = [name for name in pro.FEATURES if name != feature]
    app = make_app(**only(*others))
    admin = make_user(admin=True)
    project = ProjectFactory(owner=admin)
    sign_in(app, admin)

    request_page(app, project, method, path, status=404)


@pytest.mark.parametrize(("feature", "path"), GET_PAGES)
def test_a_feature_switched_on_answers_its_owner(make_app, db, feature, path):
    app = make_app(**only(feature))
    owner = make_user()
    project = ProjectFactory(owner=owner)
    sign_in(app, owner)

    response = request_page(app, project, "GET", path, status=200)

    assert response.json["pro_features"][f"{feature}_enabled"] is True


@pytest.mark.parametrize(("feature", "path"), GET_PAGES)
def test_a_reserved_feature_is_for_pro_owners_only(make_app, db, feature, path):
    app = make_app(**ALL_RESERVED)
    plain, pro_owner = make_user(), make_user(pro=True)
    plain_project, pro_project = ProjectFactory(owner=plain), ProjectFactory(owner=pro_owner)
    sign_in(app, plain)
    request_page(app, plain_project, "GET", path, status=403)
    app = make_app(**ALL_RESERVED)
    sign_in(app, pro_owner)

    request_page(app, pro_project, "GET", path, status=200)


@pytest.mark.parametrize("page", ["", "settings", "tasks", "stats"])
def test_project_pages_report_the_features_switched_off_as_false(make_app, db, page):
    app = make_app(**ALL_OFF)
    admin = make_user(admin=True)
    project = ProjectFactory(owner=admin)
    sign_in(app, admin)

    features = page_features(app, project, page)

    assert set(features) >= {"auditlog_enabled", "autoimporter_enabled", "webhooks_enabled"}
    assert not any(features.values())


def test_the_stats_page_reports_better_stats_by_its_switch(make_app, db):
    project = ProjectFactory(owner=make_user(pro=True))

    switched_off = page_features(make_app(**only("auditlog")), project, "stats")
    switched_on = page_features(make_app(**only("better_stats")), project, "stats")
    reserved = page_features(make_app(**ALL_RESERVED), ProjectFactory(), "stats")

    assert switched_off["better_stats_enabled"] is False
    assert switched_on["better_stats_enabled"] is True
    assert reserved["better_stats_enabled"] is False


def test_the_settings_page_leaves_out_what_is_switched_off(make_app, db):
    owner = make_user()
    project = ProjectFactory(owner=owner)
    app = make_app(**only("webhooks"))
    sign_in(app, owner)

    page = app.get(f"/project/{project.short_name}/settings").text

    assert f'href="/project/{project.short_name}/webhook"' in page
    assert "Audit log" not in page


def test_the_tasks_page_does_not_offer_an_autoimporter_switched_off(make_app, db):
    owner = make_user()
    project = ProjectFactory(owner=owner)
    app = make_app(**ALL_OFF)
    sign_in(app, owner)

    body = app.get(f"/project/{project.short_name}/tasks", headers=JSON).json

    assert body["autoimporter_enabled"] is False


# --- Jobs ------------------------------------------------------------------------------------


def test_the_autoimport_job_does_not_run_when_switched_off(database_url, db):
    info = {"task_presenter": "<p>", "autoimporter": {"type": "csv", "csv_url": "http://x/a.csv"}}
    project = ProjectFactory(info=info)
    settings = load_settings(
        {"sqlalchemy.url": database_url, "plugins.importers": "csv", "plugins.pro": "webhooks"},
        environ={},
    )
    said = io.StringIO()

    outcomes = run_autoimports(settings)
    succeeded = run_once(settings, said)

    assert outcomes == []
    assert succeeded is True
    assert said.getvalue() == "autoimport: the autoimporter is switched off (plugins.pro)\n"
    db.expire_all()
    stored = db.scalars(select(Project).where(Project.id == project.id)).one().info
    assert "last_run" not in stored["autoimporter"]


@pytest.fixture
def export_dir(app_settings):
    """The apps' export.dir, emptied around the test."""
    folder = app_settings["export.dir"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)


def exported_questions(app, project) -> list[str]:
    response = app.get(f"/project/{project.short_name}/tasks/export?type=task&format=json")
    archive = zipfile.ZipFile(io.BytesIO(response.body))
    (name,) = archive.namelist()
    return [task["info"]["q"] for task in json.loads(archive.read(name))]


@pytest.mark.parametrize(("switch", "fresh"), [(only("updated_exports"), True), (ALL_OFF, False)])
def test_updated_exports_switched_off_serves_the_stored_zip(
    make_app, db, export_dir, switch, fresh
):
    app = make_app(**switch)
    project = ProjectFactory(owner=make_user(pro=True))
    TaskFactory(project=project, info={"q": "first"})

    exported_questions(app, project)
    TaskFactory(project=project, info={"q": "second"})
    again = exported_questions(app, project)

    assert again == (["first", "second"] if fresh else ["first"])


def test_the_features_settings_are_their_plugins(make_app, db):
    on = make_app().app.registry.settings
    off = make_app(**ALL_OFF).app.registry.settings

    assert (on["autoimporter.interval"], on["export.pro_max_age"]) == (86400, 0)
    assert "autoimporter.interval" not in off
    assert "export.pro_max_age" not in off


def test_autoimport_loop_switched_off_says_so_and_stops(tmp_path, database_url, capsys):
    ini = tmp_path / "app.ini"
    lines = ["[app:main]", "use = egg:crowdnest", f"sqlalchemy.url = {database_url}"]
    ini.write_text("\n".join([*lines, "plugins.pro = auditlog", ""]))

    code = main(["-c", str(ini), "autoimport", "--loop"])

    assert code == 0
    assert "the autoimporter is switched off (plugins.pro)" in capsys.readouterr().out
