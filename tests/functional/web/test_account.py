"""/account/register, /account/signin, /account/signout, /account/profile."""

from urllib.parse import quote

import pytest
from sqlalchemy import select

from core.models import User
from core.passwords import verify_password
from tests.factories import TaskRunFactory
from tests.functional.web.conftest import JSON, PASSWORD, csrf_token, make_user, sign_in

NEW_ACCOUNT = {
    "fullname": "Ada Lovelace",
    "name": "ada",
    "email_addr": "ada@example.org",
    "password": "analytical",
    "confirm": "analytical",
}


def register(app, **fields):
    token = csrf_token(app, "/account/register")
    return app.post_json(
        "/account/register", {**NEW_ACCOUNT, **fields}, headers={"X-CSRFToken": token}
    )


def test_register_form_in_json(app, db):
    body = app.get("/account/register", headers=JSON).json

    assert set(body["form"]) == {
        "fullname",
        "name",
        "email_addr",
        "password",
        "confirm",
        "consent",
        "csrf",
        "errors",
    }
    assert body["template"] == "account/register.html"
    assert body["title"] == "Register"


def test_register_form_in_html(app, db):
    response = app.get("/account/register")

    assert response.content_type == "text/html"
    assert 'name="email_addr"' in response.text
    assert 'name="csrf_token"' in response.text


def test_first_account_becomes_admin_and_is_signed_in(app, db):
    response = register(app)

    assert response.json == {"next": "/", "flash": "Thanks for signing-up", "status": "success"}
    user = db.scalars(select(User).where(User.name == "ada")).one()
    assert user.admin is True
    assert verify_password(user.passwd_hash, "analytical")
    assert user.passwd_hash.startswith("$argon2")
    assert app.get("/account/profile", headers=JSON).json["user"]["name"] == "ada"


def test_later_accounts_are_not_admin(app, db):
    make_user()

    register(app)

    assert db.scalars(select(User).where(User.name == "ada")).one().admin is False


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "ab"}, "name", "User name must be between 3 and 35 characters long"),
        ({"name": "a" * 36}, "name", "User name must be between 3 and 35 characters long"),
        ({"name": "ada lovelace"}, "name", "$#&\\/| and space symbols are forbidden"),
        ({"name": "a$b#c"}, "name", "$#&\\/| and space symbols are forbidden"),
        ({"name": "signin"}, "name", "This name is used by the system."),
        ({"name": "Register"}, "name", "This name is used by the system."),
        ({"email_addr": "not-an-email"}, "email_addr", "Invalid email address."),
        (
            {"email_addr": "a" * 250 + "@x.org"},
            "email_addr",
            "Email must be at most 254 characters long",
        ),
        ({"password": "", "confirm": ""}, "password", "Password cannot be empty"),
        ({"confirm": "different"}, "confirm", "Passwords must match"),
        ({"fullname": ""}, "fullname", "The full name is required"),
    ],
)
def test_register_refuses_bad_input(app, db, fields, field, message):
    body = register(app, **fields).json

    assert message in body["form"]["errors"][field]
    assert body["flash"] == "Please correct the errors"
    assert body["status"] == "error"
    assert body["form"]["password"] is None
    assert db.scalars(select(User)).all() == []


def test_register_refuses_taken_name_and_email(app, db):
    make_user(name="ada", email_addr="ADA@example.org")

    errors = register(app).json["form"]["errors"]

    assert errors["name"] == ["The user name is already taken"]
    assert errors["email_addr"] == ["The e-mail is already taken"]


def test_register_errors_in_html_show_the_form_again(app, db):
    token = csrf_token(app, "/account/register")

    response = app.post("/account/register", {**NEW_ACCOUNT, "name": "x", "csrf_token": token})

    assert response.status_int == 200
    assert "User name must be between 3 and 35 characters long" in response.text
    assert 'aria-invalid="true"' in response.text
    assert "Please correct the errors" in response.text


def test_register_in_html_redirects_home(app, db):
    token = csrf_token(app, "/account/register")

    response = app.post("/account/register", {**NEW_ACCOUNT, "csrf_token": token}, status=302)

    assert response.location.endswith("/")


def test_signin_form_in_json(app, db):
    body = app.get("/account/signin?next=/project/x/update", headers=JSON).json

    assert set(body["form"]) == {"email", "password", "csrf", "errors"}
    assert body["next"] == "/project/x/update"
    assert body["title"] == "Sign in"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "", "password": "x"}, "email", "The e-mail is required"),
        ({"email": "a@b.org", "password": ""}, "password", "You must provide a password"),
    ],
)
def test_signin_requires_email_and_password(app, db, fields, field, message):
    token = csrf_token(app)

    body = app.post_json("/account/signin", fields, headers={"X-CSRFToken": token}).json

    assert body["form"]["errors"][field] == [message]
    assert (body["flash"], body["status"]) == ("Please correct the errors", "error")


