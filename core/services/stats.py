"""Per-project figures kept current in the same transaction as the change they count.

Domain code: knows nothing of HTTP. Increments are SQL expressions, so concurrent writers never
lose an update; overall_progress is derived from the two counts it depends on.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, bindparam, case, cast, exists, func, select, update

from core.models import ProjectStats, Result, Task, TaskRun, User
from core.services import answers


def bump(db, project_id: int, **deltas: int) -> None:
    """Add `deltas` (n_tasks=1, n_task_runs=-1, ...) to the project's counters."""
    db.execute(
        update(ProjectStats)
        .where(ProjectStats.project_id == project_id)
        .values(**_deltas(**deltas))
        .execution_options(synchronize_session=False)
    )


def answer_counted(completed, new_volunteer=None):
    """The UPDATE counting one answer, with bind parameters :stats_of (the project id) and
    :finish_time; `completed` (the answer completes its task) and `new_volunteer` are each 0, 1
    or an SQL expression of them (the lean path's, core.delivery). `new_volunteer` None: the
    volunteer is counted by volunteer_counted, a statement of its own."""
    values = _deltas(n_task_runs=1, n_completed_tasks=completed)
    if new_volunteer is not None:
        values.update(_deltas(n_volunteers=new_volunteer))
    return _counted(values | {"last_activity": bindparam("finish_time")})


def volunteer_counted(new_volunteer):
    """The UPDATE adding `new_volunteer` (SQL) to the n_volunteers of :stats_of. Run as a
    statement of its own after the answer's transaction has locked the project's rows, it reads
    every run committed before it (a statement's snapshot is taken before it waits for a lock:
    inside that statement, a first answer of the same volunteer committed meanwhile is unseen)."""
    return _counted(_deltas(n_volunteers=new_volunteer))


