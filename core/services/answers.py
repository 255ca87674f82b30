"""Task delivery's rules, each stated once: who may ask and answer, whom a run is attributed
to, how a participant is known, when an answer completes its task, who counts as a new
volunteer, what a result version holds, what newtask and task_completed send, and the one
sequence that stores an answer (record_answer) and announces a completion.

Both delivery paths build on these functions: the application (core.api.newtask,
core.services.task_run, run on the ORM session) and the lean path (core.delivery, run on its
prepared-statement connection, which folds the statements into one PostgreSQL round trip).
The sequence runs over an AnswerStore, one per path: a store decides how its writes travel,
never what they are.
A rule that compares or counts works on Python values and on SQL columns alike, so a lean
statement is built from the same definition the application evaluates; the statements both
execute are built here once. Domain code: knows nothing of HTTP.
"""

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import String, Text, bindparam, case, cast, exists, func, literal, select, update
from sqlalchemy.sql import ColumnElement

from core.db import utcnow
from core.models import Project, Task, TaskRun
from core.services import project_token

COMPLETED = "completed"


# -- counting and completion -----------------------------------------------------------------


def reaches(n_runs, n_answers):
    """Whether a task with `n_runs` runs has its answers (ints, or SQL columns: a condition)."""
    return n_runs >= n_answers


def completes(n_runs, n_answers, state):
    """Whether the answer that brought its task to `n_runs` completes it: the task reaches its
    n_answers and was not completed before (PYBOSSA completes a task once, behavior.md 7.3)."""
    return reaches(n_runs, n_answers) & (state != COMPLETED)


def count_on_task():
    """UPDATE: one more run on the task :task_id, RETURNING its count, n_answers and state
    (the row lock orders concurrent answers to one task)."""
    return (
        update(Task)
        .where(Task.id == bindparam("task_id"))
        .values(n_task_runs=Task.n_task_runs + 1)
        .returning(Task.n_task_runs, Task.n_answers, Task.state)
        .execution_options(synchronize_session=False)
    )


def task_completed():
    """UPDATE: the task :task_id completed."""
    return (
        update(Task)
        .where(Task.id == bindparam("task_id"))
        .values(state=COMPLETED)
        .returning(Task.id)
        .execution_options(synchronize_session=False)
    )


def project_touched():
    """UPDATE: the project :project_id was answered at :finish_time (its `updated`)."""
    return (
        update(Project)
        .where(Project.id == bindparam("project_id"))
        .values(updated=bindparam("finish_time"))
        .returning(Project.id)
        .execution_options(synchronize_session=False)
    )


# -- recording an answer: the one sequence, over a store ------------------------------------


def versions(n_runs, n_answers, state):
    """Whether the answer that brought its task to `n_runs` writes a new result version: the
    task has its answers (its completion, and each answer after it: behavior.md 7.3)."""
    return reaches(n_runs, n_answers)


class AnswerStore(Protocol):
    """What recording an answer runs on (record_answer): the application's ORM session
    (core.services.task_run) or the lean path's prepared-statement connection (core.delivery:
    step by step on SQLite, folded into one PostgreSQL round trip). A store decides how its
    writes travel, nothing else: every decision reaches it as a function of the counted task,
    `decide(n_runs, n_answers, state)` (its runs with this answer, its n_answers, its state
    before this answer; Python values or SQL columns), to apply as it is.

    The statements are this module's (count_on_task, task_completed, project_touched) and
    stats.answer_counted / volunteer_counted / superseded_result_uncounted, result.
    result_superseded / runs_of_task, result_version; rows are
    locked in the order of the calls, which both paths keep so they never deadlock."""

    def run_inserted(self, kind: str) -> None:
        """The run written, attributed by its column `kind` (`author`)."""

    def counted_on_task(self) -> None:
        """One more run on the task (the task's row locked: it orders concurrent answers)."""

    def project_touched(self) -> None:
        """The project's `updated` set to the answer's finish time."""

    def counted_on_project(self, completed, new_volunteer) -> None:
        """The project's figures counted: `completed(...)` true adds a completed task;
        `new_volunteer(kind)` (SQL, built when the store builds its statement) is 1 when the
        author is new to the project."""

    def task_completed(self, when) -> None:
        """The task's state `completed`, when `when(...)` holds."""

    def result_versioned(self, when) -> None:
        """A new latest result listing every run of the task, when `when(...)` holds."""


