"""Rate limits: fixed window per endpoint and per client, exactly `limit` requests (decision 8)."""

import time

import pytest

from tests.factories import ProjectFactory, UserFactory


@pytest.fixture
def limited(make_app):
    return make_app(**{"ratelimit.limit": "3"})


def test_headers_on_every_api_response(limited, db):
    first = limited.get("/api/project")
    missing = limited.get("/api/task/999", status=404)

    for response, remaining in ((first, "2"), (missing, "2")):
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Remaining"] == remaining
        assert int(response.headers["X-RateLimit-Reset"]) > time.time()


def test_exactly_limit_requests_succeed(limited, db):
    statuses = [limited.get("/api/project", expect_errors=True).status_int for _ in range(4)]
    refused = limited.get("/api/project", status=429)

    assert statuses == [200, 200, 200, 429]
    assert refused.json["exception_cls"] == "TooManyRequests"
    assert refused.json["status_code"] == 429
    assert refused.json["status"] == "failed"
    assert refused.json["target"] == "/api/project"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.content_type == "application/json"


def test_collection_and_item_are_separate_buckets(limited, db):
    project = ProjectFactory()
    for _ in range(3):
        limited.get("/api/project")

    limited.get("/api/project", status=429)
    item = limited.get(f"/api/project/{project.id}")

    assert item.headers["X-RateLimit-Remaining"] == "2"


def test_api_key_user_and_anonymous_ip_are_separate_clients(limited, db):
    user = UserFactory()
    for _ in range(3):
        limited.get("/api/project")

    limited.get("/api/project", status=429)
    as_user = limited.get("/api/project", headers={"Authorization": user.api_key})
    other_ip = limited.get("/api/project", extra_environ={"REMOTE_ADDR": "10.0.0.2"})

    assert as_user.headers["X-RateLimit-Remaining"] == "2"
    assert other_ip.headers["X-RateLimit-Remaining"] == "2"


def test_all_methods_share_the_endpoint_bucket(limited, db):
    user = UserFactory()
    headers = {"Authorization": user.api_key}

    limited.get("/api/category", headers=headers)
    limited.post_json("/api/category", {"name": "x"}, headers=headers, status=403)
    limited.get("/api/category", headers=headers)
    refused = limited.get("/api/category", headers=headers, status=429)

    assert refused.json["exception_cls"] == "TooManyRequests"