def test_signin_unknown_email(app, db):
    token = csrf_token(app)

    body = app.post_json(
        "/account/signin",
        {"email": "who@example.org", "password": "x"},
        headers={"X-CSRFToken": token},
    ).json

    assert body["status"] == "info"
    assert body["flash"] == "Ooops, we didn't find you in the system, did you sign up?"


def test_signin_wrong_password(app, db):
    user = make_user()

    body = sign_in(app, user, password="wrong").json

    assert (body["status"], body["flash"]) == ("error", "Ooops, Incorrect email/password")
    assert app.get("/account/profile", headers=JSON).json["status"] == "not_signed_in"


def test_signin_success_goes_to_next(app, db):
    user = make_user(fullname="Grace Hopper")
    token = csrf_token(app, "/account/signin?next=/project/birds/update")

    body = app.post_json(
        "/account/signin?next=/project/birds/update",
        {"email": user.email_addr, "password": PASSWORD},
        headers={"X-CSRFToken": token},
    ).json

    assert body == {
        "next": "/project/birds/update",
        "flash": "Welcome back Grace Hopper",
        "status": "success",
    }


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
def test_signin_ignores_offsite_next(app, db, next_url):
    user = make_user()
    token = csrf_token(app)

    body = app.post_json(
        f"/account/signin?next={quote(next_url)}",
        {"email": user.email_addr, "password": PASSWORD},
        headers={"X-CSRFToken": token},
    ).json

    assert body["next"] == "/"


def test_signed_in_user_visiting_signin_goes_home(app, db):
    sign_in(app, make_user())

    assert app.get("/account/signin", headers=JSON).json == {"next": "/"}


def test_signout_by_post(app, db):
    sign_in(app, make_user())
    token = csrf_token(app, "/account/register")

    body = app.post_json("/account/signout", {}, headers={"X-CSRFToken": token}).json

    assert body == {"next": "/", "flash": "You are now signed out", "status": "success"}
    assert app.get("/account/profile", headers=JSON).json["status"] == "not_signed_in"


def test_signout_by_get_needs_the_csrf_query_parameter(app, db):
    sign_in(app, make_user())
    token = csrf_token(app, "/account/register")

    refused = app.get("/account/signout", headers=JSON, status=400)
    accepted = app.get(f"/account/signout?csrf={token}", headers=JSON)

    assert refused.json["description"] == "CSRF validation failed."
    assert accepted.json["flash"] == "You are now signed out"


def test_signout_in_html_redirects_with_flash(app, db):
    sign_in(app, make_user())
    token = csrf_token(app, "/account/register")

    response = app.post("/account/signout", {"csrf_token": token}, status=302)
    page = app.get("/account/signin")

    assert response.location.endswith("/")
    assert "You are now signed out" in page.text


def test_profile_shows_own_private_fields_and_api_key(app, db):
    user = make_user()
    TaskRunFactory(user=user, task__project__owner=user)
    sign_in(app, user)

    body = app.get("/account/profile", headers=JSON).json

    assert body["user"]["api_key"] == user.api_key
    assert body["user"]["n_answers"] == 1
    assert set(body["user"]) == {
        "id",
        "name",
        "fullname",
        "created",
        "api_key",
        "info",
        "admin",
        "locale",
        "email_addr",
        "valid_email",
        "confirmation_email_sent",
        "restrict",
        "n_answers",
        "registered_ago",
        "rank",
        "score",
        "total",
    }
    assert "passwd_hash" not in app.get("/account/profile", headers=JSON).text


def test_profile_shows_only_the_callers_own_api_key(app, db):
    first, second = make_user(), make_user()
    sign_in(app, second)

    json_body = app.get("/account/profile", headers=JSON)
    html = app.get("/account/profile")

    assert json_body.json["user"]["api_key"] == second.api_key
    assert first.api_key not in json_body.text
    assert second.api_key in html.text
    assert first.api_key not in html.text


def test_profile_for_anonymous_callers(app, db):
    json_body = app.get("/account/profile", headers=JSON).json
    html = app.get("/account/profile", status=302)

    assert json_body == {"next": "/account/signin", "status": "not_signed_in"}
    assert "/account/signin" in html.location
