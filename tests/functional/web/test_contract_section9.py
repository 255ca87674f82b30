"""behavior.md §9, point by point: the JSON web contract as PYBOSSA clients meet it (issue 18)."""

import time
from datetime import datetime
from urllib.parse import unquote

import pytest
from pyramid_mailer.interfaces import IMailer
from pyramid_mailer.mailer import DummyMailer
from sqlalchemy import select

from core import security
from core.jobs import application_registry, run_inline
from core.mail import mailer_for
from core.models import Category, Project, User
from core.schemas.user import STRONG_PASSWORD
from core.services import project_listing, stats
from core.services.account_data import delete_account_job
from core.settings import load_settings
from tests.factories import (
    AnnouncementFactory,
    CategoryFactory,
    ProjectFactory,
    TaskFactory,
    TaskRunFactory,
)
from tests.functional.web.conftest import JSON, PASSWORD, csrf_token, make_user, sign_in
from tests.functional.web.test_i18n import german_dir  # noqa: F401 (a fixture)

# -- 9.1 login-required pages ---------------------------------------------------------------

# Pages PYBOSSA decorates with login_required: anonymous callers are sent to sign in.
LOGIN_REQUIRED = [
    "/project/new",
    "/project/{sn}/update",
    "/project/{sn}/settings",
    "/project/{sn}/delete",
    "/project/{sn}/publish",
    "/project/{sn}/tasks/import",
    "/project/{sn}/tasks/taskpresentereditor",
    "/project/{sn}/coowners",
    "/project/{sn}/auditlog",
    "/project/{sn}/webhook",
    "/project/{sn}/new-blogpost",
    "/project/category/draft/",
    "/project/category/historical_contributions/",
    "/account/{name}/update",
    "/account/{name}/projects",
    "/account/{name}/resetapikey",
    "/admin/",
    "/admin/users",
    "/admin/categories",
    "/admin/featured",
]
# Of those, the ones a signed-in caller without the right is refused (403).
OWNER_OR_ADMIN = [page for page in LOGIN_REQUIRED if page not in ("/project/new",)]
OWNER_OR_ADMIN.remove("/project/category/historical_contributions/")


@pytest.fixture
def draft(db):
    owner = make_user(name="ada")
    project = ProjectFactory(owner=owner, published=False, info={})
    return project, owner


def page(template: str, project: Project, owner: User) -> str:
    return template.format(sn=project.short_name, name=owner.name)


@pytest.mark.parametrize("template", LOGIN_REQUIRED)
@pytest.mark.parametrize("how", ["header", "query"])
def test_login_required_pages_send_anonymous_json_callers_to_sign_in(app, draft, template, how):
    url = page(template, *draft)
    if how == "header":
        answer = app.get(url, headers=JSON, status=302)
    else:
        answer = app.get(url + "?response_format=json", status=302)
    html = app.get(url, status=302)

    assert "/account/signin?next=" in answer.location
    assert unquote(answer.location.split("next=", 1)[1]).startswith(url)
    assert html.location.split("?")[0] == answer.location.split("?")[0]


def test_a_posted_login_required_form_sends_anonymous_json_callers_to_sign_in(app, draft, db):
    project, _ = draft
    TaskFactory(project=project)
    token = csrf_token(app, "/account/register")

    answer = app.post_json(
        f"/project/{project.short_name}/publish", {}, headers={"X-CSRFToken": token}, status=302
    )

    assert f"/account/signin?next=/project/{project.short_name}/publish" in answer.location
    db.expire_all()
    assert db.get(Project, project.id).published is False


@pytest.mark.parametrize("template", OWNER_OR_ADMIN)
def test_signed_in_callers_without_the_right_get_403(app, draft, template):
    sign_in(app, make_user())

    body = app.get(page(template, *draft), headers=JSON, status=403).json

    assert body["code"] == 403
    assert body["template"] == "403.html"


