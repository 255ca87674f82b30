"""Presenter isolation (issue 17 point 2, decision 15): owner-written HTML runs in a sandboxed
frame whose document holds nothing of the volunteer's session."""

import html as markup
import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.factories import ProjectFactory, TaskFactory
from tests.functional.web.conftest import JSON, csrf_token, make_user, sign_in

PRESENTER = '<div id="owner-presenter"><script>pybossa.run("x");</script></div>'


def frame_src(page: str) -> str:
    return markup.unescape(re.search(r'<iframe id="presenter-frame"[^>]* src="([^"]+)"', page)[1])


def iframe_tag(page: str) -> str:
    return re.search(r'<iframe id="presenter-frame"[^>]*>', page)[0]


def csp(response) -> dict[str, str]:
    """The Content-Security-Policy as {directive: sources}."""
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


@pytest.fixture
def project(db, app):
    info = {"task_presenter": PRESENTER, "tutorial": "<p id='tutorial'>Read me</p>"}
    project = ProjectFactory(owner=make_user(), info=info)
    # The tutorial has been seen: the presenter pages show the presenter, not the tutorial.
    app.set_cookie(f"{project.short_name}tutorial", "seen")
    return project


def test_the_presenter_runs_only_in_a_sandboxed_frame_without_same_origin(app, project):
    page = app.get(f"/project/{project.short_name}/newtask").text

    tag = iframe_tag(page)
    sandbox = re.search(r'sandbox="([^"]*)"', tag)[1].split()
    assert "allow-scripts" in sandbox
    assert "allow-same-origin" not in sandbox
    assert PRESENTER not in page
    assert PRESENTER in app.get(frame_src(page)).text


def test_the_frame_document_carries_nothing_of_the_session(app, project, db):
    volunteer = make_user(fullname="Vera Volunteer")
    sign_in(app, volunteer)
    token = csrf_token(app, "/account/profile")
    page = app.get(f"/project/{project.short_name}/newtask").text

    # The frame's navigation carries the session cookie, as WebTest's request does here.
    frame = app.get(frame_src(page))

    assert token in page
    for secret in (token, volunteer.api_key, volunteer.email_addr, volunteer.name, "csrf"):
        assert secret not in frame.text
    assert "Set-Cookie" not in frame.headers


def test_the_frame_has_a_strict_content_security_policy(app, project):
    page = app.get(f"/project/{project.short_name}/newtask").text

    frame = app.get(frame_src(page))
    policy = csp(frame)

    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "http://localhost"
    assert policy["connect-src"] == "http://localhost"
    assert policy["form-action"] == "'none'"
    assert policy["base-uri"] == "http://localhost"
    assert frame.headers["X-Content-Type-Options"] == "nosniff"
    assert frame.headers["Referrer-Policy"] == "no-referrer"
    assert frame.headers["Cache-Control"] == "no-store"
    assert frame.content_type == "text/html"


@pytest.mark.parametrize(
    "tamper",
    [
        {"sig": "0" * 64},
        {"origin": "https://evil.example"},
        {"expires": str(int(time.time()) + 10**6)},
        {"expires": "nope"},
        {"sig": None},
    ],
)
def test_a_frame_address_not_signed_by_the_page_is_refused(app, project, tamper):
    src = frame_src(app.get(f"/project/{project.short_name}/newtask").text)
    parts = urlsplit(src)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(tamper)
    query = {key: value for key, value in query.items() if value is not None}

    refused = app.get(f"{parts.path}?{urlencode(query)}", status=403)

    assert PRESENTER not in refused.text
    assert refused.content_type == "text/plain"
    assert "frame-ancestors 'none'" in refused.headers["Content-Security-Policy"]


def test_an_expired_frame_address_is_refused(app, project, monkeypatch):
    src = frame_src(app.get(f"/project/{project.short_name}/newtask").text)
    later = time.time() + 2 * 3600
    monkeypatch.setattr("core.web.presenter_frame.time.time", lambda: later)

    assert PRESENTER not in app.get(src, status=403).text


