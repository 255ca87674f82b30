"""Credentials are never filters (issue 18, point 2): every /api object x every role x both ways
of sending the key (`?api_key=` and the `Authorization` header).

An anonymous caller sends a key no user has: it falls back to anonymous (behavior.md §5). Lists
follow §3: for a signed-in caller without `all=1`, objects of the projects they own or co-own
(decision 5), everything readable with `all=1`; users, categories, announcements and project
stats are never scoped. Writes follow §2 (owners_ids everywhere, decision 5). No answer carries
an exception class other than those §4 documents.
"""

from types import SimpleNamespace

import pytest

from core.models import Category, ProjectStats
from tests.factories import (
    AnnouncementFactory,
    BlogpostFactory,
    CategoryFactory,
    HelpingMaterialFactory,
    PageFactory,
    ProjectFactory,
    ResultFactory,
    TaskFactory,
    TaskRunFactory,
    UserFactory,
)
from tests.functional.api.roles import ROLES, cast

WAYS = ("query", "header")
UNKNOWN_KEY = "00000000-0000-4000-8000-000000000000"
# behavior.md §4: the classes an answer may name, with their status.
DOCUMENTED = {
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "MethodNotAllowed": 405,
    "ValueError": 415,
    "TypeError": 415,
    "AttributeError": 415,
    "DataError": 415,
    "DBIntegrityError": 415,
    "TooManyRequests": 429,
}
# §3: the lists scoped to the caller's own projects unless `all=1`.
SCOPED = {"project", "task", "taskrun", "result", "blogpost", "helpingmaterial", "page"}
OBJECTS = (
    "project",
    "task",
    "taskrun",
    "result",
    "user",
    "category",
    "announcement",
    "blogpost",
    "helpingmaterial",
    "page",
    "projectstats",
)
OWNERS = {"owner", "coowner", "admin"}


@pytest.fixture
def site(db):
    """The cast of roles.cast and one object of every kind in their published project."""
    world = cast()
    project = world.project
    task = TaskFactory(project=project, n_answers=5)
    run = TaskRunFactory(task=task, user=world.users["volunteer"])
    done = TaskFactory(project=project)
    world.objects = SimpleNamespace(
        project=project,
        task=task,
        taskrun=run,
        result=ResultFactory(task=done),
        user=world.users["volunteer"],
        category=db.get(Category, project.category_id),
        announcement=AnnouncementFactory(),
        blogpost=BlogpostFactory(project=project),
        helpingmaterial=HelpingMaterialFactory(project=project),
        page=PageFactory(project=project),
        projectstats=db.query(ProjectStats).filter_by(project_id=project.id).one(),
    )
    return world


def send(user, way, params=None):
    """Query parameters and headers carrying the caller's key (an unknown one for anonymous)."""
    key = user.api_key if user is not None else UNKNOWN_KEY
    params = dict(params or {})
    if way == "query":
        return params | {"api_key": key}, {}
    return params, {"Authorization": key}


def documented(response):
    """The answer is a success, or an error in §4's shape naming a class §4 documents."""
    if response.status_int < 400:
        return True
    body = response.json
    return (
        body.get("status") == "failed"
        and DOCUMENTED.get(body.get("exception_cls")) == response.status_int == body["status_code"]
    )


def identities(obj_type, rows):
    # Users are listed without their id to others (§1.5): their name is their identity.
    key = "name" if obj_type == "user" else "id"
    return sorted(row[key] for row in rows)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("obj_type", OBJECTS)
def test_lists_take_the_key_as_the_caller(app, site, obj_type, role, way):
    user = site.users[role]
    params, headers = send(user, way)
    anonymous = app.get(f"/api/{obj_type}").json

    mine = app.get(f"/api/{obj_type}", params, headers=headers, expect_errors=True)
    everything = app.get(
        f"/api/{obj_type}", send(user, way, {"all": "1"})[0], headers=headers, expect_errors=True
    )

    assert documented(mine) and documented(everything)
    assert (mine.status_int, everything.status_int) == (200, 200), (mine.json, everything.json)
    assert identities(obj_type, everything.json) == identities(obj_type, anonymous)
    scoped_to_nothing = obj_type in SCOPED and role in ("volunteer", "admin")
    expected = [] if scoped_to_nothing else identities(obj_type, anonymous)
    assert identities(obj_type, mine.json) == expected
    assert anonymous  # the site has one of each, so the comparison means something


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("obj_type", OBJECTS)
def test_items_take_the_key_as_the_caller(app, site, obj_type, role, way):
    user = site.users[role]
    obj = getattr(site.objects, obj_type)
    params, headers = send(user, way)

    answer = app.get(f"/api/{obj_type}/{obj.id}", params, headers=headers, expect_errors=True)

    assert documented(answer)
    assert answer.status_int == 200, answer.json
    if obj_type == "user":
        assert answer.json["name"] == obj.name
        # The volunteer's own account, or an admin looking: the full record (§1.5).
        assert ("email_addr" in answer.json) is (role in ("volunteer", "admin"))
    else:
        assert answer.json["id"] == obj.id


