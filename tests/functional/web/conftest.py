"""Helpers for the web pages: JSON headers, CSRF tokens, signing in through the page."""

import pytest

from core.passwords import hash_password
from tests.factories import ProjectFactory, UserFactory

JSON = {"Content-Type": "application/json"}
PASSWORD = "secret-password"
# argon2 is slow on purpose: hash the test password once, not once per user.
PASSWORD_HASH = hash_password(PASSWORD)


def make_user(**fields):
    """A UserFactory user whose password is PASSWORD."""
    return UserFactory(passwd_hash=PASSWORD_HASH, **fields)


def answer_of(response) -> dict:
    """A JSON page answer, or {"code": 302, "location"} for a sign-in redirect (behavior 9.1)."""
    if response.status_int == 302:
        assert "/account/signin?next=" in response.location
        return {"code": 302, "location": response.location}
    return response.json


def csrf_token(app, url: str = "/account/signin") -> str:
    """The session's CSRF token, read from a JSON form page."""
    body = app.get(url, headers=JSON).json
    return body["form"]["csrf"] if "form" in body else body["csrf"]


def sign_in(app, user, password: str = PASSWORD):
    token = csrf_token(app)
    return app.post_json(
        "/account/signin",
        {"email": user.email_addr, "password": password},
        headers={"X-CSRFToken": token},
    )


@pytest.fixture
def signed_in(app):
    """Sign `user` in on the shared app (None stays anonymous); returns the app."""

    def sign(user):
        if user is not None:
            sign_in(app, user)
        return app

    return sign


@pytest.fixture
def project_roles(db):
    """A draft project and one caller per role: anonymous, volunteer, owner, co-owner, admin."""
    owner = make_user()
    coowner = make_user()
    project = ProjectFactory(owner=owner, coowners=[coowner], published=False)
    roles = {
        "anonymous": None,
        "volunteer": make_user(),
        "owner": owner,
        "coowner": coowner,
        "admin": make_user(admin=True),
    }
    return project, roles
