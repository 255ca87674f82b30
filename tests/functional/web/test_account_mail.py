"""Mail links: forgot/reset password, registration with e-mail confirmation, confirm-email."""

import os
from urllib.parse import quote

import pytest
import transaction
from pyramid import testing
from pyramid_mailer.interfaces import IMailer
from pyramid_mailer.message import Message
from sqlalchemy import select

from core.events import after_commit
from core.mail import build_mailer, send_mail
from core.models import User
from core.passwords import verify_password
from core.services.account import make_link_token, read_link_token, set_password
from core.settings import load_settings
from tests.functional.web.conftest import JSON, PASSWORD, csrf_token, make_user, sign_in

SECRET = "test-secret"
NEW_ACCOUNT = {
    "fullname": "Ada Lovelace",
    "name": "ada",
    "email_addr": "ada@example.org",
    "password": "analytical",
    "confirm": "analytical",
}


@pytest.fixture
def mailing(make_app):
    """make(**settings) -> (app, outbox): an app whose mails land in an emptied outbox."""

    def make(**settings):
        app = make_app(mail__mailer="dummy", **settings)
        outbox = app.app.registry.getUtility(IMailer).outbox
        outbox.clear()
        return app, outbox

    return make


def link_in(message) -> str:
    """The path and query of the link in a mail."""
    return message.body.split("http://localhost")[1].split()[0]


def fresh(db, user_id) -> User:
    db.rollback()
    db.expire_all()
    return db.get(User, user_id)


def post(app, url, body, token_url=None):
    token = csrf_token(app, token_url or url)
    return app.post_json(url, body, headers={"X-CSRFToken": token})


# --- forgot password ------------------------------------------------------------------------


def test_forgot_password_form(app, db):
    body = app.get("/account/forgot-password", headers=JSON).json
    page = app.get("/account/forgot-password")

    assert set(body["form"]) == {"email_addr", "csrf", "errors"}
    assert body["template"] == "account/password_forgot.html"
    assert 'for="email_addr"' in page.text and 'name="csrf_token"' in page.text


def test_forgot_password_mails_a_reset_link(mailing, db):
    app, outbox = mailing()
    user = make_user(email_addr="grace@example.org")

    body = post(app, "/account/forgot-password", {"email_addr": "GRACE@example.org"}).json

    assert body["status"] == "success"
    assert body["flash"] == "We've sent you an email with account recovery instructions!"
    assert [message.recipients for message in outbox] == [["grace@example.org"]]
    assert "/account/reset-password?key=" in outbox[0].body
    assert "/account/reset-password?key=" in outbox[0].html
    assert PASSWORD not in outbox[0].body and user.passwd_hash not in outbox[0].body


def test_forgot_password_unknown_address(mailing, db):
    app, outbox = mailing()

    body = post(app, "/account/forgot-password", {"email_addr": "who@example.org"}).json

    assert body["status"] == "error"
    assert body["flash"].startswith("We don't have this email in our records.")
    assert body["form"]["email_addr"] == "who@example.org"
    assert outbox == []


def test_forgot_password_bad_address(mailing, db):
    app, outbox = mailing()

    body = post(app, "/account/forgot-password", {"email_addr": "nope"}).json

    assert body["form"]["errors"] == {"email_addr": ["Invalid email address."]}
    assert body["flash"] == "Something went wrong, please correct the errors on the form"
    assert outbox == []


def test_forgot_password_needs_csrf(mailing, db):
    app, outbox = mailing()
    make_user(email_addr="grace@example.org")

    response = app.post_json(
        "/account/forgot-password", {"email_addr": "grace@example.org"}, status=400
    )

    assert response.json["description"] == "CSRF validation failed."
    assert outbox == []


def test_forgot_password_in_html(mailing, db):
    app, outbox = mailing()
    make_user(email_addr="grace@example.org")
    token = csrf_token(app, "/account/forgot-password")

    page = app.post(
        "/account/forgot-password", {"email_addr": "grace@example.org", "csrf_token": token}
    )

    assert "We&#39;ve sent you an email" in page.text
    assert len(outbox) == 1


# --- reset password -------------------------------------------------------------------------


def reset_link(mailing, user):
    app, outbox = mailing()
    post(app, "/account/forgot-password", {"email_addr": user.email_addr})
    return app, link_in(outbox[0])


