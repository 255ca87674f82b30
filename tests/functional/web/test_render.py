"""The page machinery: JSON or HTML, malformed bodies, CSRF, error pages."""

from tests.functional.web.conftest import JSON, csrf_token

BAD_REQUEST = "The browser (or proxy) sent a request that this server could not understand."


def test_malformed_json_body_is_a_400_in_the_documented_shape(app, db):
    token = csrf_token(app)

    response = app.post(
        "/account/signin",
        "{not json",
        headers={**JSON, "X-CSRFToken": token},
        status=400,
    )

    assert response.json == {"code": 400, "description": BAD_REQUEST, "template": "400.html"}


def test_json_body_that_is_not_an_object_is_a_400(app, db):
    response = app.post("/account/signin", "[1, 2]", headers=JSON, status=400)

    assert response.json["description"] == BAD_REQUEST


def test_post_without_csrf_token_is_refused_in_json(app, db):
    response = app.post_json("/account/signin", {"email": "a@b.org", "password": "x"}, status=400)

    assert response.json == {
        "code": 400,
        "description": "CSRF validation failed.",
        "template": "400.html",
    }


def test_post_with_wrong_csrf_token_is_refused_in_html(app, db):
    app.get("/account/signin")

    response = app.post(
        "/account/signin", {"csrf_token": "forged", "email": "a@b.org"}, status=400
    )

    assert response.content_type == "text/html"
    assert "CSRF validation failed." in response.text
    assert "<h1>400" in response.text


def test_csrf_token_accepted_in_json_body(app, db):
    token = csrf_token(app)

    response = app.post_json("/account/signin", {"csrf_token": token, "email": "", "password": ""})

    assert response.json["form"]["errors"]["email"] == ["The e-mail is required"]


def test_response_format_query_selects_json(app, db):
    body = app.get("/account/signin?response_format=json").json

    assert body["template"] == "account/signin.html"
    assert body["title"] == "Sign in"


def test_html_page_is_escaped_and_uses_the_layout(app, db):
    response = app.get("/account/signin?next=/x%22%3E%3Cscript%3E")

    assert response.content_type == "text/html"
    assert "<script>" not in response.text
    assert '<main id="content"' in response.text


def test_unknown_page_is_the_404_template_in_html_and_json(app, db):
    html = app.get("/no/such/page", status=404)
    json_body = app.get("/no/such/page", headers=JSON, status=404).json

    assert "<h1>404" in html.text
    assert json_body["code"] == 404
    assert json_body["template"] == "404.html"


def test_api_errors_keep_the_api_shape(app, db):
    response = app.get("/api/project/999999", status=404)

    assert response.json["exception_cls"] == "NotFound"
