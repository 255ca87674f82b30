"""Owners see the waste (issue 24, point 2): the answers beyond n_answers on the stats page, its
JSON twin and the project report."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from core.services import stats
from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory
from tests.functional.web.conftest import JSON, make_user, sign_in

OLD = (datetime.now(UTC) - timedelta(days=3)).replace(tzinfo=None).isoformat()
REPORT = "projectreport/export"


def answers(task, *finish_times: str | None) -> None:
    """One answer per finish time (None: now, as the server writes it), in that order."""
    for finish_time in finish_times:
        if finish_time is None:
            TaskRunFactory(task=task)
        else:
            TaskRunFactory(task=task, finish_time=finish_time)


@pytest.fixture
def wasteful(app, db):
    """A published project of tasks needing 2 answers, some given 3 or 4: 4 answers beyond
    n_answers, 3 of them in the last 24 hours. The last task's n_answers was raised from 2 to 3
    through the API after its 4 answers came: it counts by its current n_answers (1 beyond,
    not 2)."""
    owner = make_user()
    project = ProjectFactory(owner=owner)
    answers(TaskFactory(project=project, n_answers=2), OLD, OLD, OLD, None)
    answers(TaskFactory(project=project, n_answers=2), None, None, None)
    answers(TaskFactory(project=project, n_answers=2), OLD, None)
    answers(TaskFactory(project=project, n_answers=2), None)
    raised = TaskFactory(project=project, n_answers=2)
    answers(raised, None, None, None, None)
    app.put_json(f"/api/task/{raised.id}?api_key={owner.api_key}", {"n_answers": 3})
    stats.recompute(db, project.id)
    db.commit()
    return project, owner


def page(project, name: str = "stats") -> str:
    return f"/project/{project.short_name}/{name}"


def test_the_stats_json_counts_the_answers_beyond_n_answers(app, wasteful):
    project, _ = wasteful

    body = app.get(page(project), headers=JSON).json

    assert (body["answers_beyond_needed"], body["answers_beyond_needed_24h"]) == (4, 3)
    # Every figure it had is still there.
    assert {"n_tasks", "n_task_runs", "avg_contrib_time", "projectStats", "userStats"} <= set(body)
    assert body["n_task_runs"] == 14


def test_the_stats_page_says_both_figures(app, wasteful):
    project, _ = wasteful

    html = app.get(page(project)).text

    assert (
        "Answers beyond what their tasks needed (n_answers): <strong>4</strong>, "
        "<strong>3</strong> of them in the last 24 hours."
    ) in html


def test_a_project_without_answers_shows_none_beyond(app, db):
    project = ProjectFactory()
    TaskFactory(project=project)

    body = app.get(page(project), headers=JSON).json

    assert body["template"] == "project_data/non_stats.html"
    assert (body["answers_beyond_needed"], body["answers_beyond_needed_24h"]) == (0, 0)


def test_the_figures_follow_new_answers_through_the_cache(app, wasteful, db):
    project, owner = wasteful
    app.get(page(project), headers=JSON)
    task = TaskFactory(project=project, n_answers=1)
    answers(task, None, None)
    # The factories write behind the application's back; its next write forgets the cache.
    app.put_json(f"/api/task/{task.id}?api_key={owner.api_key}", {"priority_0": 0.5})

    body = app.get(page(project), headers=JSON).json

    assert (body["answers_beyond_needed"], body["answers_beyond_needed_24h"]) == (5, 4)


def test_the_project_report_carries_the_figures(app, wasteful):
    project, owner = wasteful
    sign_in(app, owner)

    data = app.get(page(project, REPORT) + "?type=project&format=json").json
    sheet = app.get(page(project, REPORT) + "?type=project&format=csv").text

    assert (data["answers_beyond_needed"], data["answers_beyond_needed_24h"]) == (4, 3)
    (record,) = csv.DictReader(io.StringIO(sheet))
    assert (record["answers_beyond_needed"], record["answers_beyond_needed_24h"]) == ("4", "3")
    assert list(record)[-3:] == [
        "last_activity",
        "answers_beyond_needed",
        "answers_beyond_needed_24h",
    ]