# Who may write what (§2 with decision 5: owners_ids is ownership); "405" for no such method.
RIGHTS = {
    "project": {"POST": ROLES[1:], "PUT": OWNERS, "DELETE": OWNERS},
    "task": {"POST": OWNERS, "PUT": OWNERS, "DELETE": OWNERS},
    "taskrun": {"PUT": {"volunteer", "admin"}, "DELETE": {"volunteer", "admin"}},
    "result": {"POST": (), "PUT": OWNERS, "DELETE": ()},
    "user": {"POST": "405", "PUT": {"volunteer", "admin"}, "DELETE": "405"},
    "category": {"POST": {"admin"}, "PUT": {"admin"}, "DELETE": {"admin"}},
    "announcement": {"POST": {"admin"}, "PUT": {"admin"}, "DELETE": {"admin"}},
    "blogpost": {"POST": OWNERS, "PUT": OWNERS, "DELETE": OWNERS},
    "helpingmaterial": {"POST": OWNERS, "PUT": OWNERS, "DELETE": OWNERS},
    "page": {"POST": OWNERS, "PUT": OWNERS, "DELETE": OWNERS},
    "projectstats": {"POST": (), "PUT": (), "DELETE": ()},
}
WRITES = [
    (obj_type, method)
    for obj_type, rights in RIGHTS.items()
    for method in ("POST", "PUT", "DELETE")
    if method in rights
]


def new_body(site, obj_type, role):
    pid = site.project.id
    return {
        "project": {"name": f"New {role}", "short_name": f"new_{role}", "description": "d"},
        "task": {"project_id": pid, "info": {"q": 1}},
        "result": {"info": {"a": 1}},
        "user": {"name": "nobody"},
        "category": {"name": f"C {role}", "short_name": f"c_{role}", "description": "d"},
        "announcement": {"title": "T", "body": "B"},
        "blogpost": {"project_id": pid, "title": "T", "body": "B"},
        "helpingmaterial": {"project_id": pid, "info": {"x": 1}},
        "page": {"project_id": pid, "slug": "s"},
        "projectstats": {"project_id": pid},
    }[obj_type]


def change_body(obj_type):
    return {
        "project": {"description": "changed"},
        "task": {"n_answers": 7},
        "taskrun": {"info": {"answer": "no"}},
        "result": {"info": {"a": 2}},
        "user": {"fullname": "Changed Name"},
        "category": {"description": "changed"},
        "announcement": {"body": "changed"},
        "blogpost": {"body": "changed"},
        "helpingmaterial": {"info": {"x": 2}},
        "page": {"info": {"x": 2}},
        "projectstats": {"n_tasks": 9},
    }[obj_type]


def deletable(site, db, obj_type):
    """An object of the kind that nothing else depends on (deleting it is only a question of
    rights)."""
    objects = site.objects
    if obj_type == "project":
        owner, coowner = site.users["owner"], site.users["coowner"]
        return ProjectFactory(owner=owner, coowners=[coowner])
    if obj_type == "task":
        return TaskFactory(project=site.project)
    if obj_type == "category":
        return CategoryFactory()
    if obj_type == "announcement":
        return AnnouncementFactory()
    if obj_type == "blogpost":
        return BlogpostFactory(project=site.project)
    if obj_type == "helpingmaterial":
        return HelpingMaterialFactory(project=site.project)
    if obj_type == "page":
        return PageFactory(project=site.project)
    return getattr(objects, obj_type)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("obj_type", "method"), WRITES)
def test_writes_take_the_key_as_the_caller(app, db, site, obj_type, method, role, way):
    user = site.users[role]
    params, headers = send(user, way)
    query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
    rights = RIGHTS[obj_type][method]
    if rights == "405":
        expected = 405
    elif role in rights:
        expected = 204 if method == "DELETE" else 200
    else:
        expected = 401 if user is None else 403

    if method == "POST":
        answer = app.post_json(
            f"/api/{obj_type}{query}",
            new_body(site, obj_type, role),
            headers=headers,
            expect_errors=True,
        )
    elif method == "PUT":
        obj = getattr(site.objects, obj_type)
        answer = app.put_json(
            f"/api/{obj_type}/{obj.id}{query}",
            change_body(obj_type),
            headers=headers,
            expect_errors=True,
        )
    else:
        obj = deletable(site, db, obj_type)
        answer = app.delete(
            f"/api/{obj_type}/{obj.id}{query}", headers=headers, expect_errors=True
        )

    assert documented(answer), answer.body
    assert answer.status_int == expected, answer.body
    if method == "POST" and expected == 200:
        assert "api_key" not in answer.json or obj_type == "user"
        if obj_type == "project":
            assert answer.json["owner_id"] == user.id


def test_the_users_list_with_a_volunteers_key_is_not_a_filter(app, db):
    """The report of issue 18: `GET /api/user?api_key=<non-admin key>` answered 415
    AttributeError (`type object 'User' has no attribute 'api_key'`)."""
    volunteer = UserFactory()
    others = [UserFactory() for _ in range(2)]

    body = app.get("/api/user", {"api_key": volunteer.api_key}).json

    assert sorted(row["name"] for row in body) == sorted(u.name for u in [volunteer, *others])