@pytest.mark.parametrize("role", ["anonymous", "volunteer"])
def test_a_drafts_data_pages_still_refuse_as_item_reads(app, draft, role):
    """Not login-required pages: decision 24's 401/403, as on /api."""
    project, _ = draft
    if role == "volunteer":
        sign_in(app, make_user())

    app.get(
        f"/project/{project.short_name}/tasks/",
        headers=JSON,
        status=401 if role == "anonymous" else 403,
    )


def test_historical_contributions_lists_the_callers_projects(app, db):
    volunteer = make_user()
    answered, other = ProjectFactory(), ProjectFactory()
    TaskRunFactory(task=TaskFactory(project=answered), user=volunteer)
    TaskFactory(project=other)
    sign_in(app, volunteer)

    body = app.get("/project/category/historical_contributions/", headers=JSON).json

    assert [project["id"] for project in body["projects"]] == [answered.id]
    assert body["active_cat"]["short_name"] == "historical_contributions"
    assert body["pagination"] == {
        "page": 1,
        "per_page": 20,
        "total": 1,
        "next": False,
        "prev": False,
    }


# -- 9.4 publishing and contrib_button -------------------------------------------------------


def publish(app, project, **kw):
    token = csrf_token(app, "/account/register")
    return app.post_json(
        f"/project/{project.short_name}/publish", {}, headers={"X-CSRFToken": token}, **kw
    )


def button(app, project) -> str:
    return app.get(f"/project/{project.short_name}/", headers=JSON).json["project"][
        "contrib_button"
    ]


def test_publishing_needs_a_presenter_and_a_task_made_through_the_api(app, db):
    """The way pbs builds a project: /api create, then tasks, then the presenter."""
    owner = make_user()
    key = {"Authorization": owner.api_key}
    category = CategoryFactory()
    fields = {"name": "P", "short_name": "p", "description": "d", "category_id": category.id}
    created = app.post_json("/api/project", fields, headers=key).json
    project = db.get(Project, created["id"])
    sign_in(app, owner)

    assert button(app, project) == "draft"
    assert "presenter" in publish(app, project).json["flash"]
    app.put_json(
        f"/api/project/{project.id}", {"info": {"task_presenter": "<p>x</p>"}}, headers=key
    )
    assert button(app, project) == "draft"
    refused = publish(app, project).json
    assert (refused["status"], refused["flash"]) == (
        "error",
        "You must add at least one task before publishing the project",
    )
    app.post_json("/api/task", {"project_id": project.id, "info": {"n": 1}}, headers=key)
    assert button(app, project) == "publish"
    assert publish(app, project).json["status"] == "success"
    db.rollback()
    assert db.get(Project, project.id).published is True


def test_contrib_button_follows_the_caller(app, db):
    project = ProjectFactory()
    task = TaskFactory(project=project, n_answers=2)
    stats.recompute(db, project.id)
    db.commit()
    volunteer = make_user()

    assert button(app, project) == "can_contribute"
    sign_in(app, volunteer)
    assert button(app, project) == "can_contribute"
    TaskRunFactory(task=task, user=volunteer)
    stats.recompute(db, project.id)
    db.commit()
    assert button(app, project) == "cannot_contribute"
    TaskRunFactory(task=task, user=make_user())
    stats.recompute(db, project.id)
    db.commit()
    assert button(app, project) == "completed"


def test_contrib_button_counts_an_anonymous_callers_own_answers(app, db):
    """PYBOSSA counts the tasks the caller's address has not answered yet."""
    project = ProjectFactory(allow_anonymous_contributors=True)
    task = TaskFactory(project=project, n_answers=3)
    stats.recompute(db, project.id)
    db.commit()
    presented = app.get(f"/api/project/{project.id}/newtask").json
    assert presented["id"] == task.id
    app.post_json("/api/taskrun", {"project_id": project.id, "task_id": task.id, "info": 1})

    assert button(app, project) == "cannot_contribute"


# -- 9.1 negotiation, 9.2 CSRF -----------------------------------------------------------------


