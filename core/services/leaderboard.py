"""The leaderboard: volunteers ranked by their number of answers (behavior.md 9.7).

Domain code: knows nothing of HTTP. Only contributors are ranked: accounts without answers are
left out (behavior.md decision 27; PYBOSSA ranks them too), restricted accounts as well. Ties go
to the older account, so a rank never flickers.
"""

from sqlalchemy import func, select

from core.cache import cached
from core.models import TaskRun, User

# The largest window a caller may ask for around their own rank.
MAX_WINDOW = 10


def _answers():
    """(user_id, score): the answers of each contributor, the accounts a board may rank."""
    return (
        select(TaskRun.user_id, func.count().label("score"))
        .where(TaskRun.user_id.is_not(None))
        .group_by(TaskRun.user_id)
        .subquery()
    )


def ranking(db) -> list[tuple[int, int]]:
    """(user id, score) for every ranked account, best first."""
    scores = _answers()
    rows = db.execute(
        select(User.id, scores.c.score)
        .join(scores, scores.c.user_id == User.id)
        .where(~User.restrict)
        .order_by(scores.c.score.desc(), User.id)
    )
    return [(user_id, int(points)) for user_id, points in rows]


def info_ranking(db, key: str) -> list[tuple[int, int]]:
    """(user id, score) for an alternative board (PYBOSSA's LEADERBOARDS): the score is the
    integer `info[key]` of each unrestricted contributor that has one, best first. Accounts
    write their own `info`: only those who answered are ranked, as on the main board."""
    scored = []
    contributors = _answers()
    accounts = select(User.id, User.info).join(contributors, contributors.c.user_id == User.id)
    for user_id, info in db.execute(accounts.where(~User.restrict)):
        value = info.get(key) if isinstance(info, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            scored.append((user_id, value))
    return sorted(scored, key=lambda row: (-row[1], row[0]))


def cached_ranking(db, region, board: str | None = None) -> list[tuple[int, int]]:
    """The ranking by answers, or by `info[board]` for an alternative board."""
    if board is None:
        return cached(region, "leaderboard", "ranking", lambda: ranking(db))
    return cached(region, "leaderboard", f"ranking:info:{board}", lambda: info_ranking(db, board))


def rank_and_score(db, region, user_id: int) -> tuple[int | None, int]:
    """(rank, score) of one account from the cached board; rank is None when it is not ranked
    (restricted accounts, accounts without answers), its score then counted directly."""
    for position, (ranked_id, score) in enumerate(cached_ranking(db, region), start=1):
        if ranked_id == user_id:
            return position, score
    return None, db.scalar(select(func.count()).where(TaskRun.user_id == user_id)) or 0


def public_rows(db, positions: list[tuple[int, int, int]], settings) -> list[dict]:
    """Leaderboard rows for (rank, user id, score) triples, their users read in one query."""
    ids = {user_id for _, user_id, _ in positions}
    users = {user.id: user for user in db.scalars(select(User).where(User.id.in_(ids)))}
    allowed = {"avatar", "container", "extra", "avatar_url"} | set(
        settings["user.info_public_fields"]
    )
    rows = []
    for rank, user_id, score in positions:
        user = users.get(user_id)
        if user is None:
            continue
        hidden = user.privacy_mode
        info = user.info if isinstance(user.info, dict) else {}
        rows.append(
            {
                "created": None if hidden else user.created,
                "fullname": user.name if hidden else user.fullname,
                "info": {} if hidden else {k: v for k, v in info.items() if k in allowed},
                # Null as on PYBOSSA's board (behavior.md 9.7): only rank and score mean anything.
                "locale": None,
                "n_answers": None,
                "name": user.name,
                "rank": rank,
                "registered_ago": None,
                "score": score,
            }
        )
    return rows


def top_users(db, region, settings, limit: int, board: str | None = None) -> list[dict]:
    """The first `limit` rows of the board (cached until an answer or an account changes)."""

    def build():
        ranked = cached_ranking(db, region, board)[:limit]
        positions = [(rank, user_id, score) for rank, (user_id, score) in enumerate(ranked, 1)]
        return public_rows(db, positions, settings)

    suffix = "" if board is None else f":info:{board}"
    return cached(region, "leaderboard", f"top:{limit}{suffix}", build)


def around(
    db, region, settings, user_id: int, window: int, board: str | None = None
) -> list[dict]:
    """The caller's row, with `window` (at most MAX_WINDOW) neighbours on each side."""
    window = max(0, min(window, MAX_WINDOW))
    ranked = cached_ranking(db, region, board)
    index = next((i for i, (ranked_id, _) in enumerate(ranked) if ranked_id == user_id), None)
    if index is None:
        return []
    start = max(0, index - window)
    positions = [
        (rank, ranked_id, score)
        for rank, (ranked_id, score) in enumerate(ranked[start : index + window + 1], start + 1)
    ]
    return public_rows(db, positions, settings)
