"""Projects written for PYBOSSA run unchanged (issue 18, point 5): Markdown descriptions and
blog posts, #PYBOSSA_USER_LOCALE and Bootstrap's jQuery plugins in the frame, the tutorial on a
first visit, the results template."""

import pytest

from tests.factories import BlogpostFactory, ProjectFactory, ResultFactory, TaskFactory
from tests.functional.web.conftest import JSON, make_user, sign_in
from tests.functional.web.test_contribute import framed

HOSTILE = (
    "# Count the birds\n\n**Thanks** for helping. <script>alert('owner')</script>\n"
    "<img src=x onerror=alert(1)> [a link](https://example.org/) [bad](javascript:alert(1))\n"
)
PRESENTER = "<div id='presenter'>Task</div>"
TUTORIAL = "<div id='tutorial-modal' class='modal'>Welcome</div>"


def assert_markdown_rendered_safely(html: str):
    assert "<h1>Count the birds</h1>" in html
    assert "<strong>Thanks</strong>" in html
    assert '<a href="https://example.org/">a link</a>' in html
    # Raw HTML shown as text, as PYBOSSA's renderer escapes it; no javascript: link.
    assert "&lt;script&gt;alert('owner')&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert('owner')" not in html and "<img src=x" not in html
    assert 'href="javascript:' not in html


def test_long_description_is_markdown_rendered_safely(app, db):
    project = ProjectFactory(long_description=HOSTILE)

    assert_markdown_rendered_safely(app.get(f"/project/{project.short_name}/").text)


def test_blog_posts_are_markdown_rendered_safely(app, db):
    project = ProjectFactory()
    post = BlogpostFactory(project=project, body=HOSTILE)

    assert_markdown_rendered_safely(app.get(f"/project/{project.short_name}/blog").text)
    page = app.get(f"/project/{project.short_name}/{post.id}").text
    assert_markdown_rendered_safely(page)


def test_json_answers_keep_the_markdown_source(app, db):
    project = ProjectFactory(long_description=HOSTILE)

    body = app.get(f"/project/{project.short_name}/", headers=JSON).json
    assert body["project"]["long_description"] == HOSTILE


@pytest.fixture
def classic(db):
    project = ProjectFactory(
        owner=make_user(), info={"task_presenter": PRESENTER, "tutorial": TUTORIAL}
    )
    TaskFactory(project=project)
    return project


def test_the_frame_carries_the_volunteers_locale_and_nothing_else(app, classic):
    volunteer = make_user(locale="es")
    sign_in(app, volunteer)
    app.set_cookie(f"{classic.short_name}tutorial", "seen")

    frame = framed(app, app.get(f"/project/{classic.short_name}/newtask").text)

    assert '<div id="PYBOSSA_USER_LOCALE" hidden>es</div>' in frame
    assert frame.index("PYBOSSA_USER_LOCALE") < frame.index(PRESENTER)
    assert volunteer.name not in frame and volunteer.email_addr not in frame


def test_anonymous_volunteers_frame_says_their_browsers_language_else_english(app, classic):
    app.set_cookie(f"{classic.short_name}tutorial", "seen")
    page = app.get(f"/project/{classic.short_name}/newtask").text
    assert '<div id="PYBOSSA_USER_LOCALE" hidden>en</div>' in framed(app, page)

    page = app.get(
        f"/project/{classic.short_name}/newtask", headers={"Accept-Language": "fr"}
    ).text
    assert '<div id="PYBOSSA_USER_LOCALE" hidden>fr</div>' in framed(app, page)


def test_a_locale_not_offered_reads_as_english_in_the_frame(app, classic):
    page = app.get(f"/project/{classic.short_name}/tutorial").text
    frame_html = framed(app, page.replace("locale=en", "locale=%3Cb%3Exx"))
    assert '<div id="PYBOSSA_USER_LOCALE" hidden>en</div>' in frame_html


def test_bootstraps_jquery_plugins_are_defined_before_the_owners_html(app, classic):
    frame_html = framed(app, app.get(f"/project/{classic.short_name}/tutorial").text)

    order = [
        frame_html.index("/static/vendor/jquery/jquery.min.js"),
        frame_html.index("/static/vendor/bootstrap/js/bootstrap.bundle.min.js"),
        frame_html.index("/static/js/pybossa/classic.js"),
        frame_html.index(TUTORIAL),
    ]
    assert order == sorted(order)
    assert "jQueryInterface" in app.get("/static/js/pybossa/classic.js").text


def test_the_tutorial_is_shown_on_the_first_visit_then_the_presenter(app, classic):
    first = app.get(f"/project/{classic.short_name}/newtask")

    assert 'id="tutorial"' in first.text
    assert TUTORIAL in framed(app, first.text)
    cookies = " ".join(first.headers.getall("Set-Cookie"))
    assert f"{classic.short_name}tutorial=seen" in cookies

    second = app.get(f"/project/{classic.short_name}/newtask").text
    assert 'id="task-presenter"' in second
    assert PRESENTER in framed(app, second)


def test_the_first_visit_tutorial_answers_json_clients_with_its_template(app, classic):
    body = app.get(f"/project/{classic.short_name}/newtask", headers=JSON).json
    assert body["template"] == "contribute/tutorial.html"

    body = app.get(f"/project/{classic.short_name}/newtask", headers=JSON).json
    assert body["template"] == "contribute/presenter.html"


def test_without_a_tutorial_the_first_visit_shows_the_presenter(app, db):
    project = ProjectFactory(info={"task_presenter": PRESENTER})
    TaskFactory(project=project)

    response = app.get(f"/project/{project.short_name}/newtask")

    assert "tutorial=" not in " ".join(response.headers.getall("Set-Cookie"))
    assert PRESENTER in framed(app, response.text)


def test_results_page_shows_the_owners_results_template_once_a_result_holds_data(app, db):
    results = "<div id='owner-results'>Results</div>"
    project = ProjectFactory(info={"task_presenter": PRESENTER, "results": results})
    task = TaskFactory(project=project)
    ResultFactory(task=task, info={"answer": "Yes"})

    page = app.get(f"/project/{project.short_name}/results").text

    assert results in framed(app, page)
    assert "Yes" in page