def test_json_redirects_are_a_200_with_next_flash_and_status(app, db):
    sign_in(app, make_user())
    token = csrf_token(app, "/account/register")

    answer = app.get("/account/signout", headers={**JSON, "X-CSRFToken": token}, status=200).json

    assert answer == {"next": "/", "flash": "You are now signed out", "status": "success"}


def test_json_content_type_forces_english(make_app, db, german_dir):  # noqa: F811
    app = make_app(i18n__extra_dirs=german_dir)
    german = {"Accept-Language": "de"}

    html = app.get("/account/signin", headers=german)
    body = app.get("/account/signin", headers={**JSON, **german}).json

    assert "Anmelden" in html.text
    assert body["title"] == "Sign in"


@pytest.mark.parametrize(
    "path",
    [
        "/project/{sn}/delete",
        "/project/{sn}/publish",
        "/project/{sn}/tasks/delete",
        "/admin/announcement",
    ],
)
def test_form_less_owner_pages_give_a_top_level_csrf(app, db, draft, path):
    project, owner = draft
    owner.admin = True
    db.commit()
    sign_in(app, owner)

    body = app.get(page(path, project, owner), headers=JSON).json

    assert isinstance(body["csrf"], str) and body["csrf"]


@pytest.mark.parametrize(
    "path", ["/admin/featured", "/account/{name}/resetapikey", "/admin/categories/del/{id}"]
)
def test_bare_form_pages_give_form_csrf(app, db, draft, path):
    project, owner = draft
    owner.admin = True
    CategoryFactory()
    db.commit()
    sign_in(app, owner)

    url = path.format(sn=project.short_name, name=owner.name, id=project.category_id)
    body = app.get(url, headers=JSON).json

    assert isinstance(body["form"]["csrf"], str) and body["form"]["csrf"]


def test_csrf_failure_is_the_documented_400(app, draft):
    project, owner = draft
    sign_in(app, owner)

    body = app.post_json(f"/project/{project.short_name}/publish", {}, status=400).json

    assert body == {"code": 400, "description": "CSRF validation failed.", "template": "400.html"}


def test_the_x_csrf_token_spelling_is_accepted(app, draft, db):
    project, owner = draft
    TaskFactory(project=project)
    project.info = {"task_presenter": "<p>x</p>"}
    db.commit()
    sign_in(app, owner)
    token = csrf_token(app, "/account/register")

    body = app.post_json(
        f"/project/{project.short_name}/publish", {}, headers={"X-CSRF-Token": token}
    ).json

    assert body["status"] == "success"


# -- 9.3 accounts --------------------------------------------------------------------------


def test_someone_elses_project_list_is_403(app, draft):
    sign_in(app, make_user())

    app.get("/account/ada/projects", headers=JSON, status=403)


def test_confirm_email_is_404_when_confirmation_is_off(app, db):
    sign_in(app, make_user())

    app.get("/account/confirm-email", headers=JSON, status=404)


@pytest.mark.parametrize("key", ["", "?key=", "?key=forged"])
def test_reset_password_without_a_good_key_is_403(app, db, key):
    app.get(f"/account/reset-password{key}", headers=JSON, status=403)


def test_account_update_with_an_unknown_button_is_415(app, draft):
    _project, owner = draft
    sign_in(app, owner)
    token = csrf_token(app, "/account/register")

    app.post_json(
        "/account/ada/update", {"btn": "Nothing"}, headers={"X-CSRFToken": token}, status=415
    )


def test_the_community_page_pages_by_24(app, db):
    for _ in range(25):
        TaskRunFactory(user=make_user())

    body = app.get("/account/", headers=JSON).json

    assert len(body["accounts"]) == 24
    assert body["pagination"]["per_page"] == 24
    assert body["pagination"]["next"] is True


# -- 9.4 listings and browse, 9.6, 9.8 ---------------------------------------------------------


