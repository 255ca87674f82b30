"""/account/<name>/update (four forms), /account/<name>/resetapikey, /account/newsletter."""

import io
import os

import pytest
from PIL import Image
from pyramid_mailer.interfaces import IMailer

from core.models import User
from core.passwords import verify_password
from tests.functional.web.conftest import JSON, PASSWORD, csrf_token, make_user, sign_in

PROFILE = {
    "fullname": "Ada King",
    "name": "ada",
    "email_addr": "ada@example.org",
    "locale": "en",
    "subscribed": True,
    "privacy_mode": False,
    "restrict": False,
}


@pytest.fixture
def ada(db):
    return make_user(name="ada", fullname="Ada Lovelace", email_addr="ada@example.org")


def post(app, url, body, token=None):
    token = token or csrf_token(app, url)
    return app.post_json(url, body, headers={"X-CSRFToken": token}, expect_errors=True)


def fresh(db, user) -> User:
    """The account as committed now (a new transaction: no stale snapshot)."""
    db.rollback()
    db.expire_all()
    return db.get(User, user.id)


def png(width=40, height=30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_update_page_json_keys(app, ada):
    sign_in(app, ada)

    body = app.get("/account/ada/update", headers=JSON).json

    assert body["template"] == "account/update.html"
    assert body["title"] == "Update your profile: Ada Lovelace"
    assert set(body["form"]) == {
        "id",
        "fullname",
        "name",
        "email_addr",
        "locale",
        "subscribed",
        "privacy_mode",
        "ckan_api",
        "restrict",
        # Needed to change the e-mail address (decision 16); never echoed.
        "current_password",
        "csrf",
        "errors",
    }
    assert body["form"]["current_password"] is None
    assert body["form"]["email_addr"] == "ada@example.org"
    assert set(body["password_form"]) == {
        "current_password",
        "new_password",
        "confirm",
        "csrf",
        "errors",
    }
    assert set(body["upload_form"]) == {"avatar", "id", "x1", "y1", "x2", "y2", "csrf", "errors"}
    assert body["show_passwd_form"] is True


def test_update_page_in_html(app, ada):
    sign_in(app, ada)

    page = app.get("/account/ada/update")

    for button in ("Profile", "Upload", "Password", "External"):
        assert f'name="btn" value="{button}"' in page.text
    assert 'for="current_password"' in page.text
    assert 'enctype="multipart/form-data"' in page.text


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 302), ("volunteer", 403), ("self", 200), ("admin", 200)]
)
def test_update_page_permissions(app, ada, role, status):
    caller = {"anonymous": None, "volunteer": make_user(), "self": ada}.get(role)
    if role == "admin":
        caller = make_user(admin=True)
    if caller is not None:
        sign_in(app, caller)

    app.get("/account/ada/update", headers=JSON, status=status)


def test_update_page_sends_anonymous_browsers_to_sign_in(app, ada):
    response = app.get("/account/ada/update", status=302)

    assert "/account/signin?next=/account/ada/update" in response.location


def test_update_profile(app, db, ada):
    sign_in(app, ada)

    body = post(app, "/account/ada/update", {**PROFILE, "btn": "Profile"}).json

    assert body == {
        "next": "/account/ada/update",
        "flash": "Your profile has been updated!",
        "status": "success",
    }
    user = fresh(db, ada)
    assert (user.fullname, user.subscribed, user.privacy_mode) == ("Ada King", True, False)


def test_update_profile_by_an_admin(app, db, ada):
    sign_in(app, make_user(admin=True))

    post(app, "/account/ada/update", {**PROFILE, "name": "countess", "btn": "profile"})

    assert fresh(db, ada).name == "countess"


def test_volunteer_cannot_update_someone_else(app, db, ada):
    sign_in(app, make_user())
    token = csrf_token(app, "/account/register")

    response = post(
        app, "/account/ada/update", {**PROFILE, "fullname": "Hacked", "btn": "Profile"}, token
    )

    assert response.status_int == 403
    assert fresh(db, ada).fullname == "Ada Lovelace"


