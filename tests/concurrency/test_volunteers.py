"""Proof that task delivery is correct under concurrency: gunicorn -w 4, PostgreSQL, Redis.

A crowd of volunteers (64 by default) answers one project of 40 tasks (n_answers 3) at once,
each volunteer looping newtask → taskrun until newtask answers `{}`, once per scheduler, then
again while a gunicorn worker is killed mid-run. Afterwards the database itself must show:
no task over n_answers under `locked`, no volunteer twice on a task, no acknowledged answer
lost, exactly one latest result per completed task listing its runs, and counters and states
that agree with the rows. Sizes: CROWDNEST_CONCURRENCY_VOLUNTEERS, CROWDNEST_CONCURRENCY_TASKS.
"""

import os
import threading
import time
from collections import Counter, defaultdict

import pytest
from sqlalchemy import select, text

from core.db import get_session_factory
from core.models import Category, Project, ProjectStats, Task, User
from tests.concurrency.crowd import Crowd

N_TASKS = int(os.environ.get("CROWDNEST_CONCURRENCY_TASKS", "40"))
# Without reservations every volunteer answers nearly every task before it shows as completed
# (depth-first hands the same task to the whole crowd), so the work grows as volunteers x tasks:
# `default` and `breadth_first` get a quarter of the tasks, `locked` all of them.
TASKS_BY_SCHEDULER = {
    "default": max(1, N_TASKS // 4),
    "breadth_first": max(1, N_TASKS // 4),
    "locked": N_TASKS,
}
N_ANSWERS = 3
# Every run is bounded: volunteers still busy after this many seconds give up (and fail it).
RUN_SECONDS = 90

pytestmark = pytest.mark.concurrency


def seed_project(
    engine, short_name: str, scheduler: str, n_tasks=None, n_answers=N_ANSWERS, prefs=None
) -> int:
    """A published project served by `scheduler`, with its tasks (TASKS_BY_SCHEDULER's count
    unless `n_tasks`) of `n_answers` answers; `prefs(n)`: the user_pref of the n-th task."""
    n_tasks = TASKS_BY_SCHEDULER[scheduler] if n_tasks is None else n_tasks
    session = get_session_factory(engine)()
    owner = session.scalars(select(User).where(User.name == "owner")).one()
    category = session.scalars(select(Category)).first()
    project = Project(
        name=short_name,
        short_name=short_name,
        description=f"Served by {scheduler}",
        published=True,
        owner_id=owner.id,
        category_id=category.id,
        info={"sched": scheduler, "task_presenter": "<div></div>"},
    )
    project.set_owners([owner.id])
    session.add(project)
    session.flush()
    session.add(ProjectStats(project_id=project.id, n_tasks=n_tasks))
    session.add_all(
        Task(
            project_id=project.id,
            n_answers=n_answers,
            info={"question": f"task {n}"},
            **({} if prefs is None else {"user_pref": prefs(n)}),
        )
        for n in range(n_tasks)
    )
    session.commit()
    project_id = project.id
    session.close()
    return project_id


class Killer(threading.Thread):
    """SIGKILLs one gunicorn worker once the crowd has `after` acknowledged answers."""

    def __init__(self, server, crowd: Crowd, after: int):
        super().__init__(daemon=True)
        self.server, self.crowd, self.after = server, crowd, after
        self.killed_pid = None
        self.acknowledged_before = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set() and time.monotonic() < self.crowd.deadline:
            if len(self.crowd.tally.acknowledged) >= self.after:
                self.acknowledged_before = list(self.crowd.tally.acknowledged)
                self.killed_pid = self.server.kill_worker()
                return
            time.sleep(0.005)


def contribute(server, volunteers, project_id, kill_after=None):
    """Let the crowd loose on the project (killing a worker on the way when asked)."""
    crowd = Crowd(server.port, project_id, volunteers, time.monotonic() + RUN_SECONDS)
    killer = Killer(server, crowd, kill_after) if kill_after is not None else None
    if killer:
        killer.start()
    began = time.monotonic()
    tally = crowd.run()
    elapsed = time.monotonic() - began
    if killer:
        killer.done.set()
        killer.join()
    return tally, killer, elapsed


def stored(engine, project_id):
    """Runs, tasks, results and stats of the project, read straight from the database."""
    with engine.connect() as connection:
        runs = connection.execute(
            text("SELECT id, task_id, user_id FROM task_run WHERE project_id = :p"),
            {"p": project_id},
        ).all()
        tasks = connection.execute(
            text("SELECT id, state, n_answers, n_task_runs FROM task WHERE project_id = :p"),
            {"p": project_id},
        ).all()
        results = connection.execute(
            text("SELECT task_id, task_run_ids, last_version FROM result WHERE project_id = :p"),
            {"p": project_id},
        ).all()
        stats = connection.execute(
            text("SELECT n_task_runs, n_completed_tasks FROM project_stats WHERE project_id = :p"),
            {"p": project_id},
        ).one()
    return runs, tasks, results, stats


def problems_of(engine, project_id, scheduler, tally, killed: bool) -> list[str]:
    """Every broken invariant, described; empty when the data is right."""
    runs, tasks, results, stats = stored(engine, project_id)
    found = []
    runs_of = defaultdict(list)
    for run in runs:
        runs_of[run.task_id].append(run.id)
    pairs = Counter((run.task_id, run.user_id) for run in runs)
    found += [f"user {u} answered task {t} {n} times" for (t, u), n in pairs.items() if n > 1]
    latest = defaultdict(list)
    for result in results:
        if result.last_version:
            latest[result.task_id].append(result)
    for task in tasks:
        count = len(runs_of[task.id])
        if scheduler == "locked" and count > task.n_answers:
            found.append(f"task {task.id} has {count} runs, n_answers {task.n_answers}")
        if task.n_task_runs != count:
            found.append(f"task {task.id}: n_task_runs {task.n_task_runs}, real count {count}")
        if (task.state == "completed") != (count >= task.n_answers):
            found.append(f"task {task.id} is {task.state} with {count}/{task.n_answers} runs")
        if count >= task.n_answers:
            if len(latest[task.id]) != 1:
                found.append(f"task {task.id} has {len(latest[task.id])} latest results")
            elif sorted(latest[task.id][0].task_run_ids) != sorted(runs_of[task.id]):
                found.append(
                    f"task {task.id}: latest result lists {latest[task.id][0].task_run_ids}, "
                    f"runs are {sorted(runs_of[task.id])}"
                )
        elif latest[task.id]:
            found.append(f"task {task.id} has a result with only {count} runs")

    stored_runs = {run.id: (run.task_id, run.user_id) for run in runs}
    acknowledged = {run_id: (task_id, user_id) for run_id, task_id, user_id in tally.acknowledged}
    if len(acknowledged) != len(tally.acknowledged):
        found.append("the same run id was acknowledged twice")
    for run_id, owner in acknowledged.items():
        if run_id not in stored_runs:
            found.append(f"acknowledged run {run_id} {owner} is lost")
        elif stored_runs[run_id] != owner:
            found.append(f"run {run_id} acknowledged as {owner}, stored as {stored_runs[run_id]}")
    # A stored run never acknowledged must be an answer whose response a kill swallowed.
    unconfirmed = set(tally.unconfirmed)
    for run_id, owner in stored_runs.items():
        if run_id not in acknowledged and owner not in unconfirmed:
            found.append(f"run {run_id} {owner} stored but never acknowledged")
    if not killed and unconfirmed:
        found.append(f"{len(unconfirmed)} answers unconfirmed without any worker killed")

    completed = sum(task.state == "completed" for task in tasks)
    if stats.n_task_runs != len(runs) or stats.n_completed_tasks != completed:
        found.append(
            f"project_stats says {stats.n_task_runs} runs, {stats.n_completed_tasks} completed; "
            f"the rows say {len(runs)} and {completed}"
        )
    if tally.unexpected:
        found.append(f"unexpected responses: {tally.unexpected[:5]}")
    if tally.gave_up:
        found.append(f"{tally.gave_up} volunteers stopped before the project ran out of tasks")
    if not killed and completed != len(tasks):
        found.append(f"only {completed} of {len(tasks)} tasks completed")
    return found


def summary(scheduler, tally, elapsed, engine, project_id, killer=None) -> str:
    runs, tasks, _, _ = stored(engine, project_id)
    completed = sum(task.state == "completed" for task in tasks)
    line = (
        f"{scheduler}: {len(tally.acknowledged)} answers acknowledged, {len(runs)} stored, "
        f"{completed}/{len(tasks)} tasks completed in {elapsed:.1f} s; "
        f"{dict(tally.statuses)}; {tally.connection_errors} connection errors"
    )
    if killer is not None:
        line += (
            f"; worker {killer.killed_pid} killed after {len(killer.acknowledged_before)} "
            f"answers; {len(set(tally.unconfirmed))} unconfirmed, "
            f"{len(tally.retried_refusals)} retried answers refused"
        )
    return line


@pytest.mark.parametrize("scheduler", ["default", "breadth_first", "locked"])
def test_a_crowd_answers_one_project(scheduler, server, volunteers, concurrency_engine):
    project_id = seed_project(concurrency_engine, f"crowd-{scheduler}", scheduler)

    tally, _, elapsed = contribute(server, volunteers, project_id)

    print("\n" + summary(scheduler, tally, elapsed, concurrency_engine, project_id))
    problems = problems_of(concurrency_engine, project_id, scheduler, tally, killed=False)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("scheduler", ["default", "locked"])
def test_a_crowd_survives_a_killed_worker(scheduler, server, volunteers, concurrency_engine):
    server.wait_for_workers(30)
    project_id = seed_project(concurrency_engine, f"crowd-killed-{scheduler}", scheduler)

    tally, killer, elapsed = contribute(
        server, volunteers, project_id, kill_after=TASKS_BY_SCHEDULER[scheduler] * N_ANSWERS // 3
    )

    print("\n" + summary(scheduler, tally, elapsed, concurrency_engine, project_id, killer))
    assert killer.killed_pid is not None, "the crowd finished before a worker could be killed"
    stored_ids = {run.id for run in stored(concurrency_engine, project_id)[0]}
    lost = [run for run in killer.acknowledged_before if run[0] not in stored_ids]
    assert not lost, f"answers acknowledged before the kill are lost: {lost}"
    problems = problems_of(concurrency_engine, project_id, scheduler, tally, killed=True)
    assert not problems, "\n".join(problems)
