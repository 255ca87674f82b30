"""/api/announcement: admins write; unpublished announcements are seen by admins only."""

import pytest

from core.models import Announcement
from tests.factories import AnnouncementFactory, UserFactory
from tests.functional.api.roles import auth, caller, fresh

ROLES = ("anonymous", "volunteer", "owner", "admin")
PAYLOAD = {"title": "Maintenance", "body": "Down at noon"}


@pytest.mark.parametrize("role", ROLES)
def test_published_visible_to_all_drafts_to_admin_only(app, db, role):
    published = AnnouncementFactory()
    draft = AnnouncementFactory(published=False)
    user = caller(role)

    listed = [a["id"] for a in app.get("/api/announcement", headers=auth(user)).json]
    one = app.get(f"/api/announcement/{published.id}", headers=auth(user)).json

    assert one["link"] == (
        f"<link rel='self' title='announcement' "
        f"href='http://localhost/api/announcement/{published.id}'/>"
    )
    assert "links" not in one
    if role == "admin":
        assert listed == [published.id, draft.id]
        app.get(f"/api/announcement/{draft.id}", headers=auth(user))
    else:
        assert listed == [published.id]
        app.get(
            f"/api/announcement/{draft.id}",
            headers=auth(user),
            status=401 if user is None else 403,
        )


@pytest.mark.parametrize("role", ROLES)
def test_only_admin_writes(app, db, role):
    user = caller(role)
    existing = AnnouncementFactory(title="Old")
    ok = role == "admin"
    denied = 401 if user is None else 403

    created = app.post_json(
        "/api/announcement", PAYLOAD, headers=auth(user), status=200 if ok else denied
    ).json
    app.put_json(
        f"/api/announcement/{existing.id}",
        {"title": "New"},
        headers=auth(user),
        status=200 if ok else denied,
    )
    assert fresh(db, Announcement, existing.id).title == ("New" if ok else "Old")
    app.delete(
        f"/api/announcement/{existing.id}",
        headers=auth(user),
        status=204 if ok else denied,
    )
    assert (fresh(db, Announcement, existing.id) is None) == ok
    if ok:
        assert created["user_id"] == user.id
        assert created["published"] is False


@pytest.mark.parametrize("key", ["id", "created", "updated", "user_id"])
def test_reserved_keys(app, db, key):
    admin = UserFactory(admin=True)

    body = app.post_json(
        "/api/announcement", {**PAYLOAD, key: 1}, headers=auth(admin), status=400
    ).json

    assert body["exception_msg"] == "Reserved keys in payload"


def test_errors(app, db):
    headers = auth(UserFactory(admin=True))

    assert (
        app.post_json("/api/announcement", {**PAYLOAD, "x": 1}, headers=headers, status=415).json[
            "exception_cls"
        ]
        == "TypeError"
    )
    assert (
        app.post_json(
            "/api/announcement",
            {**PAYLOAD, "published": "yes"},
            headers=headers,
            status=415,
        ).json["exception_cls"]
        == "DataError"
    )
    assert (
        app.post_json("/api/announcement", {"title": "t"}, headers=headers, status=415).json[
            "exception_cls"
        ]
        == "DBIntegrityError"
    )
    assert app.get("/api/announcement/9", status=404).json["exception_cls"] == "NotFound"
