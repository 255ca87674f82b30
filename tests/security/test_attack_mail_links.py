"""Found by the outside attack on issue 17: links in mails were built on the request's Host
header. `POST /account/forgot-password` sent with `Host: evil.example.com` mailed the victim a
reset link to the attacker's host, whose key (in the address) then reset the password.
With `site.url` set, every mail link is on it, whatever Host the request carried."""

import pytest
from pyramid_mailer.interfaces import IMailer

from tests.factories import ProjectFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user

SITE = "https://crowdnest.example.org"
EVIL = {"Host": "evil.example.com"}


@pytest.fixture
def mailing(make_app):
    def make(**settings):
        app = make_app(mail__mailer="dummy", site__url=SITE, **settings)
        outbox = app.app.registry.getUtility(IMailer).outbox
        outbox.clear()
        return app, outbox

    return make


def evil_token(app, url: str) -> str:
    """The CSRF token of a session the attacker opened on their own Host header."""
    body = app.get(url, headers={**JSON, **EVIL}).json
    return body["form"]["csrf"]


def links(message) -> list[str]:
    return [word for word in message.body.split() if "://" in word]


def test_a_reset_link_is_on_the_site_url_whatever_the_host(mailing, db):
    app, outbox = mailing()
    make_user(email_addr="victim@example.org")
    token = evil_token(app, "/account/forgot-password")

    app.post_json(
        "/account/forgot-password",
        {"email_addr": "victim@example.org"},
        headers={**EVIL, "X-CSRFToken": token},
    )

    [message] = outbox
    [link] = links(message)
    assert link.startswith(f"{SITE}/account/reset-password?key=")
    assert "evil.example.com" not in message.body + message.html


def test_a_confirmation_link_is_on_the_site_url_whatever_the_host(mailing, db):
    app, outbox = mailing(account__confirm_email="true")
    token = evil_token(app, "/account/register")
    account = {
        "fullname": "Vic Tim",
        "name": "victim",
        "email_addr": "victim@example.org",
        "password": "analytical-engine",
        "confirm": "analytical-engine",
        "consent": True,
    }

    app.post_json("/account/register", account, headers={**EVIL, "X-CSRFToken": token})

    [message] = outbox
    [link] = links(message)
    assert link.startswith(f"{SITE}/account/register/confirmation?key=")
    assert "evil.example.com" not in message.body + message.html


def test_a_coowner_notice_links_to_the_site_url(mailing, db):
    app, outbox = mailing()
    owner = make_user()
    coowner = make_user()
    project = ProjectFactory(owner=owner)
    db.commit()

    app.put_json(
        f"/api/project/{project.id}",
        {"owners_ids": [owner.id, coowner.id]},
        headers={**EVIL, "Authorization": owner.api_key},
    )

    [message] = outbox
    assert links(message) == [f"{SITE}/project/{project.short_name}/"]


def test_without_a_site_url_links_follow_the_request(make_app, db):
    # Development: no site.url, the address the browser used.
    app = make_app(mail__mailer="dummy")
    outbox = app.app.registry.getUtility(IMailer).outbox
    outbox.clear()
    make_user(email_addr="dev@example.org")
    token = csrf_token(app, "/account/forgot-password")

    app.post_json(
        "/account/forgot-password",
        {"email_addr": "dev@example.org"},
        headers={"X-CSRFToken": token},
    )

    assert links(outbox[0])[0].startswith("http://localhost/account/reset-password?key=")
