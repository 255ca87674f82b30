"""Pro features: `pro_features` of the project pages follows the .ini and the caller, and admins
mark users pro from /admin/users."""

import pytest
from pyramid.testing import DummyRequest

from core.models import User
from core.web.project_access import pro_features
from tests.factories import ProjectFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in

RESERVED = "auditlog webhooks"
# Owner pages that report `pro_features`, then pages anyone may read. The webhook and audit
# log pages report it too, but only to those who may open them.
OWNER_PAGES = ["settings", "tasks/taskpresentereditor"]
PRO_PAGES = ["webhook", "auditlog"]
PUBLIC_PAGES = ["", "tasks", "stats"]


def page_features(app, project, page: str) -> dict:
    return app.get(f"/project/{project.short_name}/{page}", headers=JSON).json["pro_features"]


@pytest.mark.parametrize("page", OWNER_PAGES + PUBLIC_PAGES)
def test_reserved_features_are_off_for_a_normal_owner(make_app, db, page):
    owner = make_user()
    project = ProjectFactory(owner=owner)
    app = make_app(pro_features=RESERVED)
    sign_in(app, owner)

    features = page_features(app, project, page)

    assert features["auditlog_enabled"] is False
    assert features["webhooks_enabled"] is False
    assert features["autoimporter_enabled"] is True


@pytest.mark.parametrize("page", OWNER_PAGES + PRO_PAGES + PUBLIC_PAGES)
@pytest.mark.parametrize("who", ["pro owner", "admin"])
def test_reserved_features_are_on_for_pro_owners_and_admins(make_app, db, page, who):
    caller = make_user(pro=True) if who == "pro owner" else make_user(admin=True)
    project = ProjectFactory(owner=caller if who == "pro owner" else make_user())
    app = make_app(pro_features=RESERVED)
    sign_in(app, caller)

    features = page_features(app, project, page)

    assert features["auditlog_enabled"] is True
    assert features["webhooks_enabled"] is True
    assert features["autoimporter_enabled"] is True


@pytest.mark.parametrize("page", PUBLIC_PAGES)
@pytest.mark.parametrize("who", ["anonymous", "volunteer"])
def test_with_nothing_reserved_everyone_has_every_feature(make_app, db, page, who):
    project = ProjectFactory()
    app = make_app(pro_features="")
    if who == "volunteer":
        sign_in(app, make_user())

    features = page_features(app, project, page)

    assert set(features) >= {"auditlog_enabled", "autoimporter_enabled", "webhooks_enabled"}
    assert all(features.values())


def test_a_pro_volunteer_gets_the_features_on_other_projects(make_app, db):
    project = ProjectFactory()
    app = make_app(pro_features=RESERVED)
    sign_in(app, make_user(pro=True))

    features = page_features(app, project, "")

    assert features == {
        "auditlog_enabled": True,
        "autoimporter_enabled": True,
        "webhooks_enabled": True,
    }


def test_better_stats_follow_a_pro_primary_owner_but_the_caller_features_do_not(make_app, db):
    pro_project = ProjectFactory(owner=make_user(pro=True))
    plain_project = ProjectFactory(owner=make_user())
    app = make_app(pro_features="better_stats auditlog")
    sign_in(app, make_user())

    of_pro_owner = page_features(app, pro_project, "stats")
    of_plain_owner = page_features(app, plain_project, "stats")

    assert of_pro_owner["better_stats_enabled"] is True
    assert of_pro_owner["auditlog_enabled"] is False
    assert of_plain_owner["better_stats_enabled"] is False


def test_better_stats_ignore_a_pro_caller_but_not_an_admin(make_app, db):
    plain_project = ProjectFactory(owner=make_user())
    app = make_app(pro_features="better_stats")
    sign_in(app, make_user(pro=True))
    for_pro_caller = page_features(app, plain_project, "stats")
    admin_app = make_app(pro_features="better_stats")
    sign_in(admin_app, make_user(admin=True))
    for_admin = page_features(admin_app, plain_project, "stats")

    # behavior.md 9.4: the project's pro owner or an admin caller, not a pro visitor.
    assert for_pro_caller["better_stats_enabled"] is False
    assert for_admin["better_stats_enabled"] is True


def test_every_feature_of_the_spec_is_known_and_a_typo_is_refused(make_app, db):
    registry = make_app(pro_features="updated_exports").app.registry
    request = DummyRequest()
    request.registry = registry
    request.user = None
    names = ("auditlog", "webhooks", "autoimporter", "better_stats", "updated_exports")
    pro_owner = make_user(pro=True)

    for_anonymous = pro_features(request, names)
    for_pro_owner_project = pro_features(request, names, owner=pro_owner)

    assert for_anonymous == {f"{name}_enabled": name != "updated_exports" for name in names}
    assert for_pro_owner_project["updated_exports_enabled"] is True
    with pytest.raises(ValueError, match="auditlogs"):
        pro_features(request, ("auditlogs",))


