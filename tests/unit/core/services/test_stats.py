"""stats.answers_beyond_needed: the answers past their task's n_answers, in all and lately."""

from datetime import UTC, datetime, timedelta

from core.models import Task
from core.services import stats
from tests.factories import ProjectFactory, TaskFactory, TaskRunFactory

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    """A finish_time as the server writes it (core.db.utcnow)."""
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds")


OLD = stamp(NOW - timedelta(days=3))
RECENT = stamp(NOW - timedelta(hours=1))


def answers(task, *finish_times: str) -> None:
    """One answer per finish time, arriving (ids given) in that order."""
    for finish_time in finish_times:
        TaskRunFactory(task=task, finish_time=finish_time)


def beyond(db, project) -> tuple[int, int]:
    figures = stats.answers_beyond_needed(db, project.id, now=NOW)
    return figures["answers_beyond_needed"], figures["answers_beyond_needed_24h"]


def test_answers_past_n_answers_in_arrival_order(db):
    project = ProjectFactory()
    # Answers 3 and 4 are beyond n_answers=2: the third arrived long ago, the fourth lately.
    answers(TaskFactory(project=project, n_answers=2), OLD, OLD, OLD, RECENT)
    answers(TaskFactory(project=project, n_answers=2), RECENT, RECENT, RECENT)
    answers(TaskFactory(project=project, n_answers=2), OLD, RECENT)
    answers(TaskFactory(project=project, n_answers=2), RECENT)
    TaskFactory(project=project, n_answers=2)

    assert beyond(db, project) == (3, 2)


def test_exactly_n_answers_is_nothing_beyond_and_one_more_is_one(db):
    project = ProjectFactory()
    task = TaskFactory(project=project, n_answers=3)
    answers(task, RECENT, RECENT, RECENT)

    assert beyond(db, project) == (0, 0)

    answers(task, RECENT)

    assert beyond(db, project) == (1, 1)


def test_the_first_answers_by_arrival_are_the_needed_ones(db):
    """Arrival is the answer's id, not its finish_time: the late-numbered answer is beyond."""
    project = ProjectFactory()
    answers(TaskFactory(project=project, n_answers=1), RECENT, OLD)

    assert beyond(db, project) == (1, 0)


def test_a_raised_n_answers_counts_as_it_is_now(db):
    """A task whose n_answers was raised after its answers came counts by its current
    n_answers: answers beyond the old one but within the new one are not beyond."""
    project = ProjectFactory()
    task = TaskFactory(project=project, n_answers=2)
    answers(task, RECENT, RECENT, RECENT, RECENT)
    assert beyond(db, project) == (2, 2)

    db.get(Task, task.id).n_answers = 3
    db.commit()

    assert beyond(db, project) == (1, 1)


def test_the_last_24_hours_include_their_first_moment(db):
    project = ProjectFactory()
    day_ago = NOW - timedelta(hours=24)
    task = TaskFactory(project=project, n_answers=1)
    answers(task, OLD, stamp(day_ago - timedelta(microseconds=1)), stamp(day_ago))

    assert beyond(db, project) == (2, 1)


def test_other_projects_answers_never_count(db):
    project, other = ProjectFactory(), ProjectFactory()
    answers(TaskFactory(project=other, n_answers=1), RECENT, RECENT, RECENT)
    answers(TaskFactory(project=project, n_answers=1), RECENT)

    assert beyond(db, project) == (0, 0)
    assert beyond(db, other) == (2, 2)
