"""LDAP sign-in against ldap3's in-memory directory (MOCK_SYNC strategy)."""

import ldap3
import pytest
from sqlalchemy import func, select

from core.models import User
from tests.functional.web.conftest import JSON, csrf_token

BASE_DN = "ou=people,dc=example,dc=org"
SEARCHER = "cn=search,dc=example,dc=org"
LDAP_SETTINGS = {
    "ldap.enabled": "true",
    "ldap.host": "directory.invalid",
    "ldap.base_dn": BASE_DN,
    "ldap.bind_dn": SEARCHER,
    "ldap.bind_password": "search-secret",
    "ldap.client_strategy": "MOCK_SYNC",
}


@pytest.fixture
def ldap_app(make_app):
    app = make_app(**LDAP_SETTINGS)
    server = app.app.registry["ldap_server"]
    # The in-memory directory lives on the server object: fill it once per application.
    if not getattr(server, "_filled", False):
        loader = ldap3.Connection(server, client_strategy=ldap3.MOCK_SYNC)
        loader.strategy.add_entry(SEARCHER, {"userPassword": "search-secret", "cn": "search"})
        loader.strategy.add_entry(
            f"uid=ada,{BASE_DN}",
            {
                "uid": "ada",
                "cn": "Ada Lovelace",
                "mail": "ada@example.org",
                "userPassword": "engine",
                "objectClass": "person",
            },
        )
        server._filled = True
    return app


def post_signin(app, username, password, next_url="/"):
    token = csrf_token(app, "/account/signin/ldap")
    return app.post_json(
        f"/account/signin/ldap?next={next_url}",
        {"username": username, "password": password},
        headers={"X-CSRFToken": token},
    )


def count_users(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(User))


def test_first_sign_in_creates_the_account(ldap_app, db):
    response = post_signin(ldap_app, "ada", "engine", next_url="/account/")

    assert response.json["next"] == "/account/"
    user = db.scalars(select(User)).one()
    assert (user.name, user.fullname, user.email_addr, user.ldap) == (
        "ada",
        "Ada Lovelace",
        "ada@example.org",
        "ada",
    )
    assert user.passwd_hash is None
    assert ldap_app.get("/account/profile", headers=JSON).json["user"]["name"] == "ada"


def test_second_sign_in_finds_the_same_account(ldap_app, db):
    post_signin(ldap_app, "ada", "engine")
    ldap_app.reset()

    post_signin(ldap_app, "ada", "engine")

    assert count_users(db) == 1


@pytest.mark.parametrize(
    ("username", "password"), [("ada", "wrong"), ("nobody", "engine"), ("ada", " "), ("*", "x")]
)
def test_wrong_login_or_password_is_refused(ldap_app, db, username, password):
    response = post_signin(ldap_app, username, password)

    assert response.json["flash"] == "Ooops, incorrect login or password"
    assert count_users(db) == 0


def test_csrf_is_required(ldap_app, db):
    response = ldap_app.post_json(
        "/account/signin/ldap", {"username": "ada", "password": "engine"}, expect_errors=True
    )

    assert response.status_int == 400
    assert count_users(db) == 0


def test_sign_in_page_links_to_the_ldap_form(ldap_app):
    page = ldap_app.get("/account/signin")

    assert page.html.find("a", id="signin-ldap")["href"] == "/account/signin/ldap"
    assert ldap_app.get("/account/signin/ldap").html.find("input", id="username") is not None


def test_ldap_off_is_not_found(app):
    app.get("/account/signin/ldap", status=404)
