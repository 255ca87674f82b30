"""Bulk changes of the owner's pages racing with answers on PostgreSQL (found while fixing the
attack on issue 18: /tasks/delete re-checked only the task row)."""

import threading
import time

import pytest
from sqlalchemy import func, select

from core.models import Project, Task, TaskRun
from tests import factories


def test_publishing_forgets_a_draft_answer_committed_while_it_waited(db, engine):
    """Publishing deleted the draft runs of its snapshot, then reset the task counts once the
    answer in flight released the task row: that answer's run stayed, its task counting 0."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises the two writers")
    from core.db import get_session_factory
    from core.services import answers
    from core.services import project as projects
    from core.services.task_run import SessionStore

    volunteer = factories.UserFactory()
    project = factories.ProjectFactory(published=False)
    task = factories.TaskFactory(project=project, n_answers=2)
    db.commit()
    project_id, task_id = project.id, task.id
    sessions = get_session_factory(engine)
    answering, publishing = sessions(), sessions()
    run = TaskRun(project_id=project_id, task_id=task_id, user_id=volunteer.id, info={"a": 1})
    held = answering.get(Task, task_id), answering.get(Project, project_id)
    answers.record_answer(SessionStore(answering, *held, run), "user_id")
    outcome = {}

    def publish():
        try:
            projects.publish(publishing, publishing.get(Project, project_id))
            publishing.commit()
        except Exception as error:
            publishing.rollback()
            outcome["error"] = repr(error)

    thread = threading.Thread(target=publish)
    thread.start()
    time.sleep(0.5)  # publishing now waits for the task row the answer locked
    answering.commit()
    thread.join(10)
    answering.close()
    publishing.close()

    db.rollback()
    db.expire_all()
    runs = db.scalar(select(func.count()).select_from(TaskRun).where(TaskRun.task_id == task_id))
    assert "error" not in outcome, outcome
    assert db.get(Task, task_id).n_task_runs == runs == 0