def test_update_refuses_a_missing_csrf_token(app, db, ada):
    sign_in(app, ada)

    response = app.post_json(
        "/account/ada/update", {**PROFILE, "fullname": "No Token", "btn": "Profile"}, status=400
    )

    assert response.json["description"] == "CSRF validation failed."
    assert fresh(db, ada).fullname == "Ada Lovelace"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email_addr": "nope"}, "email_addr", "Invalid email address."),
        ({"name": "a b"}, "name", "$#&\\/| and space symbols are forbidden"),
        ({"name": "signin"}, "name", "This name is used by the system."),
        ({"fullname": "Al"}, "fullname", "Full name must be between 3 and 35 characters long"),
        ({"locale": "xx"}, "locale", "Not a valid choice"),
    ],
)
def test_update_profile_refuses_bad_input(app, db, ada, fields, field, message):
    sign_in(app, ada)

    body = post(app, "/account/ada/update", {**PROFILE, **fields, "btn": "Profile"}).json

    assert message in body["form"]["errors"][field]
    assert (body["flash"], body["status"]) == ("Please correct the errors", "error")
    assert {"password_form", "upload_form", "show_passwd_form"} <= set(body)
    assert fresh(db, ada).fullname == "Ada Lovelace"


def test_update_profile_refuses_taken_name_and_email(app, db, ada):
    other = make_user(name="grace", email_addr="grace@example.org")
    sign_in(app, ada)

    body = post(
        app,
        "/account/ada/update",
        {**PROFILE, "name": "GRACE", "email_addr": other.email_addr, "btn": "Profile"},
    ).json

    assert body["form"]["errors"]["name"] == ["The user name is already taken"]
    assert body["form"]["errors"]["email_addr"] == ["The e-mail is already taken"]


def test_update_profile_errors_in_html(app, ada):
    sign_in(app, ada)
    token = csrf_token(app, "/account/ada/update")

    page = app.post(
        "/account/ada/update",
        {**PROFILE, "email_addr": "bad", "btn": "Profile", "csrf_token": token},
    )

    assert page.status_int == 200
    assert "Invalid email address." in page.text
    assert 'aria-invalid="true"' in page.text


def test_unknown_button_is_415(app, ada):
    sign_in(app, ada)

    assert post(app, "/account/ada/update", {"btn": "Delete"}).status_int == 415
    assert post(app, "/account/ada/update", {}).status_int == 415


def test_change_password(app, db, ada):
    sign_in(app, ada)

    body = post(
        app,
        "/account/ada/update",
        {
            "btn": "Password",
            "current_password": PASSWORD,
            "new_password": "new-secret",
            "confirm": "new-secret",
        },
    ).json

    assert body["status"] == "success"
    assert verify_password(fresh(db, ada).passwd_hash, "new-secret")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"current_password": "wrong"},
            "current_password",
            "Your current password doesn't match the one in our records",
        ),
        ({"confirm": "other"}, "confirm", "Passwords must match"),
        ({"new_password": "", "confirm": ""}, "new_password", "Password cannot be empty"),
    ],
)
def test_change_password_refuses_bad_input(app, db, ada, fields, field, message):
    sign_in(app, ada)
    values = {"current_password": PASSWORD, "new_password": "n3w", "confirm": "n3w", **fields}

    body = post(app, "/account/ada/update", {"btn": "Password", **values}).json

    assert body["password_form"]["errors"][field] == [message]
    assert body["password_form"]["current_password"] is None
    assert body["password_form"]["new_password"] is None
    assert verify_password(fresh(db, ada).passwd_hash, PASSWORD)


def test_external_services(app, db, ada):
    make_user(ckan_api="taken-key")
    sign_in(app, ada)

    saved = post(app, "/account/ada/update", {"btn": "External", "ckan_api": "my-key"}).json
    refused = post(app, "/account/ada/update", {"btn": "External", "ckan_api": "taken-key"}).json

    assert saved["status"] == "success"
    assert fresh(db, ada).ckan_api == "my-key"
    assert refused["form"]["errors"]["ckan_api"] == [
        "This CKAN API key is already used by another account"
    ]
    assert refused["form"]["fullname"] == "Ada Lovelace"


def test_upload_avatar_with_crop(app, db, ada, app_settings):
    sign_in(app, ada)
    token = csrf_token(app, "/account/ada/update")

    response = app.post(
        "/account/ada/update",
        {"btn": "Upload", "csrf_token": token, "x1": "5", "y1": "5", "x2": "20", "y2": "10"},
        upload_files=[("avatar", "me.png", png())],
        status=302,
    )

    info = fresh(db, ada).info
    assert response.location.endswith("/account/ada/update")
    assert info["container"] == f"user_{ada.id}"
    path = os.path.join(app_settings["upload.dir"], info["container"], info["avatar"])
    with Image.open(path) as stored:
        assert stored.size == (20, 10)
    profile = app.get("/account/ada/")
    assert f"/uploads/user_{ada.id}/{info['avatar']}" in profile.text


