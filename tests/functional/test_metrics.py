"""/metrics (core.metrics): off unless on, readable only by those allowed, counting requests,
newtask and answers by scheduler, and read-at-scrape figures."""

import re

import pytest

from core.redis import reset_breakers
from tests.factories import ProjectFactory, TaskFactory, UserFactory


def _value(text: str, name: str, **labels) -> float:
    """The sample `name{labels}` of an exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        found = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if found is None or found.group(1) != name:
            continue
        given = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2) or ""))
        if all(given.get(key) == value for key, value in labels.items()):
            return float(found.group(3))
    return 0.0


@pytest.fixture
def metered(make_app):
    return make_app(metrics__enabled="true")


def test_metrics_are_off_unless_switched_on(app):
    app.get("/metrics", status=404)


def test_only_listed_addresses_or_the_token_read_them(make_app):
    app = make_app(metrics__enabled="true", metrics__allow="10.9.0.0/16", metrics__token="s3cret")

    app.get("/metrics", status=404)  # 10.0.0.1 is not listed
    app.get("/metrics", headers={"Authorization": "Bearer wrong"}, status=404)
    assert app.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_int == 200
    listed = app.get("/metrics", extra_environ={"REMOTE_ADDR": "10.9.8.7"})
    assert listed.content_type.startswith("text/plain")


def test_requests_newtask_and_answers_are_counted(make_app, db):
    app = make_app(
        metrics__enabled="true",
        metrics__allow="10.0.0.1",
        plugins__schedulers="default breadth_first",
    )
    project = ProjectFactory(info={"task_presenter": "<p></p>", "sched": "breadth_first"})
    task = TaskFactory(project=project, n_answers=1)
    user = UserFactory()
    db.commit()
    before = app.get("/metrics").text

    app.get(f"/api/project/{project.id}/newtask?api_key={user.api_key}")
    body = {"project_id": project.id, "task_id": task.id, "info": {"a": 1}}
    app.post_json(f"/api/taskrun?api_key={user.api_key}", body)
    app.post_json(f"/api/taskrun?api_key={user.api_key}", body, status=403)  # answered already
    text = app.get("/metrics").text

    def grew(name, **labels):
        return _value(text, name, **labels) - _value(before, name, **labels)

    assert grew("crowdnest_requests_total", route="newtask", method="GET", status="200") == 1
    assert grew("crowdnest_newtask_seconds_count", scheduler="breadth_first") == 1
    assert grew("crowdnest_answers_posted_total", outcome="accepted") == 1
    assert grew("crowdnest_answers_posted_total", outcome="refused") == 1
    assert grew("crowdnest_answer_seconds_count", scheduler="breadth_first") == 1
    assert grew("crowdnest_answers_stored") == 1 and grew("crowdnest_tasks_completed") == 1
    assert "crowdnest_db_pool_checked_out" in text


def test_the_lean_paths_requests_are_counted_by_scheduler(make_app, redis_client, redis_url, db):
    app = make_app(metrics__enabled="true", metrics__allow="10.0.0.1", redis__url=redis_url)
    project = ProjectFactory(info={"task_presenter": "<p></p>"})
    task = TaskFactory(project=project)
    user = UserFactory()
    db.commit()
    before = app.get("/metrics").text

    app.get(f"/api/project/{project.id}/newtask?api_key={user.api_key}")
    body = {"project_id": project.id, "task_id": task.id, "info": {"a": 1}}
    app.post_json(f"/api/taskrun?api_key={user.api_key}", body)
    text = app.get("/metrics").text

    assert (
        _value(text, "crowdnest_newtask_seconds_count", scheduler="default")
        - _value(before, "crowdnest_newtask_seconds_count", scheduler="default")
        == 1
    )
    assert (
        _value(text, "crowdnest_answers_posted_total", outcome="accepted")
        - _value(before, "crowdnest_answers_posted_total", outcome="accepted")
        == 1
    )
    assert 'crowdnest_jobs_waiting{queue="default"}' in text


def test_redis_fallbacks_are_counted(make_app):
    app = make_app(
        metrics__enabled="true", metrics__allow="10.0.0.1", redis__url="redis://127.0.0.1:1/0"
    )
    before = _value(app.get("/metrics").text, "crowdnest_redis_fallbacks_total")
    reset_breakers()  # Redis tried again at the next call, which fails

    app.get("/api/project")

    assert _value(app.get("/metrics").text, "crowdnest_redis_fallbacks_total") > before


def test_the_dashboard_and_the_docs_name_only_metrics_that_exist(
    make_app, redis_client, redis_url
):
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    app = make_app(metrics__enabled="true", metrics__allow="10.0.0.1", redis__url=redis_url)
    app.get("/api/project/1/newtask", status=404)  # every per-request family has a sample
    text = app.get("/metrics").text
    families = set(re.findall(r"^# TYPE (\w+) ", text, re.MULTILINE))
    samples = set(re.findall(r"^(crowdnest_\w+)", text, re.MULTILINE))

    dashboard = json.loads((root / "docs" / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    named = set(re.findall(r"crowdnest_\w+", " ".join(exprs)))
    named |= set(re.findall(r"`(crowdnest_\w+)", (root / "docs" / "operations.md").read_text()))

    def family(name):
        return re.sub(r"_(bucket|count|sum|total|created)$", "", name)

    known = {family(name) for name in samples | families}
    assert named and {family(name) for name in named} <= known
