"""GET /api/token[/<provider>]: a user's own provider tokens, and nobody else's."""

import pytest

from core.services.oauth import Identity, link_account
from tests.conftest import BASE_SETTINGS
from tests.factories import UserFactory

SECRET = BASE_SETTINGS["session.secret"]
ENABLED = {"plugins.auth_providers": "github twitter"}


@pytest.fixture
def holder(db):
    """A user who signed in with GitHub and Twitter, and kept their tokens."""
    user = UserFactory(name="holder")
    link_account(SECRET, user, "github", Identity("11", token={"oauth_token": "gh-token"}))
    twitter_token = {"oauth_token": "tw-token", "oauth_token_secret": "tw-secret"}
    link_account(SECRET, user, "twitter", Identity("22", token=twitter_token))
    db.commit()
    return user


@pytest.fixture
def token_app(make_app):
    return make_app(**ENABLED)


def test_owner_reads_every_token(token_app, holder):
    response = token_app.get("/api/token", params={"api_key": holder.api_key})

    assert response.json == {
        "github_token": {"oauth_token": "gh-token"},
        "twitter_token": {"oauth_token": "tw-token", "oauth_token_secret": "tw-secret"},
    }


def test_owner_reads_one_token(token_app, holder):
    response = token_app.get("/api/token/twitter", params={"api_key": holder.api_key})

    assert response.json == {
        "twitter_token": {"oauth_token": "tw-token", "oauth_token_secret": "tw-secret"}
    }


def test_other_user_sees_none_of_them(token_app, holder, db):
    other = UserFactory(admin=True)
    db.commit()

    assert token_app.get("/api/token", params={"api_key": other.api_key}).json == {}
    response = token_app.get(
        "/api/token/github", params={"api_key": other.api_key}, expect_errors=True
    )
    assert response.status_int == 404
    # Not even an admin reading the account through /api/user sees a usable token.
    shown = token_app.get(f"/api/user/{holder.id}", params={"api_key": other.api_key}).text
    assert "gh-token" not in shown and "tw-secret" not in shown


def test_anonymous_is_unauthorized(token_app, holder):
    for path in ("/api/token", "/api/token/github"):
        response = token_app.get(path, expect_errors=True)
        assert response.status_int == 401
        assert response.json["exception_cls"] == "Unauthorized"
        assert response.json["target"] == "token"


@pytest.mark.parametrize("provider", ["nosuch", "google"])
def test_unknown_or_disabled_provider_is_not_found(token_app, holder, provider):
    response = token_app.get(
        f"/api/token/{provider}", params={"api_key": holder.api_key}, expect_errors=True
    )

    assert response.status_int == 404
    assert response.json["exception_cls"] == "NotFound"


def test_turning_a_provider_off_hides_its_token(make_app, holder):
    app = make_app(**{"plugins.auth_providers": "twitter"})

    response = app.get("/api/token", params={"api_key": holder.api_key})

    assert list(response.json) == ["twitter_token"]
    app.get("/api/token/github", params={"api_key": holder.api_key}, status=404)


def test_a_token_sealed_under_another_secret_is_not_returned(token_app, db):
    user = UserFactory()
    link_account("an-old-secret", user, "github", Identity("33", token={"oauth_token": "old"}))
    db.commit()

    assert token_app.get("/api/token", params={"api_key": user.api_key}).json == {}


def test_writes_are_not_allowed(token_app, holder):
    response = token_app.post_json(f"/api/token?api_key={holder.api_key}", {}, expect_errors=True)

    assert response.status_int == 405
