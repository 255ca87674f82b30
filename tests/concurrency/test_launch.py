"""Proof that a project launch wastes no answers (issue 24, decision 25): gunicorn -w 2,
PostgreSQL, Redis.

A crowd (20, then 64 volunteers) answers a fresh project of 200 tasks (n_answers 2) at once,
each volunteer looping newtask -> taskrun until newtask answers `{}`, once per scheduler that
counts pending hand-outs. Afterwards: no volunteer got `{}` while a task they had not answered
was open; every task completed; test_volunteers' invariants (no answer twice, none lost, one
latest result per completed task, counters that agree with the rows); and answers beyond
n_answers, split at the last phase (`Waste`): at most 1 % of the 400 needed handed out before
it, at most LAST_PHASE_EXTRA a volunteer in it, where a volunteer with nothing else left is
handed a task others hold rather than turned away. Then two volunteers in twenty take tasks
and never answer, on a server whose scheduler.pending_ttl is PENDING_TTL seconds
(CROWDNEST_CONCURRENCY_PENDING_TTL): their tasks come back when the hand-outs lapse, and
others complete them before the last phase.

`{}` is checked twice, both ways sound (a failure is a real one, never a race of the check):
- live, right after the `{}`: an open task the volunteer has not answered, read after the
  server's read, was open and unanswered by them then too (answers only accumulate, a task
  never reopens, and the volunteer sends nothing while waiting);
- afterwards: a task the volunteer never answered whose answers finished (finish_time, taken
  before the answer's commit) by the moment the `{}` arrived number fewer than n_answers had
  fewer committed answers when the server read it: it was open.
"""

import os
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import get_session_factory, utcnow
from core.models import User
from tests.concurrency.conftest import server_overrides
from tests.concurrency.crowd import Crowd, Gunicorn, Volunteer, request
from tests.concurrency.test_volunteers import problems_of, seed_project, stored

pytestmark = pytest.mark.concurrency

N_TASKS = 200
N_ANSWERS = 2
# Answers beyond n_answers allowed before the last phase (Waste): 1 % of those needed.
WASTE_PERCENT = 1
# ... and in it, per volunteer of the crowd: each one asking while every task left is held by
# others is handed one of them, about once (0.25 to 0.9 a volunteer measured); twice leaves
# room for a last phase that lasts two rounds of asking, and still bounds the waste by the
# crowd, not by the project (without pending hand-outs: 15 extra answers a volunteer).
LAST_PHASE_EXTRA = 2
SCHEDULERS = ("default", "depth_first", "breadth_first", "incremental", "user_pref")
CROWDS = (20, 64)
WORKERS = 2
# The abandon test's server: hand-outs live this many seconds (scheduler.pending_ttl).
PENDING_TTL = int(os.environ.get("CROWDNEST_CONCURRENCY_PENDING_TTL", "2"))
# One volunteer in ten takes tasks and never answers; the abandon test's project is larger,
# so that its run outlasts a few pending_ttl (400 tasks took 3 s: no abandoned task had lapsed
# long enough before the last phase to be checked).
ABANDONERS = 2
ABANDON_TASKS = 4 * N_TASKS
# Seconds beyond pending_ttl a lapsed task may take to be handed out and answered again.
LAPSE_MARGIN = 1.0
# Every run is bounded: volunteers still busy after this many seconds give up (and fail it).
RUN_SECONDS = 90
# Tasks and volunteers each have one language (user_pref): every volunteer has matching tasks.
LANGUAGES = ("en", "fr")


def iso_before(moment: str, seconds: float) -> str:
    """The UTC ISO time `seconds` before `moment` (utcnow's format)."""
    if not moment:
        return moment
    earlier = datetime.fromisoformat(moment) - timedelta(seconds=seconds)
    return earlier.isoformat(timespec="microseconds")


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def launch_volunteers(concurrency_engine, volunteers) -> list[Volunteer]:
    """max(CROWDS) + ABANDONERS volunteers of their own, each with one language of two (after
    `volunteers`, which adds the projects' owner and category)."""
    session = get_session_factory(concurrency_engine)()
    users = [
        User(
            email_addr=f"launch{n}@example.org",
            name=f"launch{n}",
            fullname=f"Launch volunteer {n}",
            user_pref={"languages": [LANGUAGES[n % len(LANGUAGES)]]},
        )
        for n in range(max(CROWDS) + ABANDONERS)
    ]
    session.add_all(users)
    session.commit()
    crowd = [Volunteer(user.id, user.api_key) for user in users]
    session.close()
    return crowd


