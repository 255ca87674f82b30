"""Site-wide pages: home, project categories, leaderboard, announcements and /stats/."""

import pytest
from sqlalchemy import text

from core.cache import bump_all
from core.models import Category, User
from tests.factories import (
    AnnouncementFactory,
    CategoryFactory,
    ProjectFactory,
    TaskFactory,
    TaskRunFactory,
)
from tests.functional.web.conftest import JSON, make_user, sign_in

PROJECT_KEYS = {
    "id",
    "name",
    "short_name",
    "description",
    "info",
    "created",
    "updated",
    "owner",
    "featured",
    "category_id",
    "last_activity",
    "last_activity_raw",
    "overall_progress",
    "n_tasks",
    "n_volunteers",
}


@pytest.fixture(autouse=True)
def fresh_cache(app):
    """Tests arrange data outside the application's sessions: start from an empty cache."""
    bump_all(app.app.registry["cache"])


def answers(user, project, count: int) -> None:
    for _ in range(count):
        TaskRunFactory(task=TaskFactory(project=project), user=user)


# --- Categories -------------------------------------------------------------------------------


def test_category_lists_its_public_projects_with_documented_keys(app, db):
    category = CategoryFactory(short_name="art", name="Art")
    listed = ProjectFactory(category=category, name="Painting", short_name="painting")
    ProjectFactory(category=category, published=False)
    ProjectFactory(category=category, info={"passwd_hash": "x"})
    ProjectFactory(category=category, owner=make_user(restrict=True))
    ProjectFactory()

    body = app.get("/project/category/art/", headers=JSON).json

    assert set(body) == {
        "projects",
        "pagination",
        "active_cat",
        "categories",
        "count",
        "orderby",
        "desc",
        "title",
        "template",
    }
    assert [p["short_name"] for p in body["projects"]] == [listed.short_name]
    assert set(body["projects"][0]) == PROJECT_KEYS
    assert body["projects"][0]["owner"] == listed_owner_fullname(db, listed)
    assert body["active_cat"] == {
        "created": category.created,
        "description": category.description,
        "id": category.id,
        "name": "Art",
        "short_name": "art",
    }
    assert body["pagination"] == {
        "page": 1,
        "per_page": 20,
        "total": 1,
        "next": False,
        "prev": False,
    }
    assert body["count"] == 1
    assert "art" in [c["short_name"] for c in body["categories"]]


def listed_owner_fullname(db, project) -> str:
    return db.get(User, project.owner_id).fullname


def test_category_page_in_html_escapes_names(app, db):
    category = CategoryFactory(short_name="art")
    ProjectFactory(category=category, name="<b>Bold</b> project")

    page = app.get("/project/category/art/")

    assert page.content_type == "text/html"
    assert "&lt;b&gt;Bold&lt;/b&gt; project" in page.text
    assert '<label for="orderby"' in page.text


def test_category_pagination_and_pages_beyond_the_end(app, db):
    category = CategoryFactory(short_name="many")
    for _ in range(21):
        ProjectFactory(category=category)

    first = app.get("/project/category/many/", headers=JSON).json
    second = app.get("/project/category/many/page/2/", headers=JSON).json

    assert (len(first["projects"]), first["pagination"]["next"]) == (20, True)
    assert (len(second["projects"]), second["pagination"]["prev"]) == (1, True)
    assert second["pagination"]["next"] is False
    app.get("/project/category/many/page/3/", headers=JSON, status=404)


def test_orderby_sorts_on_whitelisted_keys_only(app, db):
    category = CategoryFactory(short_name="sorted")
    small = ProjectFactory(category=category, name="Small one")
    big = ProjectFactory(category=category, name="Big one")
    TaskFactory(project=big)
    TaskFactory(project=big)
    TaskFactory(project=small)
    db.execute(
        text("UPDATE project_stats SET n_tasks = CASE project_id WHEN :big THEN 2 ELSE 1 END"),
        {"big": big.id},
    )
    db.commit()

    ascending = app.get("/project/category/sorted/?orderby=n_tasks", headers=JSON).json
    descending = app.get("/project/category/sorted/?orderby=n_tasks&desc=true", headers=JSON).json
    injected = app.get(
        "/project/category/sorted/?orderby=id%3B%20DROP%20TABLE%20project", headers=JSON
    ).json

    assert [p["id"] for p in ascending["projects"]] == [small.id, big.id]
    assert [p["id"] for p in descending["projects"]] == [big.id, small.id]
    assert injected["orderby"] is None
    assert len(injected["projects"]) == 2


def test_unknown_category_is_a_404(app, db):
    app.get("/project/category/nothing-here/", headers=JSON, status=404)


def test_featured_lists_featured_published_projects(app, db):
    featured = ProjectFactory(featured=True)
    ProjectFactory(featured=True, published=False)
    ProjectFactory()

    body = app.get("/project/category/featured/", headers=JSON).json

    assert [p["id"] for p in body["projects"]] == [featured.id]
    assert body["active_cat"]["short_name"] == "featured"
    assert "count" not in body
    assert body["categories"][0]["name"] == "Featured"


def test_featured_without_featured_projects_goes_to_the_first_category(app, db):
    project = ProjectFactory()
    short_name = project_category_short_name(db, project)

    body = app.get("/project/category/featured/", headers=JSON).json
    page = app.get("/project/category/featured/", status=302)

    assert body == {"next": f"/project/category/{short_name}/"}
    assert page.location.endswith(f"/project/category/{short_name}/")


def project_category_short_name(db, project) -> str:
    return db.get(Category, project.category_id).short_name