def test_browse_pages_by_10_with_pct_status_capped(app, db):
    project = ProjectFactory()
    tasks = [TaskFactory(project=project, n_answers=1) for _ in range(11)]
    for _ in range(2):
        TaskRunFactory(task=tasks[0], user=make_user())

    body = app.get(f"/project/{project.short_name}/tasks/browse", headers=JSON).json

    assert len(body["tasks"]) == 10
    assert body["pagination"]["per_page"] == 10
    first = next(task for task in body["tasks"] if task["id"] == tasks[0].id)
    assert first["pct_status"] == 1.0


def test_any_non_empty_desc_sorts_descending(app, db):
    category = CategoryFactory()
    first, second = ProjectFactory(category=category), ProjectFactory(category=category)
    url = f"/project/category/{category.short_name}/?orderby=id&desc=false"

    body = app.get(url, headers=JSON).json

    assert [p["id"] for p in body["projects"]] == [second.id, first.id]


def test_announcements_page_template_is_empty(app, db):
    assert app.get("/announcements/", headers=JSON).json["template"] == ""


def test_admin_toggles_of_an_unknown_user_are_the_documented_404(app, db):
    sign_in(app, make_user(admin=True))
    token = csrf_token(app, "/account/register")

    body = app.get("/admin/users/add/999999", headers={**JSON, "X-CSRFToken": token}, status=404)

    assert body.json == {"error": "User not found", "status_code": 404}


def test_featuring_errors_are_documented(app, db):
    project = ProjectFactory()
    sign_in(app, make_user(admin=True))
    headers = {**JSON, "X-CSRFToken": csrf_token(app, "/account/register")}

    app.post_json(f"/admin/featured/{project.id}", {}, headers=headers)
    again = app.post_json(f"/admin/featured/{project.id}", {}, headers=headers, status=415).json
    missing = app.delete("/admin/featured/999999", headers=headers, status=404).json

    assert again == {"error": f"Project.id {project.id} already featured", "status_code": 415}
    assert missing["status_code"] == 404


def test_someone_elses_profile_uses_pybossas_keys(app, db):
    ada = make_user(name="ada")
    ProjectFactory(owner=ada)
    sign_in(app, make_user())

    body = app.get("/account/ada/", headers=JSON).json

    assert {"user", "projects", "projects_created"} <= set(body)
    assert "api_key" not in body["user"] and "email_addr" not in body["user"]
    assert len(body["projects_created"]) == 1


def test_new_project_goes_to_its_update_page_with_a_derived_description(app, db):
    CategoryFactory()
    sign_in(app, make_user())
    token = csrf_token(app, "/project/new")
    fields = {"name": "Birds", "short_name": "birds", "long_description": "# Count *birds*"}

    answer = app.post_json("/project/new", fields, headers={"X-CSRFToken": token}).json

    assert answer["next"] == "/project/birds/update"
    project = db.scalars(select(Project).where(Project.short_name == "birds")).one()
    assert project.description == "Count birds"


def test_the_leaderboard_window_is_capped_at_10(app, db):
    project = ProjectFactory()
    tasks = [TaskFactory(project=project, n_answers=100) for _ in range(30)]
    users = [make_user() for _ in range(30)]
    for count, user in enumerate(users):
        for task in tasks[: count + 1]:
            TaskRunFactory(task=task, user=user)
    sign_in(app, users[15])

    body = app.get("/leaderboard/window/50", headers=JSON).json

    ranks = [row["rank"] for row in body["top_users"]]
    assert ranks == list(range(1, 21)) + list(range(5, 26))


def test_admin_categories_derive_the_short_name(app, db):
    sign_in(app, make_user(admin=True))
    token = csrf_token(app, "/admin/categories")

    app.post_json(
        "/admin/categories",
        {"name": "Bird Counts", "description": "d"},
        headers={"X-CSRFToken": token},
    )

    assert db.scalars(select(Category.short_name).where(Category.name == "Bird Counts")).one() == (
        "birdcounts"
    )