def test_upload_replaces_the_old_avatar_file(app, db, ada, app_settings):
    sign_in(app, ada)
    token = csrf_token(app, "/account/ada/update")
    files = [("avatar", "me.png", png())]
    form = {"btn": "Upload", "csrf_token": token}

    app.post("/account/ada/update", form, upload_files=files, status=302)
    first = fresh(db, ada).info["avatar"]
    app.post("/account/ada/update", form, upload_files=files, status=302)

    folder = os.path.join(app_settings["upload.dir"], f"user_{ada.id}")
    assert fresh(db, ada).info["avatar"] in os.listdir(folder)
    assert first not in os.listdir(folder)


def test_upload_refuses_a_file_that_is_not_an_image(app, db, ada):
    sign_in(app, ada)
    token = csrf_token(app, "/account/ada/update")

    page = app.post(
        "/account/ada/update",
        {"btn": "Upload", "csrf_token": token},
        upload_files=[("avatar", "me.png", b"not an image")],
    )
    body = app.post(
        "/account/ada/update?response_format=json",
        {"btn": "Upload", "csrf_token": token},
    ).json

    assert "The file is not an image" in page.text
    assert body["upload_form"]["errors"] == {"avatar": ["Please choose an image file"]}
    assert "avatar" not in (fresh(db, ada).info or {})


def test_reset_api_key_page(app, ada):
    sign_in(app, ada)

    body = app.get("/account/ada/resetapikey", headers=JSON).json
    page = app.get("/account/ada/resetapikey")

    assert body["form"] == {"csrf": body["form"]["csrf"]}
    assert body["form"]["csrf"]
    assert 'name="csrf_token"' in page.text


@pytest.mark.parametrize("role", ["self", "admin"])
def test_reset_api_key(app, db, ada, role):
    old_key = ada.api_key
    sign_in(app, ada if role == "self" else make_user(admin=True))

    body = post(app, "/account/ada/resetapikey", {}, csrf_token(app, "/account/ada/resetapikey"))

    assert body.json == {
        "next": "/account/ada/",
        "flash": "New API-KEY generated",
        "status": "success",
    }
    assert fresh(db, ada).api_key != old_key


def test_reset_api_key_refusals(app, db, ada):
    old_key = ada.api_key
    app.get("/account/ada/resetapikey", headers=JSON, status=302)
    sign_in(app, make_user())
    token = csrf_token(app, "/account/register")

    forbidden = post(app, "/account/ada/resetapikey", {}, token)
    no_csrf = app.post_json("/account/ada/resetapikey", {}, expect_errors=True)

    assert (forbidden.status_int, no_csrf.status_int) == (403, 400)
    assert fresh(db, ada).api_key == old_key


def test_newsletter_page(app, db, ada):
    sign_in(app, ada)

    body = app.get("/account/newsletter?next=/project/x/", headers=JSON).json
    page = app.get("/account/newsletter")

    assert body["template"] == "account/newsletter.html"
    assert body["title"] == "Subscribe to our Newsletter"
    assert body["next"] == "/project/x/"
    assert "subscribe=true" in page.text
    assert fresh(db, ada).newsletter_prompted is True


def test_newsletter_subscribe_needs_csrf(app, db, ada):
    sign_in(app, ada)
    token = csrf_token(app, "/account/newsletter")

    refused = app.get("/account/newsletter?subscribe=true", headers=JSON, status=400)
    accepted = app.get(f"/account/newsletter?subscribe=true&csrf={token}", headers=JSON).json

    assert refused.json["description"] == "CSRF validation failed."
    assert accepted == {
        "next": "/",
        "flash": "You are subscribed to our newsletter",
        "status": "success",
    }
    assert fresh(db, ada).subscribed is True


def test_newsletter_for_anonymous_callers(app, db):
    app.get("/account/newsletter", headers=JSON, status=302)


def test_email_change_with_confirmation_keeps_the_old_address(make_app, db, ada):
    app = make_app(account__confirm_email="true", mail__mailer="dummy")
    outbox = app.app.registry.getUtility(IMailer).outbox
    outbox.clear()
    sign_in(app, ada)

    body = post(
        app,
        "/account/ada/update",
        {
            **PROFILE,
            "email_addr": "new@example.org",
            "current_password": PASSWORD,
            "btn": "Profile",
        },
    ).json

    assert body["status"] == "success"
    assert "new@example.org" in body["flash"]
    assert fresh(db, ada).email_addr == "ada@example.org"
    assert [message.recipients for message in outbox] == [["new@example.org"]]
    link = outbox[0].body.split("http://localhost")[1].split()[0]
    app.get(link, status=302)
    user = fresh(db, ada)
    assert (user.email_addr, user.valid_email) == ("new@example.org", True)