def test_reset_password_sets_it_and_signs_in(mailing, db):
    user = make_user(fullname="Grace Hopper")
    app, link = reset_link(mailing, user)

    form = app.get(link, headers=JSON).json
    body = post(app, link, {"new_password": "brand-new", "confirm": "brand-new"}, link).json

    assert set(form["form"]) == {"current_password", "new_password", "confirm", "csrf", "errors"}
    assert form["template"] == "account/password_reset.html"
    assert body == {
        "next": "/",
        "flash": "You reset your password successfully!",
        "status": "success",
    }
    assert verify_password(fresh(db, user.id).passwd_hash, "brand-new")
    assert app.get("/account/profile", headers=JSON).json["user"]["name"] == user.name


def test_reset_link_works_once(mailing, db):
    user = make_user()
    app, link = reset_link(mailing, user)
    post(app, link, {"new_password": "brand-new", "confirm": "brand-new"}, link)

    response = app.get(link, headers=JSON, status=403)

    assert response.json["code"] == 403


def test_reset_password_refuses_mismatch(mailing, db):
    user = make_user()
    app, link = reset_link(mailing, user)

    body = post(app, link, {"new_password": "one", "confirm": "two"}, link).json
    page = app.get(link)

    assert body["form"]["errors"] == {"confirm": ["Passwords must match"]}
    assert body["form"]["new_password"] is None
    assert verify_password(fresh(db, user.id).passwd_hash, PASSWORD)
    assert 'action="/account/reset-password?key=' in page.text


@pytest.mark.parametrize("key", ["", "garbage", "a.b", "eyJ1IjoxLCJ0IjoxfQ.00"])
def test_reset_password_refuses_bad_keys(app, db, key):
    make_user()

    app.get(f"/account/reset-password?key={quote(key)}", headers=JSON, status=403)
    app.get(f"/account/reset-password?key={quote(key)}", status=403)


def test_reset_password_post_needs_csrf(mailing, db):
    user = make_user()
    app, link = reset_link(mailing, user)

    app.post_json(link, {"new_password": "x1", "confirm": "x1"}, status=400)

    assert verify_password(fresh(db, user.id).passwd_hash, PASSWORD)


# --- signed tokens --------------------------------------------------------------------------


def test_link_tokens_expire_and_die_with_the_password(db):
    user = make_user()
    token = make_link_token(SECRET, "reset", user, now=1000)

    assert read_link_token(db, SECRET, "reset", token, 3600, now=2000)[0].id == user.id
    assert read_link_token(db, SECRET, "reset", token, 3600, now=1000 + 3601) is None
    assert read_link_token(db, SECRET, "confirm", token, 3600, now=2000) is None
    assert read_link_token(db, "another-secret", "reset", token, 3600, now=2000) is None
    set_password(user, "changed")
    assert read_link_token(db, SECRET, "reset", token, 3600, now=2000) is None


def test_link_tokens_refuse_a_changed_payload(db):
    first, second = make_user(), make_user()
    body, signature = make_link_token(SECRET, "reset", first).split(".")
    other_body = make_link_token(SECRET, "reset", second).split(".")[0]

    assert read_link_token(db, SECRET, "reset", f"{other_body}.{signature}", 3600) is None
    assert read_link_token(db, SECRET, "reset", f"{body}.{signature}", 3600) is not None


# --- registration with e-mail confirmation --------------------------------------------------


def test_register_with_confirmation_sends_a_link(mailing, db):
    app, outbox = mailing(account__confirm_email="true")

    body = post(app, "/account/register", NEW_ACCOUNT).json

    assert body["status"] == "sent"
    assert body["template"] == "account/account_validation.html"
    assert body["title"] == "Account validation"
    assert [message.recipients for message in outbox] == [["ada@example.org"]]
    assert "analytical" not in outbox[0].body
    assert app.get("/account/profile", headers=JSON).json["status"] == "not_signed_in"
    user = db.scalars(select(User).where(User.name == "ada")).one()
    assert (user.valid_email, user.confirmation_email_sent) == (False, True)


def test_register_with_confirmation_in_html(mailing, db):
    app, outbox = mailing(account__confirm_email="true")
    token = csrf_token(app, "/account/register")

    page = app.post("/account/register", {**NEW_ACCOUNT, "csrf_token": token})

    assert "We have sent a confirmation link to <strong>ada@example.org</strong>" in page.text
    assert len(outbox) == 1


def test_unconfirmed_account_cannot_sign_in_and_gets_a_new_link(mailing, db):
    app, outbox = mailing(account__confirm_email="true")
    post(app, "/account/register", NEW_ACCOUNT)

    body = post(
        app, "/account/signin", {"email": "ada@example.org", "password": "analytical"}
    ).json

    assert body["status"] == "info"
    assert body["flash"] == "Please confirm your e-mail first: we sent you a new link."
    assert len(outbox) == 2
    assert app.get("/account/profile", headers=JSON).json["status"] == "not_signed_in"