def _gunicorn(concurrency_db_url, tmp_path_factory, name: str, **settings):
    log_path = str(tmp_path_factory.mktemp(name) / "gunicorn.log")
    gunicorn = Gunicorn(server_overrides(concurrency_db_url, **settings), WORKERS, log_path)
    gunicorn.start()
    return gunicorn


@pytest.fixture(scope="module")
def launch_server(concurrency_db_url, concurrency_redis, tmp_path_factory):
    """gunicorn -w 2 with the default scheduler.pending_ttl."""
    gunicorn = _gunicorn(concurrency_db_url, tmp_path_factory, "gunicorn-launch")
    yield gunicorn
    gunicorn.stop()


@pytest.fixture(scope="module")
def abandon_server(concurrency_db_url, concurrency_redis, tmp_path_factory):
    """gunicorn -w 2 whose hand-outs live PENDING_TTL seconds."""
    gunicorn = _gunicorn(
        concurrency_db_url,
        tmp_path_factory,
        "gunicorn-abandon",
        CROWDNEST_SCHEDULER_PENDING_TTL=str(PENDING_TTL),
    )
    yield gunicorn
    gunicorn.stop()


def seed_launch(engine, short_name: str, scheduler: str, n_tasks: int = N_TASKS) -> int:
    """A published project served by `scheduler`: n_tasks tasks of N_ANSWERS, one language
    each (alternating, as the volunteers')."""
    return seed_project(
        engine,
        short_name,
        scheduler,
        n_tasks,
        N_ANSWERS,
        prefs=lambda n: {"languages": [LANGUAGES[n % len(LANGUAGES)]]},
    )


# Open tasks of the project (fewer committed answers than n_answers) the volunteer has not
# answered, as the database holds them now.
OPEN_UNANSWERED = """
SELECT task.id FROM task
WHERE task.project_id = %(project)s
  AND (SELECT count(*) FROM task_run WHERE task_run.task_id = task.id) < task.n_answers
  AND NOT EXISTS (
    SELECT 1 FROM task_run WHERE task_run.task_id = task.id AND task_run.user_id = %(user)s)
ORDER BY task.id LIMIT 5
"""


class LaunchCrowd(Crowd):
    """The crowd, each `{}` recorded with the moment it arrived and checked live."""

    def __init__(self, port, project_id, volunteers, deadline, db_url: str):
        super().__init__(port, project_id, volunteers, deadline)
        self.db_url = db_url
        # (user id, UTC ISO time the `{}` arrived, open unanswered tasks read right after).
        self.empties: list[tuple[int, str, list[int]]] = []
        self.done = threading.Event()

    def finished(self, volunteer: Volunteer) -> None:
        arrived = utcnow()
        with psycopg.connect(libpq(self.db_url), autocommit=True) as connection:
            rows = connection.execute(
                OPEN_UNANSWERED, {"project": self.project_id, "user": volunteer.user_id}
            ).fetchall()
        with self._lock:
            self.empties.append((volunteer.user_id, arrived, [task_id for (task_id,) in rows]))
        super().finished(volunteer)


class Abandoner(threading.Thread):
    """Takes a task every `every` seconds and never answers it, until `stop` is set."""

    def __init__(self, port: int, project_id: int, volunteer: Volunteer, every: float, stop):
        super().__init__(daemon=True)
        self.port, self.project_id, self.volunteer = port, project_id, volunteer
        self.every, self.stop = every, stop
        # (UTC ISO time, task id) of each task handed to them.
        self.taken: list[tuple[str, int]] = []
        self.errors: list = []

    def run(self):
        path = f"/api/project/{self.project_id}/newtask?api_key={self.volunteer.api_key}"
        while not self.stop.is_set():
            try:
                status, task = request(self.port, "GET", path)
            except OSError as error:
                self.errors.append(repr(error))
            else:
                if status != 200 or not isinstance(task, dict):
                    self.errors.append((status, task))
                elif task:
                    self.taken.append((utcnow(), task["id"]))
            self.stop.wait(self.every)