# -- account jobs run in the application's process: its mailer, its caches -----------------


def test_an_account_deletion_job_forgets_the_cached_leaderboard(make_app, db):
    """Without Redis the board is cached in the process; the job's own commit forgets it (the
    request that queued it may have committed long before, or bumped nothing)."""
    app = make_app(mail__mailer="dummy")
    registry = app.app.registry
    leaving, staying = make_user(), make_user()
    project = ProjectFactory()
    for _ in range(2):
        TaskRunFactory(task=TaskFactory(project=project), user=leaving)
    TaskRunFactory(task=TaskFactory(project=project), user=staying)
    before = [row["name"] for row in app.get("/leaderboard/", headers=JSON).json["top_users"]]
    assert before == [leaving.name, staying.name]  # now cached

    run_inline(registry.settings, delete_account_job, (leaving.id,), {}, None, registry)

    after = app.get("/leaderboard/", headers=JSON).json["top_users"]
    assert [(row["name"], row["rank"]) for row in after] == [(staying.name, 1)]
    profile = app.get(f"/account/{staying.name}/", headers=JSON).json["user"]
    assert (profile["rank"], profile["score"]) == (1, 1)


def test_an_account_job_mails_through_its_applications_mailer(make_app, db):
    """The mailer is the registry's, found from the job: a new one registered is the one used."""
    app = make_app(mail__mailer="dummy", brand="Other brand")
    registry = app.app.registry
    kept = registry.getUtility(IMailer)
    replacement = DummyMailer()
    registry.registerUtility(replacement, IMailer)
    user = make_user()
    try:
        sign_in(app, user)
        token = csrf_token(app, "/account/profile")
        app.post_json(f"/account/{user.name}/export", {}, headers={"X-CSRFToken": token})
    finally:
        registry.registerUtility(kept, IMailer)

    assert [message.recipients for message in replacement.outbox] == [[user.email_addr]]
    assert replacement.outbox[0].subject == "Other brand: Your personal data"


def test_outside_the_applications_process_a_job_builds_its_own_mailer(app_settings):
    """An RQ worker has no application registry: the mailer comes from its settings."""
    settings = load_settings({**app_settings, "mail.mailer": "dummy"}, here=".")

    assert application_registry(settings) is None
    assert isinstance(mailer_for(settings), DummyMailer)


# -- 9.6 announcements, 9.8 admin users ------------------------------------------------------


@pytest.mark.parametrize("role", ["anonymous", "volunteer", "admin"])
def test_unpublished_announcements_are_listed_to_admins_only(app, db, role):
    """PYBOSSA lists them to everyone; an admin's draft is private (decision 17), as on /api."""
    shown = AnnouncementFactory(title="Shown")
    draft = AnnouncementFactory(title="Draft", published=False)
    if role != "anonymous":
        sign_in(app, make_user(admin=role == "admin"))

    body = app.get("/announcements/", headers=JSON).json

    listed = [announcement["id"] for announcement in body["announcements"]]
    assert listed == ([draft.id, shown.id] if role == "admin" else [shown.id])


def test_admin_user_searches_give_the_full_user_dict_but_the_hash(app, db):
    """behavior.md 9.8: full user dicts, api_key included; passwd_hash nowhere (decision 3)."""
    sign_in(app, make_user(admin=True))
    wanted = make_user(name="wanted")
    token = csrf_token(app, "/admin/users")

    found = app.post_json("/admin/users", {"user": "want"}, headers={"X-CSRFToken": token}).json

    (user,) = found["found"]
    assert user["api_key"] == wanted.api_key and user["email_addr"] == wanted.email_addr
    assert {"id", "name", "fullname", "admin", "pro", "restrict", "info"} <= set(user)
    assert "passwd_hash" not in user and "session_epoch" not in user


# -- 9.3 the strong password policy (ENABLE_STRONG_PASSWORD) -----------------------------------

