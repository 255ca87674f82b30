"""The list and search semantics shared by every /api object (behavior.md section 3)."""

import pytest

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
from tests.functional.api.roles import auth


def ids(response):
    return [item["id"] for item in response.json]


@pytest.fixture
def tasks(db):
    project = ProjectFactory()
    return [TaskFactory(project=project, priority_0=i / 100) for i in range(25)]


def test_limit_default_max_zero_and_negative(app, db):
    project = ProjectFactory()
    for _ in range(105):
        TaskFactory(project=project)

    assert len(app.get("/api/task").json) == 20
    assert len(app.get("/api/task?limit=500").json) == 100
    assert app.get("/api/task?limit=0").json == []
    assert len(app.get("/api/task?limit=abc").json) == 20
    assert app.get("/api/task?limit=-1", status=415).json["exception_cls"] == "DataError"


def test_offset_and_last_id(app, tasks):
    all_ids = [task.id for task in tasks]

    assert ids(app.get("/api/task?offset=20")) == all_ids[20:]
    assert ids(app.get(f"/api/task?last_id={all_ids[21]}&offset=100")) == all_ids[22:]
    assert ids(app.get(f"/api/task?last_id={all_ids[21]}&desc=true")) == all_ids[22:]
    assert app.get("/api/task?last_id=x", status=415).json["exception_cls"] == "DataError"


def test_orderby_and_desc(app, tasks):
    all_ids = [task.id for task in tasks]

    by_priority = ids(app.get("/api/task?orderby=priority_0&desc=true&limit=3"))
    bad_column = app.get("/api/task?orderby=nonsense", status=415).json
    bad_desc = app.get("/api/task?desc=perhaps", status=415).json

    assert by_priority == all_ids[::-1][:3]
    assert ids(app.get("/api/task?desc=yes&limit=2")) == all_ids[::-1][:2]
    assert ids(app.get("/api/task?desc=&limit=2")) == all_ids[:2]
    assert bad_column["exception_cls"] == "AttributeError"
    assert bad_column["exception_msg"] == "type object 'Task' has no attribute 'nonsense'"
    assert bad_desc["exception_cls"] == "ValueError"


@pytest.mark.parametrize("orderby", ["id; DROP TABLE task", "info->>'x'", "1", "id desc"])
def test_sql_looking_orderby_is_refused(app, tasks, orderby):
    body = app.get("/api/task", {"orderby": orderby}, status=415).json

    assert body["exception_cls"] == "AttributeError"


def test_all_versus_the_api_key_context(app, db):
    owner, coowner, volunteer = UserFactory(), UserFactory(), UserFactory()
    mine = ProjectFactory(owner=owner, coowners=[coowner])
    theirs = ProjectFactory()
    my_task, their_task = TaskFactory(project=mine), TaskFactory(project=theirs)

    for user in (owner, coowner):
        assert ids(app.get("/api/project", headers=auth(user))) == [mine.id]
        assert ids(app.get("/api/task", headers=auth(user))) == [my_task.id]
        assert ids(app.get("/api/task?all=1", headers=auth(user))) == [
            my_task.id,
            their_task.id,
        ]
    assert ids(app.get("/api/task", headers=auth(volunteer))) == []
    assert ids(app.get("/api/task")) == [my_task.id, their_task.id]
    assert ids(app.get("/api/task?all=true", headers=auth(volunteer))) == []


def test_project_id_forms(app, db):
    projects = [ProjectFactory() for _ in range(4)]
    tasks = [TaskFactory(project=project) for project in projects]
    first3 = [task.id for task in tasks[:3]]

    assert (
        ids(app.get(f"/api/task?project_id=[{projects[0].id},{projects[1].id},{projects[2].id}]"))
        == first3
    )
    assert ids(app.get(f"/api/task?project_id={projects[3].id}")) == [tasks[3].id]
    assert app.get("/api/task?project_id=abc", status=415).json["exception_cls"] == "DataError"
    assert app.get("/api/project?project_id=1", status=415).json["exception_cls"] == (
        "AttributeError"
    )


@pytest.mark.parametrize(
    "path, make",
    [
        ("project", lambda: ProjectFactory()),
        ("task", lambda: TaskFactory()),
        ("taskrun", lambda: TaskRunFactory()),
        ("result", lambda: ResultFactory()),
        ("category", lambda: CategoryFactory()),
        ("announcement", lambda: AnnouncementFactory()),
        ("blogpost", lambda: BlogpostFactory()),
        ("helpingmaterial", lambda: HelpingMaterialFactory()),
        ("page", lambda: PageFactory()),
    ],
)
def test_created_prefix_on_every_model(app, db, path, make):
    obj = make()
    created = obj.created

    for prefix in (created[:4], created[:7], created[:10]):
        assert obj.id in ids(app.get(f"/api/{path}?created={prefix}"))
    assert ids(app.get(f"/api/{path}?created=1999-12")) == []
    assert ids(app.get(f"/api/{path}?created=%25")) == []


