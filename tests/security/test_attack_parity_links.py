"""Links an admin writes through the API (noticed while fixing the attack on issue 18)."""

import pytest
from sqlalchemy import select

from core.models import Announcement
from tests import factories


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", "data:text/html,x", "//x"])
def test_an_announcement_link_is_a_web_address(app, db, url):
    """POST /api/announcement {"media_url": "javascript:…"} by an admin was stored and shown
    on /announcements as a link (the admin form refused it, the API did not): a 415."""
    admin = factories.UserFactory(admin=True)
    db.commit()

    response = app.post_json(
        "/api/announcement",
        {"title": "t", "body": "b", "media_url": url, "published": True},
        headers={"Authorization": admin.api_key},
        expect_errors=True,
    )

    assert response.status_int == 415, response.text[:300]
    assert response.json["exception_cls"] == "DataError"
    assert db.scalars(select(Announcement)).all() == []


def test_a_stored_announcement_link_that_is_no_web_address_is_not_a_link(app, db):
    """One stored before the rule (or written straight to the database) is not rendered."""
    factories.AnnouncementFactory(media_url="javascript:alert(1)", published=True)
    db.commit()

    page = app.get("/announcements")

    assert "javascript:" not in page.text


@pytest.mark.parametrize(
    ("url", "linked"),
    [("HTTPS://example.org/more", True), ("http:///no-host", False), ("https:", False)],
)
def test_the_page_links_exactly_what_the_api_accepts(app, db, url, linked):
    """The page asks the schemas' rule (is_web_url), not a restatement of it: a host-less
    http URL, which the API refuses, is not linked either; an upper-case scheme is."""
    factories.AnnouncementFactory(media_url=url, published=True)
    db.commit()

    page = app.get("/announcements")

    assert (f'href="{url}"' in page.text) is linked
