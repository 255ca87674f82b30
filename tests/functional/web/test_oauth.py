"""Sign-in through the provider plugins, end to end against a fake provider on a local port.

The fake speaks just enough OAuth 2 (authorize, token, profile) and OAuth 1.0a (request token,
authorize, access token, profile) for the plugins' real HTTP code; no test leaves the machine.
"""

import json
import re
import socket
import threading
from urllib.parse import parse_qs, unquote, urlencode, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
from sqlalchemy import func, select

from core.models import User
from tests.functional.web.conftest import JSON, make_user

CLIENT_ID, CLIENT_SECRET = "crowdnest-client", "crowdnest-secret"
ALL_PROVIDERS = "github google facebook twitter"
GITHUB_PROFILE = {"id": 4242, "login": "octocat", "name": "The Octocat"}
GITHUB_EMAILS = [
    {"email": "old@example.org", "primary": False, "verified": True},
    {"email": "octo@example.org", "primary": True, "verified": True},
]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class FakeProvider:
    """A WSGI app answering like an OAuth provider; tests set `profile`, `emails`, `mode`."""

    def __init__(self):
        self.url = ""
        self.reset()

    def reset(self):
        self.profile = dict(GITHUB_PROFILE)
        self.emails = [dict(entry) for entry in GITHUB_EMAILS]
        # "ok", "deny", "garbage_token", "garbage_profile" or "down".
        self.mode = "ok"
        self.codes = {}
        self.issued = 0
        self.oauth1_callback = ""

    def settings(self, enabled: str = ALL_PROVIDERS) -> dict:
        oauth2 = {
            "authorize_url": "/authorize",
            "token_url": "/token",
            "userinfo_url": "/user",
            "emails_url": "/user/emails",
        }
        oauth1 = {
            "request_token_url": "/oauth1/request_token",
            "authorize_url": "/oauth1/authorize",
            "access_token_url": "/oauth1/access_token",
            "userinfo_url": "/oauth1/verify_credentials",
        }
        values = {"plugins.auth_providers": enabled}
        for name in ("github", "google", "facebook", "twitter"):
            values[f"auth_provider.{name}.client_id"] = CLIENT_ID
            values[f"auth_provider.{name}.client_secret"] = CLIENT_SECRET
            for key, path in (oauth1 if name == "twitter" else oauth2).items():
                values[f"auth_provider.{name}.{key}"] = self.url + path
        return values

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        query = {key: values[0] for key, values in parse_qs(environ["QUERY_STRING"]).items()}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = {
            key: values[0]
            for key, values in parse_qs(environ["wsgi.input"].read(length).decode()).items()
        }
        if self.mode == "down" and path != "/authorize" and path != "/oauth1/authorize":
            return self.answer(start_response, "503 Service Unavailable", "text/plain", "down")
        handler = getattr(self, path.strip("/").replace("/", "_"), None)
        if handler is None:
            return self.answer(start_response, "404 Not Found", "text/plain", "no such page")
        return handler(start_response, query, form, environ)

    def answer(self, start_response, status, content_type, body, headers=()):
        start_response(status, [("Content-Type", content_type), *headers])
        return [body.encode()]

    def redirect(self, start_response, url):
        return self.answer(start_response, "302 Found", "text/plain", "", [("Location", url)])

    # OAuth 2

    def authorize(self, start_response, query, form, environ):
        if self.mode == "deny":
            values = {"error": "access_denied", "state": query["state"]}
        else:
            self.issued += 1
            code = f"code-{self.issued}"
            self.codes[code] = query["redirect_uri"]
            values = {"code": code, "state": query["state"]}
        return self.redirect(start_response, f"{query['redirect_uri']}?{urlencode(values)}")

    def token(self, start_response, query, form, environ):
        if self.mode == "garbage_token":
            return self.answer(start_response, "200 OK", "text/html", "<html>oops</html>")
        known = self.codes.pop(form.get("code"), None)
        if (
            known is None
            or known != form.get("redirect_uri")
            or form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != CLIENT_SECRET
        ):
            body = json.dumps({"error": "invalid_grant"})
            return self.answer(start_response, "400 Bad Request", "application/json", body)
        body = json.dumps({"access_token": f"access-{form['code']}", "token_type": "bearer"})
        return self.answer(start_response, "200 OK", "application/json", body)

    def user(self, start_response, query, form, environ):
        if not environ.get("HTTP_AUTHORIZATION", "").startswith("Bearer access-"):
            return self.answer(start_response, "401 Unauthorized", "application/json", "{}")
        if self.mode == "garbage_profile":
            return self.answer(start_response, "200 OK", "application/json", "[1, 2, 3]")
        return self.answer(start_response, "200 OK", "application/json", json.dumps(self.profile))

    def user_emails(self, start_response, query, form, environ):
        return self.answer(start_response, "200 OK", "application/json", json.dumps(self.emails))

    # OAuth 1.0a

    def oauth1_request_token(self, start_response, query, form, environ):
        header = environ.get("HTTP_AUTHORIZATION", "")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
        if fields.get("oauth_consumer_key") != CLIENT_ID or "oauth_signature" not in fields:
            return self.answer(start_response, "401 Unauthorized", "text/plain", "bad client")
        self.oauth1_callback = unquote(fields["oauth_callback"])
        body = "oauth_token=request-token&oauth_token_secret=request-secret"
        return self.answer(start_response, "200 OK", "application/x-www-form-urlencoded", body)

    def oauth1_authorize(self, start_response, query, form, environ):
        if self.mode == "deny":
            values = {"denied": query["oauth_token"]}
        else:
            values = {"oauth_token": query["oauth_token"], "oauth_verifier": "verifier"}
        return self.redirect(start_response, f"{self.oauth1_callback}&{urlencode(values)}")

    def oauth1_access_token(self, start_response, query, form, environ):
        header = environ.get("HTTP_AUTHORIZATION", "")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
        if fields.get("oauth_token") != "request-token" or fields.get("oauth_verifier") != (
            "verifier"
        ):
            return self.answer(start_response, "401 Unauthorized", "text/plain", "bad token")
        body = "oauth_token=access-token&oauth_token_secret=access-secret&user_id=77"
        return self.answer(start_response, "200 OK", "application/x-www-form-urlencoded", body)

    def oauth1_verify_credentials(self, start_response, query, form, environ):
        if 'oauth_token="access-token"' not in environ.get("HTTP_AUTHORIZATION", ""):
            return self.answer(start_response, "401 Unauthorized", "application/json", "{}")
        return self.answer(start_response, "200 OK", "application/json", json.dumps(self.profile))