def record_answer(store: AnswerStore, kind: str) -> None:
    """Store one answer, attributed by `kind` (`author`), with everything it changes, in the
    order both paths lock rows (task, project, project_stats, result): counted on its task,
    its project touched and counted, its task completed once (`completes`) and its result
    versioned (`versions`). The one sequence of both delivery paths."""
    store.run_inserted(kind)
    store.counted_on_task()
    store.project_touched()
    store.counted_on_project(completes, new_volunteer)
    store.task_completed(when=completes)
    store.result_versioned(when=versions)


# -- attribution and new volunteers ----------------------------------------------------------


def author(user_id, user_ip, external_uid=None) -> tuple[str, object]:
    """(the run's column naming its author, its value): the participant's column (`known_by`:
    the external user of a partner app, else the signed-in user, else the IP pseudonym);
    attribution is the server's (decision 4)."""
    given = {"user_id": user_id, "external_uid": external_uid, "user_ip": user_ip}
    column = known_by(user_id, external_uid, user_ip)
    return column, given[column]


# Who a participant is, for attribution (`author`), the guard and the schedulers
# (Participant.key, Volunteer.key, the schedulers' kind): the first of these it has (its column,
# the key's prefix, whether an empty text counts as none; an id is never text), else the last,
# always: the external user of a partner app (named only with the project's token, decision
# 10), the signed-in user, the IP pseudonym.
PARTICIPANT_KEYS = (
    ("external_uid", "external:", True),
    ("user_id", "user:", False),
    ("user_ip", "ip:", None),
)


def known_by(user_id, external_uid, user_ip) -> str:
    """The column a participant (Python values) is known by, as PARTICIPANT_KEYS says."""
    given = {"user_id": user_id, "external_uid": external_uid, "user_ip": user_ip}
    *firsts, (last, _prefix, _always) = PARTICIPANT_KEYS
    return next((name for name, _p, text in firsts if _given(given[name], text)), last)


def participant_key(user_id, external_uid, user_ip):
    """The participant's key by PARTICIPANT_KEYS: a str from values; from a run's columns,
    the same key in SQL (a CASE: `locked` reads its answerers so)."""
    given = {"user_id": user_id, "external_uid": external_uid, "user_ip": user_ip}
    prefixes = {name: prefix for name, prefix, _text in PARTICIPANT_KEYS}
    if not any(map(_is_sql, given.values())):
        column = known_by(user_id, external_uid, user_ip)
        return f"{prefixes[column]}{given[column]}"
    *firsts, (last, prefix, _always) = PARTICIPANT_KEYS
    return case(
        *(
            (_given(given[name], text), literal(first) + _as_text(given[name]))
            for name, first, text in firsts
        ),
        else_=literal(prefix) + func.coalesce(_as_text(given[last]), "None"),
    )


def _given(value, text: bool):
    """Whether a participant has this value: not None (NULL) and, `text`, not empty."""
    if _is_sql(value):
        return value.is_not(None) & (value != "") if text else value.is_not(None)
    return value is not None and not (text and value == "")


def _is_sql(value) -> bool:
    """Whether the value is SQL (a column, a mapped attribute), not a Python value."""
    if isinstance(value, PLAIN):
        return False
    return isinstance(value, ColumnElement) or hasattr(value, "__clause_element__")


PLAIN = (str, int, type(None))


def _as_text(value):
    """SQL: the value as text, as Python's f-string writes it (NULL: see its caller)."""
    return value if isinstance(value.type, String) else cast(value, Text)


# Who counts as one volunteer of a project, by the run's author column (`author`): signed-in
# users by account, a partner app's users by external id, the others by IP pseudonym. The live
# count (earlier_answer_in_project) and the recount (volunteers_in_project) both read this.
VOLUNTEER_KINDS = {
    "user_id": lambda: TaskRun.user_id.is_not(None),
    "external_uid": lambda: TaskRun.user_id.is_(None) & TaskRun.external_uid.is_not(None),
    "user_ip": lambda: TaskRun.user_id.is_(None) & TaskRun.external_uid.is_(None),
}


def counted_as(run) -> str:
    """The VOLUNTEER_KINDS column a stored run's author is counted by."""
    if run.user_id is not None:
        return "user_id"
    return "external_uid" if run.external_uid is not None else "user_ip"