NEW_ACCOUNT = {"fullname": "Ada L", "name": "ada", "email_addr": "ada@example.org"}


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("Secret-pass1", True),
        ("weak", False),
        ("secret-pass1", False),  # no upper-case letter
        ("SECRET-PASS1", False),  # no lower-case letter
        ("Secret-pass", False),  # no digit
        ("Secretpass12", False),  # no symbol
        ("Secret-pass1234567", False),  # over 15 characters
    ],
)
def test_registration_follows_the_strong_password_policy(make_app, db, password, accepted):
    app = make_app(account__strong_password="true")
    token = csrf_token(app, "/account/register")
    fields = {**NEW_ACCOUNT, "password": password, "confirm": password}

    body = app.post_json("/account/register", fields, headers={"X-CSRFToken": token}).json

    assert (body["status"] == "success") is accepted
    if not accepted:
        assert body["form"]["errors"]["password"] == [STRONG_PASSWORD]


def test_without_the_policy_any_password_is_taken(app, db):
    token = csrf_token(app, "/account/register")
    fields = {**NEW_ACCOUNT, "password": "weak", "confirm": "weak"}

    body = app.post_json("/account/register", fields, headers={"X-CSRFToken": token}).json

    assert body["status"] == "success"


def test_a_changed_password_follows_the_strong_password_policy(make_app, db):
    app = make_app(account__strong_password="true")
    user = make_user()
    sign_in(app, user)
    token = csrf_token(app, f"/account/{user.name}/update")
    change = {"btn": "Password", "current_password": PASSWORD}

    weak = {**change, "new_password": "weak", "confirm": "weak"}
    strong = {**change, "new_password": "Secret-pass1", "confirm": "Secret-pass1"}
    url = f"/account/{user.name}/update"
    refused = app.post_json(url, weak, headers={"X-CSRFToken": token}).json
    taken = app.post_json(url, strong, headers={"X-CSRFToken": token}).json

    assert refused["password_form"]["errors"]["new_password"] == [STRONG_PASSWORD]
    assert taken["status"] == "success"


# -- 9.2 a CSRF token is valid 3600 s (csrf.max_age) and for its own session -------------------


def test_a_csrf_token_expires(make_app, db, monkeypatch):
    app = make_app()
    sign_in(app, make_user())
    token = csrf_token(app, "/account/register")
    issued = time.time()

    monkeypatch.setattr(security.time, "time", lambda: issued + 3599)
    app.get(f"/account/signout?csrf={token}", headers=JSON, status=200)
    sign_in(app, make_user())
    token = csrf_token(app, "/account/register")
    monkeypatch.setattr(security.time, "time", lambda: issued + 3599 + 3601)
    body = app.get(f"/account/signout?csrf={token}", headers=JSON, status=400).json

    assert body == {"code": 400, "description": "CSRF validation failed.", "template": "400.html"}


@pytest.mark.parametrize("forged", ["", "x", "1.2", "9" * 5000 + ".ab", "{issued}.{signature}"])
def test_a_csrf_token_of_another_session_or_forged_is_refused(app, make_app, db, forged):
    other = make_app()
    csrf_token(other, "/account/register")
    sign_in(app, make_user())
    theirs = csrf_token(other, "/account/register")
    issued = theirs.split(".")[0]
    supplied = forged.format(issued=issued, signature="0" * 64) if forged else theirs

    app.get("/account/signout", headers={**JSON, "X-CSRFToken": supplied}, status=400)


# -- 9.7 alternative boards (LEADERBOARDS) -----------------------------------------------------


