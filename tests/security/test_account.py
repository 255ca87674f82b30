"""Accounts under attack (issue 17): stolen sessions, account changes, credential guessing.

- Point 6: a session ends at sign-out and at a password change, even as a copied cookie.
- Points 2 and 4, decision 16: a new e-mail address needs the caller's current password, on
  the web and through PUT /api/user, and waits for its confirmation when that is on; `name`,
  `email_addr` and `locale` follow the profile page's rules through the API too.
- Point 9, decision 21: credential endpoints answer 429 (with Retry-After) past their limit,
  per account and per address, before any password is checked.
"""

import pytest
import webtest
from pyramid_mailer.interfaces import IMailer

from core.models import User
from core.passwords import hash_password, verify_password
from core.security import SESSION_COOKIE
from tests.factories import PASSWORD, ProjectFactory, TaskFactory, UserFactory
from tests.functional.web.conftest import JSON, csrf_token, sign_in

NEW_PASSWORD = "another-secret-password"


def fresh(db, user) -> User:
    """The account as committed now."""
    db.rollback()
    db.expire_all()
    return db.get(User, user.id)


def signed_in_as(app) -> str | None:
    """The name of the account the app's cookie signs in, or None."""
    body = app.get("/account/profile", headers=JSON).json
    return body["user"]["name"] if "user" in body else None


def copy_of(app) -> webtest.TestApp:
    """Another client holding a copy of `app`'s session cookie (as a thief would)."""
    thief = webtest.TestApp(app.app, extra_environ={"REMOTE_ADDR": "10.9.9.9"})
    thief.set_cookie(SESSION_COOKIE, app.cookies[SESSION_COOKIE])
    return thief


def session_csrf(app) -> dict:
    return {"X-CSRFToken": csrf_token(app, "/account/forgot-password")}


# --- point 6: sessions end ------------------------------------------------------------------


def test_a_copied_session_cookie_stops_working_at_sign_out(app, db):
    user = UserFactory()
    sign_in(app, user)
    thief = copy_of(app)
    assert signed_in_as(thief) == user.name

    app.post("/account/signout", {"csrf_token": csrf_token(app, "/account/forgot-password")})

    assert signed_in_as(app) is None
    assert signed_in_as(thief) is None
    # Not through the API either: the session is anonymous there too.
    thief.put_json(f"/api/user/{user.id}", {"fullname": "Stolen"}, status=401)
    assert fresh(db, user).fullname != "Stolen"