@pytest.fixture(scope="session")
def _fake_server():
    fake = FakeProvider()
    server = make_server("127.0.0.1", 0, fake, handler_class=QuietHandler)
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_provider(_fake_server):
    _fake_server.reset()
    yield _fake_server
    _fake_server.reset()


@pytest.fixture
def oauth_app(make_app, fake_provider):
    return make_app(**fake_provider.settings())


def start(app, provider: str, next_url: str | None = None):
    """Click the provider's button: core answers with a redirect to the provider."""
    params = {"next": next_url} if next_url else {}
    return app.get(f"/account/signin/{provider}", params=params, status=302)


def through_provider(location: str) -> str:
    """The browser at the provider: the path and query it is sent back to."""
    answer = requests.get(location, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def sign_in_with(app, provider: str, next_url: str | None = None):
    return app.get(through_provider(start(app, provider, next_url).location), status=302)


def flash_on_signin_page(app) -> str:
    return app.get("/account/signin", headers=JSON).json.get("flash", "")


def who_am_i(app):
    """The signed-in user's name, read from their own profile page."""
    body = app.get("/account/profile", headers=JSON).json
    return body["user"]["name"] if "user" in body else None


def count_users(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(User))


def test_new_github_user_is_created_signed_in_and_sent_to_next(oauth_app, db):
    response = sign_in_with(oauth_app, "github", next_url="/project/category/featured")

    assert urlsplit(response.location).path == "/project/category/featured"
    user = db.scalars(select(User)).one()
    assert (user.name, user.fullname, user.email_addr) == (
        "octocat",
        "The Octocat",
        "octo@example.org",
    )
    assert user.passwd_hash is None
    assert user.admin is True  # the first account of the server
    assert user.info["oauth"]["github"]["id"] == "4242"
    assert who_am_i(oauth_app) == "octocat"
    token = oauth_app.get("/api/token/github").json
    assert token == {"github_token": {"oauth_token": "access-code-1"}}


def test_the_provider_redirect_carries_client_id_callback_and_state(oauth_app):
    location = start(oauth_app, "github").location
    query = parse_qs(urlsplit(location).query)

    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == ["http://localhost/account/signin/github/callback"]
    assert query["response_type"] == ["code"]
    assert len(query["state"][0]) >= 20


def test_returning_user_is_matched_and_the_token_renewed(oauth_app, db):
    sign_in_with(oauth_app, "github")
    oauth_app.reset()  # a fresh browser: no session left
    make_user()

    response = sign_in_with(oauth_app, "github")

    assert urlsplit(response.location).path == "/"
    assert count_users(db) == 2
    assert who_am_i(oauth_app) == "octocat"
    assert oauth_app.get("/api/token").json == {"github_token": {"oauth_token": "access-code-2"}}


def test_verified_address_of_an_existing_verified_account_links_it(oauth_app, db):
    owner = make_user(name="mona", email_addr="Octo@Example.org", valid_email=True)

    sign_in_with(oauth_app, "github")

    assert count_users(db) == 1
    assert who_am_i(oauth_app) == "mona"
    db.refresh(owner)
    assert owner.info["oauth"]["github"]["id"] == "4242"
    assert owner.passwd_hash is not None


def test_address_of_an_unverified_account_is_refused(oauth_app, db):
    make_user(name="squatter", email_addr="octo@example.org", valid_email=False)

    response = sign_in_with(oauth_app, "github")

    assert urlsplit(response.location).path == "/account/signin"
    assert "Sign in with its password" in flash_on_signin_page(oauth_app)
    assert count_users(db) == 1
    assert who_am_i(oauth_app) is None


def test_a_signed_in_user_links_the_provider_to_their_account(oauth_app, db):
    from tests.functional.web.conftest import sign_in

    user = make_user(name="linker")
    sign_in(oauth_app, user)

    sign_in_with(oauth_app, "github")
    oauth_app.reset()
    sign_in_with(oauth_app, "github")

    assert count_users(db) == 1
    assert who_am_i(oauth_app) == "linker"


def test_taken_user_name_gets_a_suffix(oauth_app, db):
    make_user(name="octocat")

    sign_in_with(oauth_app, "github")

    assert who_am_i(oauth_app) == "octocat-2"
    created = db.scalars(select(User).where(User.name == "octocat-2")).one()
    assert created.admin is False


def test_unverified_provider_address_is_not_trusted(oauth_app, fake_provider, db):
    make_user(name="victim", email_addr="octo@example.org", valid_email=True)
    fake_provider.emails = [{"email": "octo@example.org", "primary": True, "verified": False}]

    sign_in_with(oauth_app, "github")

    assert who_am_i(oauth_app) == "octocat"
    created = db.scalars(select(User).where(User.name == "octocat")).one()
    assert created.email_addr == "github-4242@users.invalid"
    assert created.valid_email is False


def test_state_mismatch_is_refused_and_creates_nothing(oauth_app, db):
    back = through_provider(start(oauth_app, "github").location)
    forged = re.sub(r"state=[^&]+", "state=forged", back)

    response = oauth_app.get(forged, status=302)

    assert urlsplit(response.location).path == "/account/signin"
    assert "expired or was not started here" in flash_on_signin_page(oauth_app)
    assert count_users(db) == 0
    # The state is used once: the genuine answer is refused too now.
    oauth_app.get(back, status=302)
    assert count_users(db) == 0


def test_state_that_is_not_ascii_is_refused(oauth_app, db):
    back = through_provider(start(oauth_app, "github").location)

    oauth_app.get(re.sub(r"state=[^&]+", "state=%C3%A9t%C3%A9", back), status=302)

    assert "expired or was not started here" in flash_on_signin_page(oauth_app)
    assert count_users(db) == 0


def test_callback_without_a_started_sign_in_is_refused(oauth_app, db):
    oauth_app.get("/account/signin/github/callback?code=code-1&state=anything", status=302)

    assert "expired or was not started here" in flash_on_signin_page(oauth_app)
    assert count_users(db) == 0


def test_state_of_another_provider_is_refused(oauth_app, db):
    back = through_provider(start(oauth_app, "github").location)

    oauth_app.get(back.replace("/github/", "/google/"), status=302)

    assert "expired or was not started here" in flash_on_signin_page(oauth_app)
    assert count_users(db) == 0


def test_denied_access_shows_a_message(oauth_app, fake_provider, db):
    fake_provider.mode = "deny"

    response = sign_in_with(oauth_app, "github", next_url="/project/category/featured")

    assert response.location.endswith("/account/signin?next=%2Fproject%2Fcategory%2Ffeatured")
    assert "You did not allow GitHub to sign you in" in response.follow().text
    assert count_users(db) == 0


@pytest.mark.parametrize("mode", ["garbage_token", "garbage_profile", "down"])
def test_a_provider_answering_garbage_or_down_creates_nothing(oauth_app, fake_provider, db, mode):
    fake_provider.mode = mode

    response = sign_in_with(oauth_app, "github")

    assert urlsplit(response.location).path == "/account/signin"
    flash = flash_on_signin_page(oauth_app)
    assert flash.startswith("GitHub"), flash
    assert count_users(db) == 0
    assert who_am_i(oauth_app) is None


def test_unreachable_provider_creates_nothing(make_app, fake_provider, db):
    # A port nothing listens on: taken from the system, then let go.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = fake_provider.settings()
    settings["auth_provider.github.token_url"] = f"http://127.0.0.1:{port}/token"
    app = make_app(**settings)

    sign_in_with(app, "github")

    assert flash_on_signin_page(app) == "GitHub did not answer as expected. Please try again."
    assert count_users(db) == 0


def test_twitter_signs_in_with_oauth1(oauth_app, fake_provider, db):
    fake_provider.profile = {"id_str": "77", "screen_name": "tweety", "name": "Tweety Bird"}

    response = sign_in_with(oauth_app, "twitter", next_url="/account/")

    assert urlsplit(response.location).path == "/account/"
    user = db.scalars(select(User)).one()
    assert (user.name, user.fullname) == ("tweety", "Tweety Bird")
    assert user.email_addr == "twitter-77@users.invalid"
    assert oauth_app.get("/api/token/twitter").json == {
        "twitter_token": {"oauth_token": "access-token", "oauth_token_secret": "access-secret"}
    }


def test_twitter_denied_access_creates_nothing(oauth_app, fake_provider, db):
    fake_provider.mode = "deny"

    sign_in_with(oauth_app, "twitter")

    assert flash_on_signin_page(oauth_app) == "You did not allow Twitter to sign you in"
    assert count_users(db) == 0


def test_twitter_down_before_the_redirect_shows_a_message(oauth_app, fake_provider, db):
    fake_provider.mode = "down"

    response = oauth_app.get("/account/signin/twitter", status=302)

    assert urlsplit(response.location).path == "/account/signin"
    assert flash_on_signin_page(oauth_app) == "Twitter is unavailable. Please try again later."
    assert count_users(db) == 0


def test_google_user_with_verified_address(oauth_app, fake_provider, db):
    fake_provider.profile = {
        "sub": "1093",
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "email_verified": True,
    }

    sign_in_with(oauth_app, "google")

    user = db.scalars(select(User)).one()
    assert (user.name, user.email_addr, user.valid_email) == ("ada", "ada@example.org", True)


def test_facebook_user(oauth_app, fake_provider, db):
    fake_provider.profile = {"id": "555", "name": "Grace Hopper", "email": "grace@example.org"}

    sign_in_with(oauth_app, "facebook")

    user = db.scalars(select(User)).one()
    assert (user.name, user.fullname) == ("Grace.Hopper", "Grace Hopper")
    assert user.info["oauth"]["facebook"]["id"] == "555"


def test_profile_without_an_id_is_refused(oauth_app, fake_provider, db):
    fake_provider.profile = {"login": "ghost"}

    sign_in_with(oauth_app, "github")

    assert flash_on_signin_page(oauth_app) == "GitHub did not say who you are"
    assert count_users(db) == 0


@pytest.mark.parametrize("evil", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_next_never_leaves_the_site(oauth_app, evil):
    response = sign_in_with(oauth_app, "github", next_url=evil)

    assert response.location in ("http://localhost/", "/")


def test_a_user_edited_link_does_not_sign_anyone_in(oauth_app, db):
    # A user writes someone's GitHub id into their own info: the unsigned link is ignored.
    make_user(name="forger", info={"oauth": {"github": {"id": "4242", "sig": "0" * 64}}})

    sign_in_with(oauth_app, "github")

    assert who_am_i(oauth_app) == "octocat"
    assert count_users(db) == 2


def test_sign_in_page_lists_the_enabled_providers(oauth_app):
    page = oauth_app.get("/account/signin?next=/account/")

    for name, title in [("github", "GitHub"), ("twitter", "Twitter"), ("google", "Google")]:
        link = page.html.find("a", id=f"signin-{name}")
        assert link.text.strip() == title
        assert link["href"] == f"/account/signin/{name}?next=%2Faccount%2F"


def test_disabled_provider_has_no_button_and_no_routes(make_app, fake_provider, db):
    app = make_app(**fake_provider.settings(enabled="google"))

    page = app.get("/account/signin")

    assert page.html.find("a", id="signin-github") is None
    assert page.html.find("a", id="signin-google") is not None
    app.get("/account/signin/github", status=404)
    app.get("/account/signin/github/callback?code=x&state=y", status=404)
    app.get("/account/signin/nosuch", status=404)


def test_no_provider_enabled_shows_no_buttons(app):
    page = app.get("/account/signin")

    assert page.html.find(class_="signin-providers") is None
    app.get("/account/signin/github", status=404)