def test_an_alternative_board_ranks_by_an_info_integer(make_app, db):
    app = make_app(leaderboard__boards="points")
    low, high = make_user(info={"points": 3}), make_user(info={"points": 7})
    wordy, restricted = (
        make_user(info={"points": "many"}),
        make_user(info={"points": 9}, restrict=True),
    )
    for contributor in (low, high, wordy, restricted):
        TaskRunFactory(user=contributor)
    # Accounts write their own info: one that never answered is not ranked (decision 27).
    make_user(info={"points": 99})
    sign_in(app, low)

    body = app.get("/leaderboard/?info=points", headers=JSON).json

    rows = [(row["name"], row["rank"], row["score"]) for row in body["top_users"]]
    # The caller's own row is appended after the top list, as on the main board (9.7).
    assert rows == [(high.name, 1, 7), (low.name, 2, 3), (low.name, 2, 3)]
    app.get("/leaderboard/?info=other", headers=JSON, status=404)


# -- decision 11: the state-changing GETs of 9.2 need the token (PYBOSSA leaves them open) ----

STATE_CHANGING_GETS = [
    "/admin/users/add/{other}",
    "/admin/users/del/{other}",
    "/project/{sn}/add_coowner/{other_name}",
    "/project/{sn}/del_coowner/{other_name}",
    "/account/signout",
    "/account/newsletter?subscribe=True",
]


@pytest.mark.parametrize("template", STATE_CHANGING_GETS)
def test_state_changing_gets_need_the_csrf_token(app, db, template):
    """Decision 11: the token in X-CSRFToken or ?csrf=; without it, the documented 400."""
    admin = make_user(admin=True)
    other = make_user()
    project = ProjectFactory(owner=admin)
    sign_in(app, admin)
    url = template.format(sn=project.short_name, other=other.id, other_name=other.name)
    token = csrf_token(app, "/account/register")

    refused = app.get(url, headers=JSON, status=400).json
    joiner = "&" if "?" in url else "?"
    accepted = app.get(f"{url}{joiner}csrf={token}", headers=JSON, status="*")

    assert refused["description"] == "CSRF validation failed."
    assert accepted.status_int in (200, 302)


def test_account_deletion_is_never_a_plain_get(app, db):
    """PYBOSSA queues the deletion on GET /account/<name>/delete; here the GET only shows the
    form, the deletion needs a POST with the current password and the token (decisions 11, 16)."""
    user = make_user()
    sign_in(app, user)
    token = csrf_token(app, "/account/register")

    body = app.get(f"/account/{user.name}/delete?csrf={token}", headers=JSON).json

    assert body["template"] == "account/delete.html"
    db.expire_all()
    assert db.get(User, user.id) is not None


# -- 9.4 the figures of a project page come from ProjectStats, n_task_runs its own -------------


def test_n_task_runs_is_the_number_of_answers_not_of_tasks(app, db):
    """behavior.md 9.4 notes PYBOSSA fills n_task_runs with n_tasks: a bug, fixed here."""
    project = ProjectFactory()
    tasks = [TaskFactory(project=project, n_answers=5) for _ in range(2)]
    for task in tasks:
        for _ in range(3):
            TaskRunFactory(task=task, user=make_user())
    stats.recompute(db, project.id)
    db.commit()

    body = app.get(f"/project/{project.short_name}/", headers=JSON).json

    assert (body["n_tasks"], body["n_task_runs"]) == (2, 6)
    assert body["project"]["n_task_runs"] == 6


# PYBOSSA's public project attribute list (behavior.md 1.1), without the API's link/links/stats.
PUBLIC_PROJECT_KEYS = set(
    "id description info n_tasks n_volunteers name overall_progress short_name created"
    " category_id long_description last_activity last_activity_raw n_task_runs n_results owner"
    " updated featured owner_id n_completed_tasks n_blogposts owners_ids".split()
)


@pytest.mark.parametrize("role", ["anonymous", "volunteer"])
def test_others_get_every_public_project_key(app, db, role):
    """9.4: everyone but the owners gets the public attribute list, every key present."""
    project = ProjectFactory()
    TaskRunFactory(task=TaskFactory(project=project), user=make_user())
    stats.recompute(db, project.id)
    db.commit()
    if role == "volunteer":
        sign_in(app, make_user())

    shown = app.get(f"/project/{project.short_name}/", headers=JSON).json["project"]

    assert PUBLIC_PROJECT_KEYS | {"contrib_button"} <= set(shown)
    assert (shown["n_tasks"], shown["n_task_runs"]) == (1, 1)
    assert "secret_key" not in shown and "published" not in shown