def test_a_signed_address_opens_only_its_own_kind_and_task(app, project):
    task, other = TaskFactory(project=project), TaskFactory(project=project)
    src = frame_src(app.get(f"/project/{project.short_name}/task/{task.id}").text)
    query = urlsplit(src).query

    app.get(f"/presenter/{project.short_name}/task/{task.id}?{query}", status=200)
    app.get(f"/presenter/{project.short_name}/task/{other.id}?{query}", status=403)
    app.get(f"/presenter/{project.short_name}/newtask?{query}", status=403)
    app.get(f"/presenter/{project.short_name}/tutorial?{query}", status=403)


def test_a_draft_presenter_is_not_readable_without_the_owners_page(make_app, db):
    owner = make_user()
    project = ProjectFactory(owner=owner, published=False, info={"task_presenter": PRESENTER})
    owners_app, strangers_app = make_app(), make_app()
    sign_in(owners_app, owner)
    src = frame_src(owners_app.get(f"/project/{project.short_name}/newtask").text)

    # The signed address is the only key: a stranger's session is not asked for.
    assert PRESENTER in strangers_app.get(src).text
    assert PRESENTER not in strangers_app.get(urlsplit(src).path, status=403).text
    assert PRESENTER not in strangers_app.get(f"/project/{project.short_name}/newtask").text


def test_unknown_project_or_a_task_of_another_project_is_404(app, project):
    other = TaskFactory()

    assert app.get("/presenter/nothere/newtask", status=404).content_type == "text/plain"
    app.get(f"/presenter/{project.short_name}/task/{other.id}", status=404)
    app.get(f"/presenter/{project.short_name}/task/99999999999999999999", status=404)
    app.get(f"/project/{project.short_name}/task/99999999999999999999", status=404)


def test_the_tutorial_runs_in_its_frame_too(app, project):
    page = app.get(f"/project/{project.short_name}/tutorial").text

    assert "Read me" not in page
    assert "allow-same-origin" not in iframe_tag(page)
    assert 'data-operations="task userprogress"' in iframe_tag(page)
    assert "<p id='tutorial'>Read me</p>" in app.get(frame_src(page)).text


def test_the_presenter_page_lists_the_operations_its_frame_may_ask_for(app, project):
    tag = iframe_tag(app.get(f"/project/{project.short_name}/newtask").text)

    assert 'data-operations="newtask task taskrun userprogress"' in tag
    assert f'data-project-id="{project.id}"' in tag


def test_presenter_origin_serves_the_frame_from_that_origin(make_app, db):
    app = make_app(presenter__origin="https://presenter.example.org/")
    project = ProjectFactory(info={"task_presenter": PRESENTER})
    src = frame_src(app.get(f"/project/{project.short_name}/newtask").text)
    parts = urlsplit(src)

    frame = app.get(
        f"{parts.path}?{parts.query}", extra_environ={"HTTP_HOST": "presenter.example.org"}
    )
    policy = csp(frame)

    assert src.startswith(f"https://presenter.example.org/presenter/{project.short_name}/newtask?")
    assert policy["frame-ancestors"] == "http://localhost"
    assert policy["connect-src"] == "http://localhost http://presenter.example.org"
    assert '<base href="http://localhost/" target="_top">' in frame.text
    assert PRESENTER in frame.text


def test_public_api_reads_answer_an_opaque_origin_without_credentials(app, project):
    response = app.get("/api/project", headers={"Origin": "null"})
    preflight = app.options(
        "/api/user/1",
        headers={"Origin": "null", "Access-Control-Request-Method": "PUT"},
        status="*",
    )

    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Access-Control-Allow-Credentials" not in preflight.headers


def test_the_page_json_twin_names_the_frame(app, project):
    body = app.get(f"/project/{project.short_name}/newtask", headers=JSON).json

    assert body["frame"]["url"].startswith(f"/presenter/{project.short_name}/newtask?")
    assert "allow-same-origin" not in body["frame"]["sandbox"]


def test_the_results_template_runs_in_its_frame(app, db):
    template = "<div id='owner-results'><script>1</script></div>"
    project = ProjectFactory(info={"results": template})

    page = app.get(f"/project/{project.short_name}/results").text

    assert template not in page
    assert 'data-operations=""' in iframe_tag(page)
    assert template in app.get(frame_src(page)).text
