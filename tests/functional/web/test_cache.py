"""Cached listings: served from the dogpile region, forgotten when their data changes."""

import pytest
import transaction
from sqlalchemy import select

from core.cache import build_region, bump_all, cached, generation, listen
from core.db import get_session_factory
from core.models import Category, Project, ProjectStats, User
from core.settings import load_settings
from tests.factories import CategoryFactory, ProjectFactory, TaskRunFactory, UserFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in


def listed(app, url: str) -> list[int]:
    return [project["id"] for project in app.get(url, headers=JSON).json["projects"]]


def add_project_through_the_app(app, category_id: int, owner_id: int, **fields) -> int:
    """A project written by a session of the application's factory, as a request would."""
    with transaction.manager:
        session = app.app.registry["dbsession_factory"]()
        project = Project(
            name=fields.get("name", "Added later"),
            short_name=fields.get("short_name", "addedlater"),
            description="Added",
            owner_id=owner_id,
            category_id=category_id,
            published=True,
        )
        session.add(project)
        session.flush()
        session.add(ProjectStats(project_id=project.id))
        project_id = project.id
    session.close()
    return project_id


def check_listing_is_cached_then_refreshed(app, db):
    category = CategoryFactory(short_name="cached")
    first = ProjectFactory(category=category)
    url = "/project/category/cached/"
    assert listed(app, url) == [first.id]

    # Written behind the application's back: the cached list is still served.
    ProjectFactory(category=category)
    assert listed(app, url) == [first.id]

    # Written through the application's sessions: the list is computed again.
    added = add_project_through_the_app(app, category.id, first.owner_id)
    assert sorted(listed(app, url)) == sorted(
        db.scalars(select(Project.id).where(Project.category_id == category.id))
    )
    assert added in listed(app, url)


def test_category_listing_is_cached_until_the_app_writes(app, db):
    bump_all(app.app.registry["cache"])

    check_listing_is_cached_then_refreshed(app, db)


def test_with_the_redis_backend_tokens_follow_the_table_generations(
    make_app, db, redis_url, redis_client
):
    app = make_app(cache__backend="dogpile.cache.redis", redis__url=redis_url)
    region = app.app.registry["cache"]
    stored = redis_client.get("crowdnest:cache:generation:projects")
    before = generation(region, "projects")
    assert before.startswith("g")  # made of the generations of the tables it reads

    check_listing_is_cached_then_refreshed(app, db)

    assert generation(region, "projects") != before
    # The commits bumped the generations; no token was stored for them.
    assert redis_client.get("crowdnest:cache:generation:projects") == stored
    leaderboard = generation(region, "leaderboard")
    add_project_through_the_app(
        app, CategoryFactory().id, UserFactory().id, name="Second", short_name="second"
    )
    assert generation(region, "leaderboard") == leaderboard  # reads no project table


def test_with_redis_and_no_api_cache_tokens_are_stored(make_app, db, redis_url, redis_client):
    app = make_app(cache__backend="dogpile.cache.redis", redis__url=redis_url, api__cache="false")
    assert not generation(app.app.registry["cache"], "projects").startswith("g")

    check_listing_is_cached_then_refreshed(app, db)

    assert redis_client.keys("crowdnest:cache:generation:projects")


def test_featuring_a_project_through_the_admin_page_updates_the_featured_list(app, db):
    bump_all(app.app.registry["cache"])
    admin = make_user(admin=True)
    shown = ProjectFactory(featured=True)
    other = ProjectFactory()
    sign_in(app, admin)
    assert listed(app, "/project/category/featured/") == [shown.id]

    token = csrf_token(app, "/admin/featured")
    app.post_json(f"/admin/featured/{other.id}", {}, headers={"X-CSRFToken": token})

    assert sorted(listed(app, "/project/category/featured/")) == sorted([shown.id, other.id])


def rename(app, user_id: int, fullname: str, commit: bool) -> None:
    manager = transaction.manager
    manager.begin()
    session = app.app.registry["dbsession_factory"]()
    session.get(User, user_id).fullname = fullname
    session.flush()
    if commit:
        manager.commit()
    else:
        manager.abort()
    session.close()


def test_leaderboard_is_refreshed_by_commits_not_by_rollbacks(app, db):
    bump_all(app.app.registry["cache"])
    assert app.get("/leaderboard/", headers=JSON).json["top_users"] == []
    volunteer = make_user()
    # Only contributors are ranked (decision 27); answered behind the cache's back.
    TaskRunFactory(user=volunteer)

    rename(app, volunteer.id, "Rolled back", commit=False)
    still = app.get("/leaderboard/", headers=JSON).json["top_users"]
    rename(app, volunteer.id, "Committed", commit=True)
    after = app.get("/leaderboard/", headers=JSON).json["top_users"]

    assert still == []
    assert [(row["name"], row["fullname"]) for row in after] == [(volunteer.name, "Committed")]


@pytest.fixture
def two_regions(redis_url, redis_client):
    """Two processes' regions on one Redis."""
    settings = load_settings({"cache.backend": "dogpile.cache.redis", "redis.url": redis_url})
    return build_region(settings), build_region(settings)


def test_a_commit_in_one_process_invalidates_the_other(two_regions, engine, db):
    reader, writer = two_regions
    factory = get_session_factory(engine)
    listen(factory, writer)
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert cached(reader, "projects", "count", compute) == 1
    assert cached(reader, "projects", "count", compute) == 1
    session = factory()
    session.add(Category(name="Elsewhere", short_name="elsewhere", description="x"))
    session.commit()
    session.close()

    assert cached(reader, "projects", "count", compute) == 2
