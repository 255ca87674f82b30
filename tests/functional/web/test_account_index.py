"""/account/, /account/page/<n>: contributors, pagination, top users and the update feed."""

from core.cache import bump_all
from core.services.activity import time_ago
from tests.factories import BlogpostFactory, ProjectFactory, TaskRunFactory
from tests.functional.web.conftest import JSON, make_user, sign_in


def answers(user, count, project=None):
    project = project or ProjectFactory()
    for _ in range(count):
        TaskRunFactory(user=user, task__project=project)


def test_index_json_keys_and_contributors_only(app, db):
    volunteer = make_user(name="ada", fullname="Ada Lovelace", info={"container": "c", "x": 1})
    make_user(name="idle")
    answers(volunteer, 2)

    body = app.get("/account/", headers=JSON).json

    assert set(body) == {
        "accounts",
        "pagination",
        "top_users",
        "update_feed",
        "total",
        "template",
        "title",
    }
    assert (body["template"], body["title"]) == ("account/index.html", "Community")
    # Only accounts with answers are listed; `total` counts every account (the project owner
    # made by the factory included).
    assert [account["name"] for account in body["accounts"]] == ["ada"]
    assert body["total"] == 3
    assert body["accounts"][0] == {
        "created": volunteer.created,
        "fullname": "Ada Lovelace",
        "info": {"container": "c"},
        "locale": volunteer.locale,
        "name": "ada",
        "rank": None,
        "registered_ago": "just now",
        "score": None,
        "task_runs": 2,
    }


def test_index_never_shows_secrets(app, db):
    volunteer = make_user()
    answers(volunteer, 1)

    text = app.get("/account/", headers=JSON).text + app.get("/account/").text

    assert volunteer.api_key not in text
    assert volunteer.email_addr not in text
    assert "passwd_hash" not in text and "$argon2" not in text


def test_index_pagination_24_per_page_newest_first(app, db):
    project = ProjectFactory()
    volunteers = [make_user() for _ in range(26)]
    for volunteer in volunteers:
        answers(volunteer, 1, project)

    first = app.get("/account/", headers=JSON).json
    second = app.get("/account/page/2", headers=JSON).json

    assert first["pagination"] == {
        "page": 1,
        "per_page": 24,
        "total": 26,
        "next": True,
        "prev": False,
    }
    assert second["pagination"] == {
        "page": 2,
        "per_page": 24,
        "total": 26,
        "next": False,
        "prev": True,
    }
    assert first["accounts"][0]["name"] == volunteers[-1].name
    assert [a["name"] for a in second["accounts"]] == [v.name for v in volunteers[1::-1]]


def test_index_page_out_of_range_is_404(app, db):
    answers(make_user(), 1)

    assert app.get("/account/page/2", headers=JSON, status=404).json["code"] == 404
    app.get("/account/page/0", status=404)


def test_top_users_ranked_by_answers_with_the_signed_in_user(app, db):
    project = ProjectFactory()
    best, second = make_user(fullname="Best One"), make_user()
    answers(best, 3, project)
    answers(second, 1, project)
    restricted = make_user(restrict=True)
    answers(restricted, 5, project)
    others = [make_user() for _ in range(20)]
    caller = make_user()
    sign_in(app, caller)

    top = app.get("/account/", headers=JSON).json["top_users"]

    assert [(row["name"], row["rank"], row["score"]) for row in top[:2]] == [
        (best.name, 1, 3),
        (second.name, 2, 1),
    ]
    assert restricted.name not in [row["name"] for row in top]
    # Only contributors are ranked (decision 27): the others and the caller, without answers,
    # have no row, and the caller's own row is not appended.
    assert len(top) == 2
    assert not {caller.name, *(other.name for other in others)} & {row["name"] for row in top}
    answers(caller, 1, project)
    bump_all(app.app.registry["cache"])
    mine = app.get("/account/", headers=JSON).json["top_users"]
    assert (mine[-1]["name"], mine[-1]["rank"], mine[-1]["score"]) == (caller.name, 3, 1)
    assert top[0]["registered_ago"] is None and top[0]["n_answers"] is None


def test_top_users_are_the_leaderboards_rows(app, db):
    """/account/ and /leaderboard/ build their rows by one rule (leaderboard.public_rows): a
    contributor in privacy mode shows neither full name, creation time nor info on either; both
    give the same keys."""
    hidden = make_user(fullname="Secret Person", privacy_mode=True, info={"avatar": "a.png"})
    answers(hidden, 2)

    community = app.get("/account/", headers=JSON).json["top_users"]
    board = app.get("/leaderboard/", headers=JSON).json["top_users"]

    assert community == board
    (row,) = community
    assert (row["name"], row["fullname"], row["created"], row["info"]) == (
        hidden.name,
        hidden.name,
        None,
        {},
    )


def test_top_users_repeat_the_callers_row_as_pybossa(app, db):
    """behavior.md 9.7: the caller's row is appended even when in the top list; the page
    shows it once."""
    caller = make_user()
    answers(caller, 1)
    sign_in(app, caller)

    top = app.get("/account/", headers=JSON).json["top_users"]
    page = app.get("/account/")

    assert [row["name"] for row in top] == [caller.name, caller.name]
    assert page.text.count('class="table-active"') == 1


def test_update_feed_shows_public_actions_only(app, db):
    owner = make_user(name="owner")
    published = ProjectFactory(owner=owner, name="Birds", short_name="birds")
    draft = ProjectFactory(owner=owner, name="Secret", short_name="secret", published=False)
    volunteer = make_user(name="vol", fullname="Vol Unteer")
    TaskRunFactory(user=volunteer, task__project=published)
    TaskRunFactory(user=volunteer, task__project=draft)
    TaskRunFactory(user=None, user_ip="10.1.2.3", task__project=published)
    BlogpostFactory(project=published, title="News", published=True)

    feed = app.get("/account/", headers=JSON).json["update_feed"]

    kinds = {entry["action_updated"] for entry in feed}
    assert kinds == {"User", "Project", "UserContribution", "Blog"}
    assert all(entry.get("short_name") != "secret" for entry in feed)
    contributions = [e for e in feed if e["action_updated"] == "UserContribution"]
    assert {(e["name"], e["short_name"]) for e in contributions} == {
        ("vol", "birds"),
        (None, "birds"),
    }
    assert "10.1.2.3" not in str(feed)
    assert feed == sorted(feed, key=lambda entry: entry["updated"], reverse=True)


def test_index_in_html(app, db):
    volunteer = make_user(fullname="Grace <b>Hopper</b>")
    answers(volunteer, 1)

    page = app.get("/account/")

    assert page.content_type == "text/html"
    assert "<h1>Community</h1>" in page.text
    assert "Grace &lt;b&gt;Hopper&lt;/b&gt;" in page.text
    assert "Top volunteers" in page.text and "Latest activity" in page.text


def test_time_ago_words():
    from datetime import datetime

    now = datetime(2024, 1, 10, 12, 0, 0)

    assert time_ago("2024-01-10T11:59:30", now) == "just now"
    assert time_ago("2024-01-10T10:00:00", now) == "2 hours ago"
    assert time_ago("2024-01-09T12:00:00", now) == "1 day ago"
    assert time_ago("2022-01-01T00:00:00", now) == "2 years ago"
    assert time_ago("not a date", now) is None