def test_a_password_change_ends_other_sessions_and_keeps_the_changers(app, db):
    user = UserFactory(name="ada")
    sign_in(app, user)
    thief = copy_of(app)
    url = "/account/ada/update"

    app.post_json(
        url,
        {
            "btn": "Password",
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
        headers={"X-CSRFToken": csrf_token(app, url)},
    )

    assert signed_in_as(app) == "ada"
    assert signed_in_as(thief) is None


def test_a_password_reset_ends_every_session(make_app, db):
    app = make_app(mail__mailer="dummy")
    outbox = app.app.registry.getUtility(IMailer).outbox
    outbox.clear()
    user = UserFactory()
    sign_in(app, user)
    thief = copy_of(app)
    stranger = webtest.TestApp(app.app, extra_environ={"REMOTE_ADDR": "10.0.0.2"})
    stranger.post_json(
        "/account/forgot-password",
        {"email_addr": user.email_addr},
        headers={"X-CSRFToken": csrf_token(stranger, "/account/forgot-password")},
    )
    link = outbox[-1].body.split("http://localhost")[1].split()[0]

    stranger.post_json(
        link,
        {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        headers={"X-CSRFToken": csrf_token(stranger, "/account/forgot-password")},
    )

    assert signed_in_as(stranger) == user.name
    assert signed_in_as(thief) is None


def test_the_lean_delivery_path_honours_ended_sessions(make_app, db, redis_client, redis_url):
    # core.delivery leaves session-cookie requests to Pyramid: the same rule applies there.
    app = make_app(redis__url=redis_url)
    project = ProjectFactory(
        allow_anonymous_contributors=False, info={"task_presenter": "<div></div>"}
    )
    TaskFactory(project=project)
    user = UserFactory()
    sign_in(app, user)
    thief = copy_of(app)
    url = f"/api/project/{project.id}/newtask"
    assert thief.get(url).json.get("project_id") == project.id

    app.post("/account/signout", {"csrf_token": csrf_token(app, "/account/forgot-password")})

    refused = thief.get(url).json
    assert refused["info"] == {"error": "This project does not allow anonymous contributors"}


def test_the_session_epoch_is_never_shown_nor_written(app, db):
    user = UserFactory()
    headers = {"Authorization": user.api_key}

    shown = app.get(f"/api/user/{user.id}", headers=headers).json
    app.put_json(f"/api/user/{user.id}", {"session_epoch": 7}, headers=headers, status=415)

    assert "session_epoch" not in shown
    assert fresh(db, user).session_epoch == 0


# --- decision 16: the current password ------------------------------------------------------


def put_email(app, user, caller, email, **extra):
    return app.put_json(
        f"/api/user/{user.id}",
        {"email_addr": email, **extra},
        headers={"Authorization": caller.api_key},
        expect_errors=True,
    )


def test_api_email_change_needs_the_current_password(app, db):
    user = UserFactory()
    before = user.email_addr

    missing = put_email(app, user, user, "thief@example.net")
    wrong = put_email(app, user, user, "thief@example.net", current_password="guess")

    assert (missing.status_int, missing.json["exception_cls"]) == (400, "BadRequest")
    assert "current_password" in missing.json["exception_msg"]
    assert (wrong.status_int, wrong.json["exception_cls"]) == (403, "Forbidden")
    assert fresh(db, user).email_addr == before

    right = put_email(app, user, user, "new@example.net", current_password=PASSWORD)

    assert right.status_int == 200
    assert "current_password" not in right.json
    stored = fresh(db, user)
    assert (stored.email_addr, stored.valid_email) == ("new@example.net", False)


def test_api_email_change_through_a_session_needs_the_current_password(app, db):
    # The presenter attack: the volunteer's session and CSRF token, but not the password.
    user = UserFactory()
    sign_in(app, user)
    url = f"/api/user/{user.id}"

    refused = app.put_json(
        url, {"email_addr": "thief@example.net"}, headers=session_csrf(app), status=400
    )

    assert refused.json["exception_cls"] == "BadRequest"
    assert fresh(db, user).email_addr != "thief@example.net"


def test_other_fields_need_no_password(app, db):
    user = UserFactory()

    app.put_json(
        f"/api/user/{user.id}",
        {"fullname": "New Name", "email_addr": user.email_addr.upper()},
        headers={"Authorization": user.api_key},
    )

    assert fresh(db, user).fullname == "New Name"


def test_an_admin_changing_someone_else_gives_their_own_password(app, db):
    target = UserFactory(passwd_hash=None)
    admin = UserFactory(admin=True)

    with_targets = put_email(app, target, admin, "moved@example.net", current_password="x")
    with_own = put_email(app, target, admin, "moved@example.net", current_password=PASSWORD)

    assert with_targets.status_int == 403
    assert with_own.status_int == 200
    assert fresh(db, target).email_addr == "moved@example.net"


def test_an_account_without_a_password_cannot_change_its_address(app, db):
    # Signed in through an outside service: a new address could be linked to an outside
    # identity carrying it (core.services.oauth), so it cannot be changed without a password.
    user = UserFactory(passwd_hash=None)

    refused = put_email(app, user, user, "moved@example.net", current_password=PASSWORD)

    assert refused.status_int == 403
    assert fresh(db, user).email_addr != "moved@example.net"


def test_web_profile_email_change_needs_the_current_password(app, db):
    user = UserFactory(name="ada", fullname="Ada Lovelace")
    sign_in(app, user)
    url = "/account/ada/update"
    profile = {"fullname": "Ada Lovelace", "name": "ada", "locale": "en", "btn": "Profile"}

    refused = app.post_json(
        url,
        {**profile, "email_addr": "thief@example.net"},
        headers={"X-CSRFToken": csrf_token(app, url)},
    ).json
    wrong = app.post_json(
        url,
        {**profile, "email_addr": "thief@example.net", "current_password": "guess"},
        headers={"X-CSRFToken": csrf_token(app, url)},
    ).json

    assert refused["form"]["errors"]["current_password"] == ["You must give your current password"]
    assert wrong["form"]["errors"]["current_password"] == [
        "Your current password doesn't match the one in our records"
    ]
    assert wrong["form"]["current_password"] is None  # never echoed
    assert fresh(db, user).email_addr != "thief@example.net"

    app.post_json(
        url,
        {**profile, "email_addr": "ada@example.net", "current_password": PASSWORD},
        headers={"X-CSRFToken": csrf_token(app, url)},
    )

    assert fresh(db, user).email_addr == "ada@example.net"


def test_web_password_change_by_an_admin_takes_the_admins_password(app, db):
    target = UserFactory(name="ada")
    admin_password = "admins-own-password"
    admin = UserFactory(admin=True, passwd_hash=hash_password(admin_password))
    sign_in(app, admin, admin_password)
    url = "/account/ada/update"
    change = {"btn": "Password", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}

    with_targets = app.post_json(
        url,
        {**change, "current_password": PASSWORD},
        headers={"X-CSRFToken": csrf_token(app, url)},
    ).json
    assert "current_password" in with_targets["password_form"]["errors"]
    app.post_json(
        url,
        {**change, "current_password": admin_password},
        headers={"X-CSRFToken": csrf_token(app, url)},
    )

    assert verify_password(fresh(db, target).passwd_hash, NEW_PASSWORD)
    assert signed_in_as(app) == admin.name


# --- point 4: one rule for the address, one validation -----------------------------------


def test_api_email_change_waits_for_its_confirmation(make_app, db):
    app = make_app(account__confirm_email="true", mail__mailer="dummy")
    outbox = app.app.registry.getUtility(IMailer).outbox
    outbox.clear()
    user = UserFactory()
    before = user.email_addr

    answer = put_email(app, user, user, "new@example.net", current_password=PASSWORD)

    assert answer.status_int == 200
    assert fresh(db, user).email_addr == before
    assert [message.recipients for message in outbox] == [["new@example.net"]]
    link = outbox[0].body.split("http://localhost")[1].split()[0]
    app.get(link, status=302)
    stored = fresh(db, user)
    assert (stored.email_addr, stored.valid_email) == ("new@example.net", True)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "a/b"),
        ("name", "   "),
        ("name", ""),
        ("name", "ab"),
        ("name", "signin"),
        ("name", "ada\u202etxt"),
        ("name", 42),
        ("email_addr", "not-an-address"),
        ("email_addr", ""),
        ("locale", "../../etc"),
        ("locale", "xx"),
    ],
)
def test_api_validates_account_fields_as_the_profile_page(app, db, field, value):
    user = UserFactory()
    before = {key: getattr(user, key) for key in ("name", "email_addr", "locale")}

    refused = app.put_json(
        f"/api/user/{user.id}",
        {field: value, "current_password": PASSWORD},
        headers={"Authorization": user.api_key},
        status=415,
    ).json

    assert refused["exception_cls"] == "DataError"
    assert refused["exception_msg"].startswith(f"{field}: ")
    stored = fresh(db, user)
    assert {key: getattr(stored, key) for key in before} == before


