"""Recording answers: the validation order of behavior.md 7.1, completion and results.

Domain code: knows nothing of HTTP; refusals are DomainErrors named as PYBOSSA names them.
"""

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from core.db import unique_violation, utcnow
from core.errors import DomainError
from core.models import Project, Result, Task, TaskRun
from core.services import answers, guard, scheduling, stats
from core.services.result import new_result_version
from core.services.task import rederive_state


@dataclass(frozen=True)
class Participant:
    """Who answers: a signed-in user, an external user of a partner app, or an IP pseudonym."""

    user_id: int | None
    user_ip: str
    external_uid: str | None = None
    redis: object = None

    @classmethod
    def of(cls, request, external_uid=None):
        user = request.user
        return cls(
            user_id=user.id if user is not None else None,
            user_ip=request.user_ip,
            external_uid=external_uid or request.GET.get("external_uid") or None,
            redis=request.registry.get("redis"),
        )

    @property
    def key(self) -> str:
        """The identity the guard and the schedulers know this participant by."""
        return answers.participant_key(self.user_id, self.external_uid, self.user_ip)


def submit(
    db,
    data: dict,
    participant: Participant,
    settings: dict,
    authorization: str | None = None,
    *,
    schedulers: dict,
) -> tuple[TaskRun, Result | None]:
    """Validate and store one answer; complete the task and version its result when due.

    `schedulers` are the enabled ones (registry["schedulers"]): the scheduler of the project
    the body names may gate answers (Scheduler.answers). Returns the run and, when this answer
    completed the task, its new result version.
    """
    gate = _gate_of(db, data, schedulers, settings)
    if gate is not None:
        key = _answering(data, participant).key
        named = db.get(Project, data["project_id"])
        if not gate.admits(db, participant.redis, named, data.get("task_id"), key, settings):
            raise DomainError("Forbidden", "You must request a task first!")
    task = db.get(Task, data.get("task_id")) if data.get("task_id") is not None else None
    if task is None:
        raise DomainError("Forbidden", "Invalid task_id")
    if not answers.in_project(task.project_id, data.get("project_id")):
        raise DomainError("Forbidden", "Invalid project_id")
    project = db.get(Project, task.project_id)
    # The hand-out taken is the external user's when ?external_uid= names one (the guard's
    # key, answers.known_by, whoever is signed in, as newtask handed it out): the answer is
    # theirs then, and needs their project token as a body's would.
    external_uid = data.get("external_uid") or participant.external_uid
    # An answer to a draft needs a hand-out, which only its owners get (decision 24).
    refusal = answers.admission(
        project,
        participant.user_id,
        readable=True,
        external_uid=external_uid,
        authorization=authorization,
        answering=True,
    )
    if refusal is not None and refusal.token_error is not None:
        raise DomainError("Forbidden", refusal.token_error.description)
    if external_uid and participant.external_uid != external_uid:
        participant = Participant(None, participant.user_ip, external_uid, participant.redis)
    handed_out = guard.take(db, participant.redis, participant.key, task.id)
    if handed_out is None:
        raise DomainError("Forbidden", "You must request a task first!")
    if refusal is answers.ANONYMOUS:
        raise DomainError("Unauthorized")

    run = TaskRun(
        project_id=task.project_id,
        task_id=task.id,
        created=handed_out,
        finish_time=utcnow(),
        info=data.get("info"),
        timeout=data.get("timeout"),
        calibration=data.get("calibration"),
        media_url=data.get("media_url"),
    )
    column, value = answers.author(participant.user_id, participant.user_ip, external_uid)
    setattr(run, column, value)
    store = SessionStore(db, task, project, run)
    answers.record_answer(store, column)
    result = store.result
    if gate is not None:
        gate.answered(
            db, participant.redis, project, task.id, participant.key, task.n_task_runs, settings
        )
    return run, result


def _gate_of(db, data: dict, schedulers: dict, settings):
    """The AnswerGate of the scheduler serving the project the body names, if it has one."""
    project_id = data.get("project_id")
    valid = isinstance(project_id, int) and not isinstance(project_id, bool)
    project = db.get(Project, project_id) if valid else None
    if project is None:
        return None
    return scheduling.choose_scheduler(schedulers, project, settings).answers


def _answering(data: dict, participant: "Participant") -> "Participant":
    """The answering volunteer: the body's external uid, when it names another one."""
    if data.get("external_uid") and participant.external_uid != data["external_uid"]:
        return Participant(None, participant.user_ip, data["external_uid"], participant.redis)
    return participant


class SessionStore:
    """The answer store of the application's path (answers.AnswerStore): each step a
    statement on the ORM session, the objects it holds kept as the database now has them."""

    def __init__(self, db, task: Task, project: Project, run: TaskRun):
        self.db, self.task, self.project, self.run = db, task, project, run
        self.counted = None  # (n_runs, n_answers, state): the task as counted
        self.result = None  # the new result version, when one was written

    def run_inserted(self, kind: str) -> None:
        self.kind = kind
        self.db.add(self.run)
        try:
            # One answer per volunteer per task is the database's rule (partial unique
            # indexes): no query first, no savepoint; a duplicate ends the request and its
            # transaction.
            self.db.flush()
        except IntegrityError as error:
            if unique_violation(error):
                raise DomainError("Forbidden", "You have already answered this task") from None
            # Its task was deleted while the answer was written: as for one that never was.
            raise DomainError("Forbidden", "Invalid task_id") from None
        run = self.run  # as flushed, its defaults given
        self.values = {
            "task_id": self.task.id,
            "project_id": self.project.id,
            "stats_of": self.project.id,
            "finish_time": run.finish_time,
            kind: getattr(run, kind),
        }

    def counted_on_task(self) -> None:
        # The row lock of this UPDATE orders concurrent answers to one task; RETURNING reads
        # the task as it is after them, so no second round trip refreshes it.
        self.counted = tuple(self.db.execute(answers.count_on_task(), self.values).one())
        for key, value in zip(("n_task_runs", "n_answers", "state"), self.counted, strict=True):
            set_committed_value(self.task, key, value)

    def project_touched(self) -> None:
        self.db.execute(answers.project_touched(), self.values)
        set_committed_value(self.project, "updated", self.run.finish_time)

    def counted_on_project(self, completed, new_volunteer) -> None:
        counted = stats.answer_counted(int(completed(*self.counted)), new_volunteer(self.kind))
        self.db.execute(counted, self.values)

    def task_completed(self, when) -> None:
        if when(*self.counted):
            self.db.execute(answers.task_completed(), self.values)
            set_committed_value(self.task, "state", answers.COMPLETED)

    def result_versioned(self, when) -> None:
        if when(*self.counted):
            self.result = new_result_version(self.db, self.task)


def forget(db, run: TaskRun) -> None:
    """Before a run is deleted: lower the counts and re-derive its task's state."""
    task = db.get(Task, run.task_id)
    db.execute(
        update(Task)
        .where(Task.id == task.id)
        .values(n_task_runs=Task.n_task_runs - 1)
        .execution_options(synchronize_session=False)
    )
    db.refresh(task)
    # The author's only answer in the project: they are a volunteer of it no more.
    column = answers.counted_as(run)
    values = {column: getattr(run, column), "stats_of": run.project_id, "task_id": run.task_id}
    alone = db.scalar(select(answers.new_volunteer(column)), values)
    stats.bump(db, run.project_id, n_task_runs=-1, n_volunteers=-alone)
    rederive_state(db, task)


# PYBOSSA's task_completed payload (core.services.answers).
completion_payload = answers.completion_payload