# -- 9.4 the default order of a project list ----------------------------------------------------


def listed(**fields) -> dict:
    base = {
        "overall_progress": 100,
        "name": "test",
        "short_name": "test",
        "info": {},
        "n_tasks": 0,
        "n_volunteers": 0,
        "updated": None,
        "last_activity_raw": None,
    }
    return {**base, **fields}


@pytest.mark.parametrize(
    ("fields", "points"),
    [
        ({}, 0),
        ({"overall_progress": 99}, 1000),
        ({"name": "Birds", "short_name": "birds"}, 500),
        ({"name": "Birds"}, 0),  # "test" in the short name is enough
        ({"info": {"thumbnail": "t.png"}}, 200),
        ({"n_tasks": 101}, 20),
        ({"n_tasks": 11}, 5),
        ({"n_volunteers": 51}, 30),
        ({"n_volunteers": 1}, 2),
        ({"updated": "2026-01-09T12:00:00"}, 50),
        ({"last_activity_raw": "2026-01-08T13:00:00"}, 20),
        ({"updated": "2026-01-07T13:00:00"}, 10),
        ({"updated": "2026-01-06T13:00:00"}, 5),
        ({"updated": "2026-01-01T00:00:00"}, 0),
    ],
)
def test_the_default_order_is_pybossas_score(fields, points):
    now = datetime(2026, 1, 10, 0, 0)

    assert project_listing.rank_score(listed(**fields), now) == points


# -- 9.1 negotiation is a superset (decision 9) --------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json; charset=utf-8"},  # PYBOSSA: HTML (decision 9)
        {"Accept": "application/json"},  # PYBOSSA: HTML (decision 9)
    ],
)
def test_json_is_asked_for_by_content_type_with_a_charset_or_accept(app, db, headers):
    body = app.get("/account/signin", headers=headers).json

    assert (body["template"], body["title"]) == ("account/signin.html", "Sign in")
    assert set(body["form"]) == {"email", "password", "csrf", "errors"}


@pytest.mark.parametrize("role", ["coowner", "admin"])
def test_coowners_and_admins_get_the_full_project_but_the_public_owner(
    signed_in, project_roles, role
):
    """9.4 gives the full dict to the primary owner only. Co-owners get it too (decision 5: one
    ownership model), admins too (what /api/project gives them, decision 17's readable()); the
    owner's private summary stays the owner's own."""
    project, roles = project_roles
    app = signed_in(roles[role])

    body = app.get(f"/project/{project.short_name}/", headers=JSON).json

    assert body["project"]["secret_key"] == project.secret_key
    api = app.get(f"/api/project/{project.id}", headers={"Authorization": roles[role].api_key})
    assert api.json["secret_key"] == project.secret_key
    assert "api_key" not in body["owner"] and "email_addr" not in body["owner"]


def test_an_api_session_write_takes_a_token_of_any_age(app, db, monkeypatch):
    """A volunteer stays on the contribution page for hours; its /api writes carry the token
    the page was rendered with (decision 11). The forms' tokens expire (9.2), not these."""
    CategoryFactory()
    sign_in(app, make_user())
    token = csrf_token(app, "/account/profile")
    issued = time.time()
    monkeypatch.setattr(security.time, "time", lambda: issued + 3 * 3600)
    body = {"name": "P", "short_name": "p", "description": "d"}

    created = app.post_json("/api/project", body, headers={"X-CSRFToken": token})
    refused = app.post_json("/api/project", body, headers={"X-CSRFToken": "1.forged"}, status=400)

    assert created.json["short_name"] == "p"
    assert refused.json["exception_msg"] == "CSRF validation failed."
