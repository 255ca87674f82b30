"""API writes made with the session cookie need the CSRF token; api_key writes do not."""

from tests.factories import CategoryFactory
from tests.functional.web.conftest import csrf_token, make_user, sign_in

BODY = {"name": "Owls", "short_name": "owls", "description": "Count owls"}


def test_session_write_without_token_is_refused(app, db):
    CategoryFactory()
    sign_in(app, make_user())

    response = app.post_json("/api/project", BODY, status=400)

    assert response.json["exception_msg"] == "CSRF validation failed."
    assert app.get("/api/project?all=1").json == []


def test_session_write_with_token_is_accepted(app, db):
    CategoryFactory()
    user = make_user()
    sign_in(app, user)

    created = app.post_json(
        "/api/project", BODY, headers={"X-CSRFToken": csrf_token(app, "/account/profile")}
    ).json

    assert created["owner_id"] == user.id


def test_api_key_write_needs_no_token(app, db):
    CategoryFactory()
    user = make_user()

    created = app.post_json(f"/api/project?api_key={user.api_key}", BODY).json

    assert created["owner_id"] == user.id