def test_api_refuses_a_name_or_address_taken_in_another_letter_case(app, db):
    user = UserFactory()
    other = UserFactory(name="grace")

    name = app.put_json(
        f"/api/user/{user.id}",
        {"name": "GRACE"},
        headers={"Authorization": user.api_key},
        status=415,
    ).json
    email = put_email(app, user, user, other.email_addr.upper(), current_password=PASSWORD)

    assert name["exception_cls"] == email.json["exception_cls"] == "DBIntegrityError"
    assert fresh(db, user).name != "GRACE"


def test_the_web_form_refuses_invisible_characters_in_a_name(app, db):
    user = UserFactory(name="ada", fullname="Ada Lovelace")
    sign_in(app, user)
    url = "/account/ada/update"

    body = app.post_json(
        url,
        {
            "fullname": "Ada Lovelace",
            "name": "ad\u200ba",
            "email_addr": user.email_addr,
            "locale": "en",
            "btn": "Profile",
        },
        headers={"X-CSRFToken": csrf_token(app, url)},
    ).json

    assert body["form"]["errors"]["name"] == ["Invisible and control characters are not allowed"]


# --- point 9, decision 21: credential attempts are limited ---------------------------------

LIMITS = {"ratelimit__credentials__limit": "3", "ratelimit__credentials__address_limit": "5"}


@pytest.fixture
def limited(make_app, monkeypatch):
    """An app with low credential limits, and the count of passwords checked."""
    app = make_app(mail__mailer="dummy", **LIMITS)
    checked = []

    def counting(password_hash, password):
        checked.append(password)
        return real(password_hash, password)

    real = verify_password
    for module in ("core.web.account", "core.web.project_password", "core.services.account"):
        monkeypatch.setattr(f"{module}.verify_password", counting)
    return app, checked


def post_signin(app, email, password, status=200):
    return app.post_json(
        "/account/signin",
        {"email": email, "password": password},
        headers={"X-CSRFToken": csrf_token(app)},
        status=status,
    )