def test_confirmation_link_completes_the_registration(mailing, db):
    app, outbox = mailing(account__confirm_email="true")
    post(app, "/account/register", NEW_ACCOUNT)

    body = app.get(link_in(outbox[0]), headers=JSON).json
    again = app.get(link_in(outbox[0]), headers=JSON, status=403)

    assert body == {"next": "/", "flash": "Thanks for signing-up", "status": "success"}
    assert again.json["code"] == 403
    profile = app.get("/account/profile", headers=JSON).json["user"]
    assert (profile["name"], profile["valid_email"], profile["admin"]) == ("ada", True, True)
    assert "pending_confirmation" not in profile["info"]


def test_confirmation_link_with_a_bad_key(app, db):
    app.get("/account/register/confirmation?key=nope", headers=JSON, status=403)


def test_register_without_confirmation_sends_nothing(mailing, db):
    app, outbox = mailing()

    body = post(app, "/account/register", NEW_ACCOUNT).json

    assert body["flash"] == "Thanks for signing-up"
    assert outbox == []


# --- /account/confirm-email -----------------------------------------------------------------


def test_confirm_email_is_404_when_confirmation_is_off(app, db):
    sign_in(app, make_user())

    app.get("/account/confirm-email", headers=JSON, status=404)


def test_confirm_email_sends_a_link(mailing, db):
    app, outbox = mailing(account__confirm_email="true")
    user = make_user(name="grace", valid_email=False)
    sign_in(app, user)
    token = csrf_token(app, "/account/profile")

    body = app.get(f"/account/confirm-email?csrf={token}", headers=JSON).json
    confirmed = app.get(link_in(outbox[0]), headers=JSON).json

    assert body == {
        "next": "/account/grace/",
        "flash": "An e-mail has been sent to validate your e-mail address.",
        "status": "info",
    }
    assert confirmed["flash"] == "Your e-mail has been confirmed."
    assert fresh(db, user.id).valid_email is True


def test_confirm_email_needs_csrf_and_a_signed_in_caller(mailing, db):
    app, outbox = mailing(account__confirm_email="true")
    app.get("/account/confirm-email", headers=JSON, status=302)
    sign_in(app, make_user(valid_email=False))

    app.get("/account/confirm-email", headers=JSON, status=400)

    assert outbox == []


def test_confirm_email_when_already_valid(mailing, db):
    app, outbox = mailing(account__confirm_email="true")
    sign_in(app, make_user(valid_email=True))
    token = csrf_token(app, "/account/profile")

    body = app.get(f"/account/confirm-email?csrf={token}", headers=JSON).json

    assert body["flash"] == "Your e-mail is already confirmed."
    assert outbox == []


# --- the mailers ----------------------------------------------------------------------------


@pytest.mark.parametrize(("commits", "sent"), [(True, 1), (False, 0)])
def test_mail_leaves_only_after_the_commit(mailing, commits, sent):
    app, outbox = mailing()
    manager = transaction.TransactionManager()
    request = testing.DummyRequest()
    request.registry = app.app.registry
    request.tm = manager
    request.after_commit = lambda fn, *args: after_commit(request, fn, *args)
    user = User(fullname="Grace", name="grace", email_addr="grace@example.org")
    values = {"user": user, "url": "http://localhost/x", "hours": 5, "text": "Hello"}

    manager.begin()
    send_mail(request, "grace@example.org", "Hi", "account/mail_reset.html", values)
    queued = list(outbox)
    manager.commit() if commits else manager.abort()

    assert queued == []
    assert len(outbox) == sent


def test_debug_mailer_writes_files(tmp_path):
    settings = load_settings(
        {"mail.mailer": "debug", "mail.debug_dir": str(tmp_path / "mail")}, environ={}
    )
    mailer = build_mailer(settings)
    message = Message(subject="Hi", sender="a@x.org", recipients=["b@x.org"], body="x")

    mailer.send_immediately(message)

    assert len(os.listdir(tmp_path / "mail")) == 1


def test_unknown_mailer_setting_fails_at_start_up():
    with pytest.raises(ValueError, match=r"mail\.mailer"):
        build_mailer(load_settings({"mail.mailer": "pigeon"}, environ={}))


def test_smtp_mailer_from_settings():
    settings = load_settings({"mail.mailer": "smtp", "mail.host": "smtp.example.org"}, environ={})

    mailer = build_mailer(settings)

    assert mailer.smtp_mailer.hostname == "smtp.example.org"