def test_settings_page_links_the_pro_pages_when_enabled(make_app, db):
    owner, pro_owner = make_user(), make_user(pro=True)
    project, pro_project = ProjectFactory(owner=owner), ProjectFactory(owner=pro_owner)
    app = make_app(pro_features=RESERVED)
    sign_in(app, owner)
    plain_page = app.get(f"/project/{project.short_name}/settings").text
    app = make_app(pro_features=RESERVED)
    sign_in(app, pro_owner)
    pro_page = app.get(f"/project/{pro_project.short_name}/settings").text

    assert f'href="/project/{pro_project.short_name}/auditlog"' in pro_page
    assert f'href="/project/{pro_project.short_name}/webhook"' in pro_page
    assert f'href="/project/{project.short_name}/auditlog"' not in plain_page
    assert "Audit log: who changed what <span" in plain_page


# --- Admins mark users pro ----------------------------------------------------------------


def is_pro(db, user) -> bool:
    db.rollback()
    db.expire_all()
    return db.get(User, user.id).pro


@pytest.fixture
def admin_app(app, db):
    sign_in(app, make_user(admin=True))
    return app


def test_an_admin_marks_a_user_pro_and_back_in_json(admin_app, db):
    user = make_user()
    token = csrf_token(admin_app, "/account/profile")

    marked = admin_app.get(f"/admin/users/pro/{user.id}?csrf={token}", headers=JSON).json
    was_pro = is_pro(db, user)
    unmarked = admin_app.get(
        f"/admin/users/unpro/{user.id}", headers={**JSON, "X-CSRFToken": token}
    ).json

    assert marked == {
        "next": "/admin/users",
        "flash": f"{user.name} is now a pro user",
        "status": "success",
    }
    assert was_pro is True
    assert unmarked["next"] == "/admin/users"
    assert is_pro(db, user) is False


def test_an_admin_marks_a_user_pro_from_the_html_page(admin_app, db):
    user = make_user(name="futurepro")
    forms = admin_app.get("/admin/users").forms.values()
    search = next(form for form in forms if form.action == "/admin/users")
    search["user"] = "futurepro"
    found = search.submit()

    followed = found.click(description="Make pro").follow()

    assert is_pro(db, user) is True
    assert "futurepro is now a pro user" in followed.text
    assert f'href="/admin/users/unpro/{user.id}?csrf=' in followed.text


def test_the_users_page_lists_pro_users(admin_app, db):
    pro = make_user(pro=True)
    make_user()

    body = admin_app.get("/admin/users", headers=JSON).json

    assert [user["id"] for user in body["pro_users"]] == [pro.id]
    assert body["pro_users"][0]["pro"] is True
    # Full user dicts for admins as PYBOSSA (behavior.md 9.8), never the hash (decision 3).
    assert "passwd_hash" not in body["pro_users"][0]


@pytest.mark.parametrize("route", ["pro", "unpro"])
def test_marking_pro_needs_the_csrf_token(admin_app, db, route):
    user = make_user(pro=route == "unpro")

    admin_app.get(f"/admin/users/{route}/{user.id}", headers=JSON, status=400)
    admin_app.post(f"/admin/users/{route}/{user.id}", status=400)

    assert is_pro(db, user) is (route == "unpro")


def test_marking_an_unknown_user_is_a_404(admin_app, db):
    token = csrf_token(admin_app, "/account/profile")

    body = admin_app.get(f"/admin/users/pro/99999?csrf={token}", headers=JSON, status=404).json

    assert body == {"error": "User not found", "status_code": 404}


def test_anonymous_callers_must_sign_in_to_mark_pro(app, db):
    user = make_user()

    page = app.get(f"/admin/users/pro/{user.id}", status=302)
    app.get(f"/admin/users/pro/{user.id}", headers=JSON, status=302)

    assert "/account/signin?next=" in page.location
    assert is_pro(db, user) is False


@pytest.mark.parametrize("who", ["volunteer", "owner", "pro"])
def test_only_admins_mark_users_pro(app, db, who):
    caller = make_user(pro=who == "pro")
    if who == "owner":
        ProjectFactory(owner=caller)
    target = make_user()
    sign_in(app, caller)
    token = csrf_token(app, "/account/profile")

    app.get(f"/admin/users/pro/{target.id}?csrf={token}", headers=JSON, status=403)
    app.get(f"/admin/users/pro/{caller.id}?csrf={token}", status=403)

    assert is_pro(db, target) is False
    assert is_pro(db, caller) is (who == "pro")


def test_a_user_made_pro_gets_the_reserved_features(make_app, db):
    owner = make_user()
    project = ProjectFactory(owner=owner)
    admin = make_app(pro_features=RESERVED)
    sign_in(admin, make_user(admin=True))
    admin.get(f"/admin/users/pro/{owner.id}?csrf={csrf_token(admin, '/account/profile')}")
    app = make_app(pro_features=RESERVED)
    sign_in(app, owner)

    features = page_features(app, project, "settings")

    assert features["auditlog_enabled"] is True
    assert features["webhooks_enabled"] is True