def test_sign_in_is_limited_per_account_before_the_password_is_checked(limited, db):
    app, checked = limited
    user = UserFactory()
    for guess in ("a", "b", "c"):
        post_signin(app, user.email_addr, guess)
    assert len(checked) == 3

    refused = post_signin(app, user.email_addr, PASSWORD, status=429)

    assert len(checked) == 3  # nothing hashed for the refused attempt
    assert 1 <= int(refused.headers["Retry-After"]) <= 300
    assert refused.json["code"] == 429
    assert signed_in_as(app) is None
    # Another address is refused too: the account is what is counted.
    elsewhere = webtest.TestApp(app.app, extra_environ={"REMOTE_ADDR": "10.7.7.7"})
    post_signin(elsewhere, user.email_addr.upper(), PASSWORD, status=429)


def test_sign_in_is_limited_per_address(limited, db):
    app, _ = limited
    for n in range(5):
        post_signin(app, f"nobody{n}@example.org", "guess")

    refused = post_signin(app, "nobody9@example.org", "guess", status=429)

    assert "Retry-After" in refused.headers
    # Another address is not concerned.
    elsewhere = webtest.TestApp(app.app, extra_environ={"REMOTE_ADDR": "10.7.7.7"})
    post_signin(elsewhere, "nobody9@example.org", "guess", status=200)


def test_sign_in_429_in_html(limited, db):
    app, _ = limited
    for _ in range(3):
        post_signin(app, "x@example.org", "guess")
    token = csrf_token(app)

    page = app.post(
        "/account/signin",
        {"email": "x@example.org", "password": "g", "csrf_token": token},
        status=429,
    )

    assert "Retry-After" in page.headers


def _forgot(app, user, status, project):
    url = "/account/forgot-password"
    return app.post_json(
        url,
        {"email_addr": user.email_addr},
        headers={"X-CSRFToken": csrf_token(app, url)},
        status=status,
    )


def _reset(app, user, status, project):
    url = "/account/reset-password?key=not-a-key"
    return app.post_json(
        url,
        {"new_password": "x", "confirm": "x"},
        headers={"X-CSRFToken": csrf_token(app, "/account/forgot-password")},
        status=status if status == 429 else 403,
    )


def _register(app, user, status, project):
    url = "/account/register"
    return app.post_json(
        url,
        {"fullname": "Some One", "name": "x", "email_addr": user.email_addr, "password": "p"},
        headers={"X-CSRFToken": csrf_token(app, url)},
        status=status,
    )


def _project_password(app, user, status, project):
    url = f"/project/{project.short_name}/password"
    return app.post_json(
        url,
        {"password": "guess"},
        headers={"X-CSRFToken": csrf_token(app, "/account/forgot-password")},
        status=status,
    )


@pytest.mark.parametrize("attempt", [_forgot, _reset, _register, _project_password])
def test_other_credential_endpoints_are_limited(limited, db, attempt):
    app, _ = limited
    user = UserFactory()
    project = ProjectFactory(info={"passwd_hash": user.passwd_hash})
    # A reset link names no account: only its address is counted (limit 5).
    for _ in range(3 if attempt is not _reset else 5):
        attempt(app, user, 200, project)

    refused = attempt(app, user, 429, project)

    assert "Retry-After" in refused.headers


def test_project_password_guessing_checks_no_password_once_limited(limited, db):
    app, checked = limited
    project = ProjectFactory(info={"passwd_hash": UserFactory().passwd_hash})
    url = f"/project/{project.short_name}/password"
    headers = {"X-CSRFToken": csrf_token(app, "/account/forgot-password")}
    for _ in range(3):
        app.post_json(url, {"password": "guess"}, headers=headers)

    app.post_json(url, {"password": PASSWORD}, headers=headers, status=429)

    assert len(checked) == 3


def test_current_password_guessing_through_the_api_is_limited(limited, db):
    app, checked = limited
    user = UserFactory()
    for guess in ("a", "b", "c"):
        assert (
            put_email(app, user, user, "n@example.net", current_password=guess).status_int == 403
        )

    refused = put_email(app, user, user, "n@example.net", current_password=PASSWORD)

    assert (refused.status_int, refused.json["exception_cls"]) == (429, "TooManyRequests")
    assert "Retry-After" in refused.headers
    assert len(checked) == 3


def test_ldap_sign_in_is_limited_per_login(make_app, db):
    pytest.importorskip("ldap3")
    from tests.functional.web.test_oauth_ldap import LDAP_SETTINGS

    app = make_app(**LDAP_SETTINGS, **LIMITS)
    url = "/account/signin/ldap"

    def attempt(status):
        return app.post_json(
            url,
            {"username": "ada", "password": "guess"},
            headers={"X-CSRFToken": csrf_token(app, url)},
            status=status,
        )

    for _ in range(3):
        attempt(200)

    assert "Retry-After" in attempt(429).headers