def run_launch(server, db_url, volunteers, project_id, abandoners=()):
    """The crowd (and the abandoners beside it) on the project; (crowd, abandoners, seconds)."""
    crowd = LaunchCrowd(
        server.port, project_id, volunteers, time.monotonic() + RUN_SECONDS, db_url
    )
    leavers = [
        Abandoner(server.port, project_id, volunteer, PENDING_TTL * 1.5, crowd.done)
        for volunteer in abandoners
    ]
    for leaver in leavers:
        leaver.start()
    began = time.monotonic()
    crowd.run()
    elapsed = time.monotonic() - began
    crowd.done.set()
    for leaver in leavers:
        leaver.join(30)
    return crowd, leavers, elapsed


def answers_of(engine, project_id) -> dict[int, list[tuple[str, str, int]]]:
    """{task id: [(finish_time, created: when it was handed out, user id)] of its answers, in
    finish order}."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT task_id, finish_time, created, user_id FROM task_run"
                " WHERE project_id = :p ORDER BY finish_time"
            ),
            {"p": project_id},
        ).all()
    found = defaultdict(list)
    for task_id, finished, handed_out, user_id in rows:
        found[task_id].append((finished, handed_out, user_id))
    return found


def empty_problems(engine, project_id, crowd: LaunchCrowd) -> list[str]:
    """Every `{}` given while a task the volunteer had not answered was open, both checks."""
    found = []
    answers = answers_of(engine, project_id)
    task_ids = [task.id for task in stored(engine, project_id)[1]]
    for user_id, arrived, open_now in crowd.empties:
        if open_now:
            found.append(f"user {user_id} got {{}} at {arrived}; open, unanswered: {open_now}")
            continue
        for task_id in task_ids:
            runs = answers.get(task_id, [])
            if any(user == user_id for _, _, user in runs):
                continue
            done_by_then = sum(finished <= arrived for finished, _, _ in runs)
            if done_by_then < N_ANSWERS:
                found.append(
                    f"user {user_id} got {{}} at {arrived} while task {task_id} had "
                    f"{done_by_then}/{N_ANSWERS} answers (finished: {runs})"
                )
                break
    return found


@dataclass
class Waste:
    """Answers beyond n_answers: an answer is extra when its task had its n_answers before it
    (in finish order). `ending` is when the last phase began, the moment the answers still
    needed fell to the crowd's size: from then on every task left may be held by others, and
    a volunteer with nothing else left is handed one of them (decision 25: nobody is turned
    away while a task they have not answered is open), so an answer given then may be extra
    whatever the scheduler does. Extras handed out before it are the ones counting pending
    hand-outs must prevent (`during`); those handed out after it, `last`."""

    stored: int
    needed: int
    during: int
    last: int
    ending: str
    pattern: str

    @property
    def extra(self) -> int:
        return self.during + self.last


def waste_of(engine, project_id, crowd: int) -> Waste:
    answers = answers_of(engine, project_id)
    needed = sorted(finished for runs in answers.values() for finished, _, _ in runs[:N_ANSWERS])
    extras = [(task_id, run) for task_id, runs in answers.items() for run in runs[N_ANSWERS:]]
    ending = needed[len(needed) - crowd - 1] if len(needed) > crowd else ""
    during = [(task_id, run) for task_id, run in extras if run[1] < ending]
    per_task = Counter(task_id for task_id, _ in extras)
    spread = dict(sorted(Counter(per_task.values()).items()))
    pattern = (
        f"{len(per_task)} tasks over (extra answers: tasks {spread}); "
        f"handed out before the last phase: {sorted(set(task for task, _ in during))}"
    )
    total = sum(len(runs) for runs in answers.values())
    return Waste(total, len(needed), len(during), len(extras) - len(during), ending, pattern)


def waste_problems(waste: Waste, crowd: int) -> list[str]:
    """The targets: at most 1 % of the answers needed beyond n_answers before the last phase,
    at most LAST_PHASE_EXTRA a volunteer in it."""
    found = []
    allowed = waste.needed * WASTE_PERCENT // 100
    if waste.during > allowed:
        found.append(
            f"{waste.during} answers beyond n_answers handed out before the last phase "
            f"(allowed {allowed}): {waste.pattern}"
        )
    if waste.last > LAST_PHASE_EXTRA * crowd:
        found.append(
            f"{waste.last} answers beyond n_answers handed out in the last phase, from "
            f"{waste.ending} (allowed {LAST_PHASE_EXTRA} a volunteer: "
            f"{LAST_PHASE_EXTRA * crowd}): {waste.pattern}"
        )
    return found


def summary(label, crowd, elapsed, waste: Waste) -> str:
    return (
        f"{label}: {waste.stored} answers for {waste.needed} needed, {waste.extra} beyond "
        f"n_answers ({100 * waste.extra / waste.needed:.1f} %): {waste.during} handed out "
        f"before the last phase, {waste.last} in it; {waste.pattern}; {elapsed:.1f} s; "
        f"{len(crowd.empties)} {{}} checked; {dict(crowd.tally.statuses)}; "
        f"{crowd.tally.connection_errors} connection errors"
    )


@pytest.mark.parametrize("size", CROWDS)
@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_a_launch_wastes_no_answers(
    scheduler, size, launch_server, launch_volunteers, concurrency_engine, concurrency_db_url
):
    project_id = seed_launch(concurrency_engine, f"launch-{scheduler}-{size}", scheduler)

    crowd, _, elapsed = run_launch(
        launch_server, concurrency_db_url, launch_volunteers[:size], project_id
    )

    waste = waste_of(concurrency_engine, project_id, size)
    print(f"\n{summary(f'{scheduler} x{size}', crowd, elapsed, waste)}")
    problems = problems_of(concurrency_engine, project_id, scheduler, crowd.tally, killed=False)
    problems += empty_problems(concurrency_engine, project_id, crowd)
    problems += waste_problems(waste, size)
    assert not problems, "\n".join(problems)


def test_abandoned_tasks_come_back(
    abandon_server, launch_volunteers, concurrency_engine, concurrency_db_url
):
    project_id = seed_launch(concurrency_engine, "launch-abandoned", "default", ABANDON_TASKS)
    size = CROWDS[0]
    answering, leaving = launch_volunteers[: size - ABANDONERS], launch_volunteers[-ABANDONERS:]

    crowd, leavers, elapsed = run_launch(
        abandon_server, concurrency_db_url, answering, project_id, leaving
    )

    waste = waste_of(concurrency_engine, project_id, size)
    taken = sorted(taking for leaver in leavers for taking in leaver.taken)
    label = f"default x{len(answering)} + {ABANDONERS} abandoning, pending_ttl {PENDING_TTL} s"
    print(f"\n{summary(label, crowd, elapsed, waste)}; abandoned (when, task): {taken}")
    problems = problems_of(concurrency_engine, project_id, "default", crowd.tally, killed=False)
    problems += empty_problems(concurrency_engine, project_id, crowd)
    problems += waste_problems(waste, size)
    problems += [f"abandoner: {error}" for leaver in leavers for error in leaver.errors[:3]]
    # A task abandoned long enough before the last phase came back when its hand-out lapsed:
    # others completed it before then (not as a last resort in the last phase).
    answers = answers_of(concurrency_engine, project_id)
    leaver_ids = {volunteer.user_id for volunteer in leaving}
    lapsed = [
        (when, task_id)
        for when, task_id in taken
        if when < iso_before(waste.ending, PENDING_TTL + LAPSE_MARGIN)
    ]
    if not lapsed:
        problems.append(f"no task was abandoned {PENDING_TTL} s before the last phase")
    for when, task_id in lapsed:
        others = [run for run in answers[task_id] if run[2] not in leaver_ids][:N_ANSWERS]
        if len(others) < N_ANSWERS or others[-1][1] >= waste.ending:
            problems.append(
                f"task {task_id} abandoned at {when} was not completed before the last phase "
                f"({waste.ending}): {answers[task_id]}"
            )
    assert not problems, "\n".join(problems)
