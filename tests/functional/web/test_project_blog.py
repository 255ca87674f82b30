"""A project's blog: everyone reads the published posts; owners write, edit and delete."""

import pytest
from sqlalchemy import select

from core.models import Blogpost, ProjectStats
from tests.factories import BlogpostFactory, ProjectFactory
from tests.functional.web.conftest import JSON, csrf_token

WRITERS = ["owner", "coowner", "admin"]


@pytest.fixture
def blog(project_roles, db):
    """The roles' project, published, with one published post and one draft."""
    project, roles = project_roles
    project.published = True
    db.commit()
    public = BlogpostFactory(project=project, title="<b>News</b>", published=True)
    draft = BlogpostFactory(project=project, title="Secret plans", published=False)
    return project, roles, public, draft


def fresh_posts(db, project) -> list[Blogpost]:
    db.rollback()
    db.expire_all()
    return db.scalars(select(Blogpost).where(Blogpost.project_id == project.id)).all()


@pytest.mark.parametrize(
    ("role", "titles"),
    [
        ("anonymous", ["<b>News</b>"]),
        ("volunteer", ["<b>News</b>"]),
        ("owner", ["<b>News</b>", "Secret plans"]),
        ("coowner", ["<b>News</b>", "Secret plans"]),
        ("admin", ["<b>News</b>", "Secret plans"]),
    ],
)
def test_the_list_shows_drafts_only_to_owners(signed_in, blog, role, titles):
    project, roles, _, _ = blog
    app = signed_in(roles[role])

    body = app.get(f"/project/{project.short_name}/blog", headers=JSON).json

    assert sorted(post["title"] for post in body["blogposts"]) == sorted(titles)
    assert {"project", "owner", "n_tasks", "pro_features"} <= set(body)
    assert body["template"] == "projects/blog.html"


def test_the_list_in_html_escapes_titles(app, blog):
    project, _, _, _ = blog

    page = app.get(f"/project/{project.short_name}/blog")

    assert "&lt;b&gt;News&lt;/b&gt;" in page.text
    assert "Secret plans" not in page.text


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 404), ("volunteer", 404), ("owner", 200)]
)
def test_one_post_and_the_draft_rule(signed_in, blog, role, status):
    project, roles, public, draft = blog
    app = signed_in(roles[role])

    shown = app.get(f"/project/{project.short_name}/{public.id}", headers=JSON).json
    hidden = app.get(f"/project/{project.short_name}/{draft.id}", headers=JSON, status=status)

    assert shown["blogpost"]["title"] == "<b>News</b>"
    assert shown["template"] == "projects/blog_post.html"
    if status == 200:
        assert hidden.json["blogpost"]["title"] == "Secret plans"
    else:
        assert hidden.json["code"] == 404


def test_a_post_of_another_project_is_404(app, blog, db):
    _, _, public, _ = blog
    other = ProjectFactory()

    app.get(f"/project/{other.short_name}/{public.id}", headers=JSON, status=404)


@pytest.mark.parametrize("role", WRITERS)
def test_owners_write_a_post(signed_in, blog, db, role):
    project, roles, _, _ = blog
    app = signed_in(roles[role])
    url = f"/project/{project.short_name}/new-blogpost"
    form = app.get(url, headers=JSON).json["form"]

    body = app.post_json(
        url,
        {"title": "Hello", "body": "We started", "published": True},
        headers={"X-CSRFToken": form["csrf"]},
    ).json

    assert set(form) == {"id", "title", "body", "published", "csrf", "errors"}
    assert body == {
        "next": f"/project/{project.short_name}/blog",
        "flash": "Blog post created!",
        "status": "success",
    }
    post = next(p for p in fresh_posts(db, project) if p.title == "Hello")
    assert (post.user_id, post.published) == (roles[role].id, True)
    figures = db.scalars(select(ProjectStats).where(ProjectStats.project_id == project.id)).one()
    assert figures.n_blogposts == 1


@pytest.mark.parametrize(("role", "status"), [("anonymous", 302), ("volunteer", 403)])
def test_others_cannot_write_edit_or_delete(signed_in, blog, db, role, status):
    project, roles, public, _ = blog
    app = signed_in(roles[role])
    token = csrf_token(app, "/account/signin" if role == "anonymous" else "/project/new")
    headers = {"X-CSRFToken": token}
    sn = project.short_name

    app.get(f"/project/{sn}/new-blogpost", headers=JSON, status=status)
    app.post_json(
        f"/project/{sn}/new-blogpost", {"title": "x", "body": "y"}, headers=headers, status=status
    )
    app.post_json(
        f"/project/{sn}/{public.id}/update",
        {"title": "x", "body": "y"},
        headers=headers,
        status=status,
    )
    app.post_json(f"/project/{sn}/{public.id}/delete", {}, headers=headers, status=status)

    assert sorted(p.title for p in fresh_posts(db, project)) == ["<b>News</b>", "Secret plans"]


def test_bad_input_shows_errors_and_saves_nothing(signed_in, blog, db):
    project, roles, _, _ = blog
    app = signed_in(roles["owner"])
    url = f"/project/{project.short_name}/new-blogpost"
    token = csrf_token(app, url)

    body = app.post_json(url, {"title": "", "body": ""}, headers={"X-CSRFToken": token}).json

    assert set(body["form"]["errors"]) == {"title", "body"}
    assert body["status"] == "error"
    assert len(fresh_posts(db, project)) == 2


def test_writing_needs_the_csrf_token(signed_in, blog, db):
    project, roles, _, _ = blog
    app = signed_in(roles["owner"])

    app.post_json(
        f"/project/{project.short_name}/new-blogpost", {"title": "x", "body": "y"}, status=400
    )

    assert len(fresh_posts(db, project)) == 2


def test_edit_a_post_in_html(signed_in, blog, db):
    project, roles, _, draft = blog
    app = signed_in(roles["coowner"])
    form = app.get(f"/project/{project.short_name}/{draft.id}/update").forms["blogpost-form"]
    form["title"] = "Public plans"
    form["published"] = True

    form.submit(status=302)

    saved = next(p for p in fresh_posts(db, project) if p.id == draft.id)
    assert (saved.title, saved.published) == ("Public plans", True)


def test_delete_a_post(signed_in, blog, db):
    project, roles, public, _ = blog
    app = signed_in(roles["admin"])
    page = app.get(f"/project/{project.short_name}/{public.id}")

    response = page.forms["delete-post-form"].submit(status=302)

    assert response.location.endswith(f"/project/{project.short_name}/blog")
    assert [p.title for p in fresh_posts(db, project)] == ["Secret plans"]


def test_a_draft_project_blog_is_for_owners(signed_in, project_roles):
    project, roles = project_roles

    signed_in(roles["volunteer"]).get(
        f"/project/{project.short_name}/blog", headers=JSON, status=403
    )
