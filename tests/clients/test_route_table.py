"""Every PYBOSSA page issue 18 asked for, as each caller meets it (behavior.md §9).

One table: each route with the callers who may use it. For every caller, as an HTML page and as
its JSON twin (`Content-Type: application/json`): the rightful ones get the page (200, never a
404); anonymous callers are sent to sign in (302 to /account/signin?next=…, in JSON too, §9.1);
signed-in callers without the right get 403 (§9.8, decision 23). Public pages answer 200 to
all. State-changing routes refuse a POST without the CSRF token with the documented 400 (§9.2),
and a POST with the token from anyone else as a GET would.
"""

from dataclasses import dataclass
from urllib.parse import quote

import pytest
from argon2 import PasswordHasher

from tests.factories import ProjectFactory, TaskFactory, UserFactory
from tests.functional.web.conftest import JSON, PASSWORD, csrf_token, sign_in

ROLES = ("anonymous", "volunteer", "coowner", "owner", "admin")
EVERYONE = frozenset(ROLES)
# The project's owners (its primary owner and co-owner) and admins.
OWNERS = frozenset({"coowner", "owner", "admin"})
# Handing the project over: its primary owner and admins only (decision 23).
PRIMARY = frozenset({"owner", "admin"})
# The pages of the owner's account: the account itself and admins; its applications, the
# account itself only (§9.3: admins too are refused).
SELF = PRIMARY
OWN = frozenset({"owner"})
ADMINS = frozenset({"admin"})
# The callers sign in ninety times: with the cheapest argon2 parameters (the hash carries them),
# not the production ones (0.5 s a sign-in on a loaded machine); the rights are under test here.
QUICK_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
JSON_TYPES = ("application/json", "text/csv")
CSRF_FAILED = {"code": 400, "description": "CSRF validation failed.", "template": "400.html"}


@dataclass(frozen=True)
class Route:
    path: str
    may: frozenset
    # Changes state on POST: the CSRF token is required, the rights are those of the GET.
    post: bool = False
    # Decision 24: a draft's data is refused like an item read (401 to an anonymous JSON
    # caller), not like a login-required page.
    draft_data: bool = False
    # A server-sent event stream (§12 SSE): served with sse.enabled on, each stream ending
    # after a tenth of a second (sse.max_seconds) so that its answer can be read whole.
    stream: bool = False

    def __str__(self):
        return self.path


DRAFT = "/project/{draft}"
TABLE = [
    Route(DRAFT + "/tasks/settings", OWNERS),
    Route(DRAFT + "/tasks/redundancy", OWNERS, post=True),
    Route(DRAFT + "/tasks/priority", OWNERS, post=True),
    Route(DRAFT + "/tasks/scheduler", OWNERS, post=True),
    Route(DRAFT + "/tasks/delete", OWNERS, post=True),
    Route(DRAFT + "/transferownership", PRIMARY, post=True),
    Route(DRAFT + "/{draft_task}/results.json", OWNERS, draft_data=True),
    Route("/project/{published}/{published_task}/results.json", EVERYONE),
    Route(DRAFT + "/presenter", OWNERS, draft_data=True),
    Route(DRAFT + "/projectreport/export", OWNERS),
    Route(DRAFT + "/publicstream", OWNERS, draft_data=True, stream=True),
    Route("/project/{published}/publicstream", EVERYONE, stream=True),
    Route(DRAFT + "/privatestream", OWNERS, stream=True),
    Route("/project/{published}/privatestream", OWNERS, stream=True),
    Route("/account/{owner}/applications", OWN),
    Route("/account/{owner}/export", SELF, post=True),
    Route("/account/{owner}/delete", SELF, post=True),
    Route("/admin/users/export?format=json", ADMINS),
    Route("/admin/users/export?format=csv", ADMINS),
    Route("/help/license", EVERYONE),
]


@pytest.fixture
def world(db):
    """One caller per role, a draft project and a published one, each with a task."""
    users = {role: UserFactory(passwd_hash=QUICK_HASH) for role in ROLES if role != "anonymous"}
    users["admin"].admin = True
    draft = ProjectFactory(owner=users["owner"], coowners=[users["coowner"]], published=False)
    published = ProjectFactory(owner=users["owner"], coowners=[users["coowner"]])
    names = {
        "draft": draft.short_name,
        "draft_task": TaskFactory(project=draft).id,
        "published": published.short_name,
        "published_task": TaskFactory(project=published).id,
        "owner": users["owner"].name,
    }
    db.commit()
    return users, names


STREAMS_ON = {"sse.enabled": "true", "sse.max_seconds": "0.1"}


def caller(make_app, users, role, route=None):
    """A fresh app (its own cookies) signed in as `role`."""
    app = make_app(**(STREAMS_ON if route is not None and route.stream else {}))
    if role != "anonymous":
        sign_in(app, users[role])
    return app


def expected_get(route: Route, role: str, as_json: bool) -> int:
    if role in route.may:
        return 200
    if role != "anonymous":
        return 403
    return 401 if route.draft_data and as_json else 302


@pytest.mark.parametrize("route", TABLE, ids=str)
def test_get_as_html_and_json(make_app, world, route):
    users, names = world
    path = route.path.format(**names)
    got, expected = {}, {}
    for role in ROLES:
        app = caller(make_app, users, role, route)
        for kind, headers in (("html", {}), ("json", JSON)):
            response = app.get(path, headers=headers, expect_errors=True)
            got[role, kind] = response.status_int
            expected[role, kind] = expected_get(route, role, kind == "json")
            if response.status_int == 302:
                assert response.location.endswith(f"/account/signin?next={quote(path)}")
            if response.status_int == 200 and kind == "json":
                expected_types = ("text/event-stream",) if route.stream else JSON_TYPES
                assert response.content_type in expected_types, response

    assert got == expected


POSTS = [route for route in TABLE if route.post]


@pytest.mark.parametrize("route", POSTS, ids=str)
def test_post_without_the_csrf_token_is_a_400_for_the_rightful(make_app, world, route):
    users, names = world
    for role in sorted(route.may):
        app = caller(make_app, users, role)

        response = app.post_json(route.path.format(**names), {}, expect_errors=True)

        assert (role, response.status_int, response.json) == (role, 400, CSRF_FAILED)


@pytest.mark.parametrize("route", POSTS, ids=str)
def test_post_with_the_token_is_refused_to_others(make_app, world, route):
    users, names = world
    path = route.path.format(**names)
    got, expected = {}, {}
    for role in (role for role in ROLES if role not in route.may):
        app = caller(make_app, users, role)
        token = csrf_token(app, "/account/signin" if role == "anonymous" else "/project/new")

        response = app.post_json(path, {}, headers={"X-CSRFToken": token}, expect_errors=True)

        got[role] = response.status_int
        expected[role] = 302 if role == "anonymous" else 403
        if role == "anonymous":
            assert response.location.endswith(f"/account/signin?next={quote(path)}")

    assert got == expected