def test_created_on_users(app, db):
    user = UserFactory()

    body = app.get(f"/api/user?created={user.created[:10]}").json

    assert [found["name"] for found in body] == [user.name]


def test_column_filters_and_wrong_types(app, db):
    project = ProjectFactory()
    TaskFactory(project=project, n_answers=2)
    wanted = TaskFactory(project=project, n_answers=7)

    assert ids(app.get("/api/task?n_answers=7")) == [wanted.id]
    assert ids(app.get(f"/api/task?id={wanted.id}")) == [wanted.id]
    for query in ("id=abc", "n_answers=1.5", "priority_0=high"):
        assert app.get(f"/api/task?{query}", status=415).json["exception_cls"] == "DataError"
    assert app.get("/api/project?featured=maybe", status=415).json["exception_cls"] == (
        "DataError"
    )
    assert app.get("/api/task?colour=red", status=415).json["exception_msg"] == (
        "type object 'Task' has no attribute 'colour'"
    )


def test_unknown_query_key_on_every_method(app, db):
    owner = UserFactory()
    task = TaskFactory(project=ProjectFactory(owner=owner))

    for response in (
        app.get(f"/api/task/{task.id}?bogus=1", status=415),
        app.put_json(f"/api/task/{task.id}?bogus=1", {}, headers=auth(owner), status=415),
        app.delete(f"/api/task/{task.id}?bogus=1", headers=auth(owner), status=415),
        app.post_json("/api/task?bogus=1", {}, headers=auth(owner), status=415),
    ):
        assert response.json["exception_cls"] == "AttributeError"


def test_fav_user_ids_filter_is_ignored_on_tasks_only(app, db):
    task = TaskFactory()

    assert ids(app.get("/api/task?fav_user_ids=5")) == [task.id]
    app.get("/api/project?fav_user_ids=5", status=415)


def test_info_pairs(app, db):
    project = ProjectFactory()
    a = TaskFactory(project=project, info={"colour": "red", "size": "big"})
    TaskFactory(project=project, info={"colour": "red", "size": "small"})
    TaskFactory(project=project, info={"colour": "blue"})

    assert ids(app.get("/api/task?info=colour::red|size::big")) == [a.id]
    assert len(app.get("/api/task?info=colour::red").json) == 2
    assert len(app.get("/api/task?info=colour::red||").json) == 2


def test_info_json_containment(app, db):
    project = ProjectFactory()
    a = TaskFactory(project=project, info={"colour": "red", "size": "big"})
    TaskFactory(project=project, info={"colour": "blue", "size": "big"})
    text = TaskFactory(project=project, info="just text")

    assert ids(app.get("/api/task", {"info": '{"colour": "red"}'})) == [a.id]
    assert len(app.get("/api/task", {"info": '{"size": "big"}'}).json) == 2
    assert ids(app.get("/api/task", {"info": "just text"})) == [text.id]


@pytest.mark.parametrize(
    "value",
    [
        "x'; DROP TABLE task; --::1",
        'a"b::1',
        "a::1' OR '1'='1",
        "$.x::1",
        '{"a\'": 1}',
        'colour::red|")--::x',
        "[1,2",
        "null",
    ],
)
def test_sql_looking_info_never_500(app, db, value):
    TaskFactory(info={"colour": "red"})

    response = app.get("/api/task", {"info": value}, expect_errors=True)

    assert response.status_int in (200, 415)
    if response.status_int == 200:
        assert response.json == []


def test_participated_and_context_do_not_combine(app, db):
    volunteer = UserFactory()
    answered, other = TaskFactory(), TaskFactory()
    TaskRunFactory(task=answered, user=volunteer)

    assert ids(app.get("/api/task?participated=1", headers=auth(volunteer))) == [other.id]


def test_users_list_hides_restricted_and_shapes_privately(app, db):
    public = UserFactory(privacy_mode=False)
    private = UserFactory(privacy_mode=True)
    UserFactory(restrict=True)

    body = app.get("/api/user").json

    assert body == [
        {
            "name": public.name,
            "locale": "en",
            "fullname": public.fullname,
            "created": public.created,
            "info": {},
        },
        {"name": private.name, "locale": "en"},
    ]


def test_jquery_cache_buster_is_ignored(app, db):
    project = ProjectFactory()
    task = TaskFactory(project=project)

    listed = app.get(f"/api/task?project_id={project.id}&_=1700000000000").json
    one = app.get(f"/api/task/{task.id}?_=1700000000000").json

    assert [row["id"] for row in listed] == [task.id]
    assert one["id"] == task.id