def test_project_index_redirects_to_featured_when_some_are(app, db):
    ProjectFactory(featured=True)

    assert app.get("/project/", headers=JSON).json == {"next": "/project/category/featured/"}


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 302), ("volunteer", 403), ("owner", 403), ("admin", 200)]
)
def test_draft_list_is_for_admins(signed_in, db, role, status):
    owner = make_user()
    draft = ProjectFactory(owner=owner, published=False)
    ProjectFactory()
    callers = {"anonymous": None, "volunteer": make_user(), "owner": owner}
    callers["admin"] = make_user(admin=True)
    app = signed_in(callers[role])

    response = app.get("/project/category/draft/", headers=JSON, status=status)

    if status == 200:
        assert [p["id"] for p in response.json["projects"]] == [draft.id]
        assert response.json["active_cat"]["name"] == "Draft"


def test_draft_list_sends_anonymous_browsers_to_sign_in(app, db):
    page = app.get("/project/category/draft/", status=302)

    assert "/account/signin?next=/project/category/draft/" in page.location


# --- Home ---------------------------------------------------------------------------------


def test_home_json_keys_and_contributions_of_the_caller(signed_in, db):
    volunteer = make_user()
    project = ProjectFactory(featured=True)
    answers(volunteer, project, 2)
    app = signed_in(volunteer)

    body = app.get("/", headers=JSON).json

    assert {
        "featured",
        "categories",
        "categories_projects",
        "top_projects",
        "top_users",
        "historical_contributions",
        "template",
        "title",
    } <= set(body)
    assert [p["id"] for p in body["featured"]] == [project.id]
    assert [p["id"] for p in body["historical_contributions"]] == [project.id]
    assert body["top_users"][0]["name"] == volunteer.name
    assert body["top_users"][0]["score"] == 2


def test_home_html_for_anonymous_has_no_contributions(app, db):
    ProjectFactory(name="Visible project", featured=True)

    page = app.get("/")
    body = app.get("/", headers=JSON).json

    assert "Visible project" in page.text
    assert "historical_contributions" not in body


# --- Leaderboard --------------------------------------------------------------------------


def test_leaderboard_ranks_by_answers_and_hides_restricted_users(app, db):
    project = ProjectFactory()
    best, second = make_user(), make_user()
    hidden = make_user(restrict=True)
    answers(best, project, 3)
    answers(second, project, 1)
    answers(hidden, project, 5)

    body = app.get("/leaderboard/", headers=JSON).json

    names = [(row["name"], row["rank"], row["score"]) for row in body["top_users"]]
    assert names[:2] == [(best.name, 1, 3), (second.name, 2, 1)]
    assert hidden.name not in [row["name"] for row in body["top_users"]]
    assert set(body["top_users"][0]) == {
        "created",
        "fullname",
        "info",
        "locale",
        "n_answers",
        "name",
        "rank",
        "registered_ago",
        "score",
    }
    assert {body["top_users"][0][key] for key in ("locale", "n_answers", "registered_ago")} == {
        None
    }
    assert (body["title"], body["template"]) == (
        "Community Leaderboard",
        "listings/leaderboard.html",
    )
    assert "email_addr" not in str(body) and "api_key" not in str(body)


def test_leaderboard_appends_the_caller_and_a_window(signed_in, make_app, db):
    project = ProjectFactory()
    users = [make_user() for _ in range(5)]
    for points, user in enumerate(users):
        answers(user, project, 5 - points)
    me = users[3]
    app = make_app(leaderboard__size="2")
    bump_all(app.app.registry["cache"])
    sign_in(app, me)

    alone = app.get("/leaderboard/", headers=JSON).json["top_users"]
    window = app.get("/leaderboard/window/1", headers=JSON).json["top_users"]

    assert [row["rank"] for row in alone] == [1, 2, 4]
    assert alone[-1]["name"] == me.name
    assert [row["rank"] for row in window] == [1, 2, 3, 4, 5]


def test_leaderboard_html_and_unknown_board(app, db):
    answers(make_user(fullname="Ada <Lovelace>"), ProjectFactory(), 1)

    page = app.get("/leaderboard/")

    assert "Ada &lt;Lovelace&gt;" in page.text
    app.get("/leaderboard/?info=points", headers=JSON, status=404)


# --- Announcements and stats ------------------------------------------------------------


def test_announcements_shows_published_ones(app, db):
    shown = AnnouncementFactory(title="Shown")
    AnnouncementFactory(title="Draft one", published=False)

    body = app.get("/announcements/", headers=JSON).json
    page = app.get("/announcements/")

    assert [a["id"] for a in body["announcements"]] == [shown.id]
    assert set(body["announcements"][0]) == {
        "body",
        "created",
        "id",
        "media_url",
        "published",
        "title",
        "updated",
    }
    assert "Shown" in page.text and "Draft one" not in page.text


def test_global_stats_figures(app, db):
    volunteer = make_user()
    project = ProjectFactory()
    ProjectFactory(published=False)
    answers(volunteer, project, 2)
    TaskRunFactory(task=TaskFactory(project=project), user=None, user_ip="10.1.1.1")

    body = app.get("/stats/", headers=JSON).json
    page = app.get("/stats/")

    users = db.scalar(text('SELECT count(*) FROM "user"'))
    assert body["stats"] == {
        "n_total_users": users + 1,
        "n_auth": users,
        "n_anon": 1,
        "n_published_projects": 1,
        "n_draft_projects": 1,
        "n_total_projects": 2,
        "n_tasks": 3,
        "n_task_runs": 3,
    }
    assert body["projects"]["values"][0] == {"label": "Published", "value": [0, 1]}
    assert body["top5_projects_24_hours"][0]["id"] == project.id
    assert body["top5_projects_24_hours"][0]["n_answers"] == 3
    assert body["top5_users_24_hours"][0]["name"] == volunteer.name
    assert body["show_locs"] is False
    assert "Global Statistics" in page.text