def _counted(values: dict):
    return (
        update(ProjectStats)
        .where(ProjectStats.project_id == bindparam("stats_of"))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _deltas(**deltas) -> dict:
    """SET values adding `deltas` to the counters, overall_progress derived from them."""
    values = {name: getattr(ProjectStats, name) + delta for name, delta in deltas.items()}
    if "n_tasks" in deltas or "n_completed_tasks" in deltas:
        n_tasks = ProjectStats.n_tasks + deltas.get("n_tasks", 0)
        n_completed = ProjectStats.n_completed_tasks + deltas.get("n_completed_tasks", 0)
        values["overall_progress"] = case((n_tasks > 0, (n_completed * 100) / n_tasks), else_=0)
    return values


# A result n_results counts: the latest version of its task's, with info (written by an owner
# or an aggregator).
COUNTED_RESULT = Result.last_version & Result.info.is_not(None)


def superseded_result_uncounted():
    """The UPDATE taking the latest result of the task :of_task out of the n_results of
    :stats_of when it is counted (COUNTED_RESULT): run just before it is superseded
    (result.result_superseded), under the answer's lock on the task."""
    counted = exists(
        select(Result.id).where(Result.task_id == bindparam("of_task"), COUNTED_RESULT)
    )
    return _counted(_deltas(n_results=-1)).where(counted)


def recompute(db, project_id: int) -> None:
    """Count everything again for one project (after bulk changes such as publish)."""
    n_tasks = db.scalar(select(func.count()).where(Task.project_id == project_id))
    n_completed = db.scalar(
        select(func.count()).where(Task.project_id == project_id, Task.state == "completed")
    )
    n_task_runs = db.scalar(select(func.count()).where(TaskRun.project_id == project_id))
    n_results = db.scalar(
        select(func.count()).where(Result.project_id == project_id, COUNTED_RESULT)
    )
    volunteers = sum(db.scalar(query) for query in answers.volunteers_in_project(project_id))
    last = db.scalar(select(func.max(TaskRun.finish_time)).where(TaskRun.project_id == project_id))
    db.execute(
        update(ProjectStats)
        .where(ProjectStats.project_id == project_id)
        .values(
            n_tasks=n_tasks,
            n_completed_tasks=n_completed,
            n_task_runs=n_task_runs,
            n_results=n_results,
            n_volunteers=volunteers,
            overall_progress=(n_completed * 100 // n_tasks) if n_tasks else 0,
            last_activity=last or "0",
        )
        .execution_options(synchronize_session=False)
    )


# --- Answers beyond n_answers (issue 24) ------------------------------------------------------

# The figures' names, in the stats page's JSON and in the project report.
BEYOND_NEEDED = ("answers_beyond_needed", "answers_beyond_needed_24h")


def answers_beyond_needed(db, project_id: int, now: datetime | None = None) -> dict:
    """How many of the project's answers went beyond their task's n_answers: in all, and those
    that arrived (finish_time) in the 24 hours before `now`.

    An answer is beyond n_answers when it is not among the first n_answers answers of its task,
    the task's answers taken in the order they arrived (their ids). The task's current
    n_answers counts: an answer beyond the old n_answers of a task whose n_answers was raised
    later is within it now.
    """
    now = now or datetime.now(UTC)
    since = (now - timedelta(hours=24)).replace(tzinfo=None).isoformat(timespec="microseconds")
    # Only tasks with more answers than n_answers can hold one beyond it: their server-kept
    # count (decision 7) spares numbering every answer of the project (1,000,000 runs: 1 s).
    over = (
        select(Task.id, Task.n_answers)
        .where(Task.project_id == project_id, Task.n_task_runs > Task.n_answers)
        .subquery("over")
    )
    position = func.row_number().over(partition_by=TaskRun.task_id, order_by=TaskRun.id)
    ranked = (
        select(TaskRun.finish_time, over.c.n_answers, position.label("position"))
        .join(over, over.c.id == TaskRun.task_id)
        .subquery("ranked")
    )
    # ISO text timestamps in one format (core.db.utcnow): text order is time order.
    recent = case((ranked.c.finish_time >= since, 1))
    total, last_day = db.execute(
        select(func.count(), func.count(recent)).where(ranked.c.position > ranked.c.n_answers)
    ).one()
    return dict(zip(BEYOND_NEEDED, (total, last_day), strict=True))


# --- Activity over a period, for the project's statistics page (behavior.md 11.1) -------------

PERIOD_DAYS = 14


def _seconds_between(db, start, end):
    """SQL for the seconds from `start` to `end`, two ISO timestamp text columns."""
    if db.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", cast(end, DateTime) - cast(start, DateTime))
    return (func.julianday(end) - func.julianday(start)) * 86400


def _day_ms(day: str) -> int:
    moment = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _series(counts: dict, keys: list) -> dict:
    """{all, anon, auth} value lists over `keys` from {(key, anonymous): n}."""
    anon = [counts.get((key, True), 0) for key in keys]
    auth = [counts.get((key, False), 0) for key in keys]
    return {"all": [a + b for a, b in zip(anon, auth, strict=True)], "anon": anon, "auth": auth}


def project_activity(db, project_id: int, now: datetime | None = None) -> dict:
    """Answers per hour of day and per day over the last PERIOD_DAYS, and who gave them.

    A handful of grouped queries, whatever the number of task runs. Anonymous volunteers are
    counted by (pseudonymised) IP and never named.
    """
    now = now or datetime.now(UTC)
    first_day = (now - timedelta(days=PERIOD_DAYS - 1)).date()
    since = first_day.isoformat()
    of_project = TaskRun.project_id == project_id
    anonymous = TaskRun.user_id.is_(None)
    recent = (of_project, TaskRun.finish_time >= since)

    hour = func.substr(TaskRun.finish_time, 12, 2)
    by_hour = {
        (int(key), bool(anon)): n
        for key, anon, n in db.execute(
            select(hour, anonymous, func.count()).where(*recent).group_by(hour, anonymous)
        )
    }
    day = func.substr(TaskRun.finish_time, 1, 10)
    by_day = {
        (key, bool(anon)): n
        for key, anon, n in db.execute(
            select(day, anonymous, func.count()).where(*recent).group_by(day, anonymous)
        )
    }
    days = [(first_day + timedelta(days=offset)).isoformat() for offset in range(PERIOD_DAYS)]
    hours = _series(by_hour, list(range(24)))
    dates = _series(by_day, days)

    runs = func.count().label("runs")
    auth_top = db.execute(
        select(User.id, User.name, User.fullname, runs)
        .join(TaskRun, TaskRun.user_id == User.id)
        .where(of_project)
        .group_by(User.id, User.name, User.fullname)
        .order_by(runs.desc(), User.id)
        .limit(5)
    ).all()
    anon_top = db.scalars(
        select(func.count())
        .where(of_project, anonymous, TaskRun.user_ip.is_not(None))
        .group_by(TaskRun.user_ip)
        .order_by(func.count().desc())
        .limit(5)
    ).all()
    totals = db.execute(
        select(
            func.count(func.distinct(TaskRun.user_id)),
            func.count(TaskRun.user_id),
            func.count(func.distinct(case((anonymous, TaskRun.user_ip)))),
            func.count(case((anonymous, TaskRun.id))),
            func.avg(_seconds_between(db, TaskRun.created, TaskRun.finish_time)),
        ).where(of_project)
    ).one()
    n_auth, auth_runs, n_anon, anon_runs, average = totals
    return {
        "period_days": PERIOD_DAYS,
        "hours": list(range(24)),
        "hours_stats": hours,
        "days": days,
        "days_ms": [_day_ms(key) for key in days],
        "dates_stats": dates,
        "n_auth": n_auth,
        "n_anon": n_anon,
        "auth_taskruns": auth_runs,
        "anon_taskruns": anon_runs,
        "auth_top5": [
            {"id": uid, "name": name, "fullname": fullname, "tasks": n}
            for uid, name, fullname, n in auth_top
        ],
        "anon_top5": [{"tasks": n} for n in anon_top],
        "average_time": round(float(average or 0), 2),
    }