def earlier_answer_in_project(column: str, project=None, who=None):
    """EXISTS: the author (:<column>, `column` from `author`; or `who`) answered another task
    than :task_id in the project :stats_of (or `project`), counted as VOLUNTEER_KINDS says."""
    who = bindparam(column) if who is None else who
    same = VOLUNTEER_KINDS[column]() & (getattr(TaskRun, column) == who)
    # One answer per volunteer per task: another task is another answer, and the run being
    # written (visible to the application after its flush, not to the lean statement) is out.
    return exists(
        select(TaskRun.id).where(
            TaskRun.project_id == (bindparam("stats_of") if project is None else project),
            same,
            TaskRun.task_id != bindparam("task_id"),
        )
    )


def volunteers_in_project(project_id) -> list:
    """The queries whose sum is the project's volunteers, as VOLUNTEER_KINDS counts them."""
    return [
        select(func.count(func.distinct(getattr(TaskRun, column)))).where(
            TaskRun.project_id == project_id, kind()
        )
        for column, kind in VOLUNTEER_KINDS.items()
    ]


def new_volunteer(column: str):
    """1 when the author has no earlier answer in the project, else 0 (SQL):
    stats.answer_counted adds it to n_volunteers."""
    return case((earlier_answer_in_project(column), 0), else_=1)


# -- result versions -------------------------------------------------------------------------


def result_version(project_id, task_id, task_run_ids, created=None) -> dict:
    """The columns of a task's new latest result (values or bind parameters): it lists the
    task's runs; each answer from completion on writes one (behavior.md 7.3)."""
    return {
        "project_id": project_id,
        "task_id": task_id,
        "created": utcnow() if created is None else created,
        "task_run_ids": task_run_ids,
        "last_version": True,
        "info": None,
    }


# -- admission -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why a caller may not ask for (or answer) a project's tasks: `unknown key`, `draft`,
    `anonymous` or `token` (with the project token's error)."""

    reason: str
    token_error: project_token.TokenError | None = None


UNKNOWN_KEY = Refusal("unknown key")
DRAFT = Refusal("draft")
ANONYMOUS = Refusal("anonymous")


def admission(
    project,
    user_id,
    *,
    readable: bool,
    external_uid=None,
    authorization: str | None = None,
    answering: bool = False,
    unknown_key: bool = False,
) -> Refusal | None:
    """None when the caller may ask for (or, `answering`, answer) the project's tasks, else
    the first refusal: an api key that names nobody; a project the caller may not read
    (`readable`: permissions.project_readable, decision 24); an anonymous caller of a project
    that refuses them (a partner app's external user is anonymous when asking, not when
    answering, as PYBOSSA); an external user without a valid project token (decision 10).
    An answering caller cannot be both anonymous and external: the last two never meet."""
    if unknown_key:
        return UNKNOWN_KEY
    if not readable:
        return DRAFT
    anonymous = user_id is None and not (answering and external_uid)
    if anonymous and not project.allow_anonymous_contributors:
        return ANONYMOUS
    if external_uid:
        try:
            project_token.verify(project, authorization)
        except project_token.TokenError as error:
            return Refusal("token", error)
    return None


def in_project(task_project_id, project_id) -> bool:
    """Whether the answer's task belongs to the project the answer names."""
    return project_id == task_project_id


# -- payloads --------------------------------------------------------------------------------


def newtask_payload(tasks: list) -> dict | list:
    """What newtask sends for the tasks handed out (each a dict of its columns): none `{}`,
    one the task itself, more a list."""
    if not tasks:
        return {}
    return tasks[0] if len(tasks) == 1 else tasks


def completion_payload(project, task, result) -> dict:
    """PYBOSSA's task_completed webhook payload."""
    return {
        "event": "task_completed",
        "project_short_name": project.short_name,
        "project_id": project.id,
        "task_id": task.id,
        "result_id": result.id,
        "fired_at": utcnow()[:19].replace("T", " "),
    }


# What the task_completed hook is given, by its arguments' names.
ANNOUNCED = ("project", "task", "result")


def announce_completion(hook, settings, named, publish=None, made=None) -> dict:
    """After the commit of an answer that wrote a result version: PYBOSSA's payload
    (completion_payload of `named`, the project, task and result or stand-ins with their ids
    and short name) given to `publish` (the streams, when on), then the task_completed hook
    (`hook`, pluggy's) with the objects its implementations name, each made by `made(name)`
    only when one names it. Both delivery paths announce so; returns the payload."""
    payload = completion_payload(*named)
    if publish is not None:
        publish(payload)
    implementations = hook.get_hookimpls()
    if implementations:
        wanted = {name for implementation in implementations for name in implementation.argnames}
        objects = {name: made(name) if name in wanted else None for name in ANNOUNCED}
        hook(**objects, payload=payload, settings=settings)
    return payload
