"""A unit of work handed to volunteers."""

import hashlib
import json

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, utcnow

DIGEST_BYTES = 20


def info_text(info) -> str:
    """One canonical JSON text per `info` value, whatever its key order."""
    return json.dumps(info, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def text_digest(text: str) -> bytes:
    """The 20-byte SHA1 of an info_text()."""
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()


def digest_of(info) -> bytes | None:
    """The digest of info_text(info): equal infos, equal digests; None for no info."""
    return None if info is None else text_digest(info_text(info))


def _digest_on_insert(context) -> bytes | None:
    # Every INSERT that does not name info_digest itself, the ORM's and Core's alike.
    return digest_of(context.get_current_parameters().get("info"))


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_project_state_id", "project_id", "state", "id"),
        Index("ix_task_project_priority", "project_id", "priority_0", "id"),
        # Deep pages of a project's tasks in id order (alembic 0004).
        Index("ix_task_project_id", "project_id", "id"),
        # breadth_first: fewest answers first, without sorting every open task (alembic 0005).
        Index("ix_task_project_runs", "project_id", "n_task_runs", "id"),
        # depth_first's walk in id order past completed tasks, none of them in it (alembic 0009).
        Index(
            "ix_task_project_open",
            "project_id",
            "id",
            postgresql_where=text("state <> 'completed'"),
            sqlite_where=text("state <> 'completed'"),
        ),
        # The importer's duplicate check (alembic 0008): digest first, so that its lookups can
        # leave project_id out of the index condition (core/services/importer.py says why).
        Index("ix_task_info_digest_project", "info_digest", "project_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[str] = mapped_column(Text, default=utcnow)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False
    )
    state: Mapped[str] = mapped_column(Text, default="ongoing")
    quorum: Mapped[int] = mapped_column(Integer, default=0)
    calibration: Mapped[int] = mapped_column(Integer, default=0)
    priority_0: Mapped[float] = mapped_column(Float, default=0)
    info: Mapped[object | None] = mapped_column(JSONType)
    n_answers: Mapped[int] = mapped_column(Integer, default=30)
    user_pref: Mapped[dict | None] = mapped_column(JSONType)
    # Server-maintained count of task runs: task state is derived from it (decision 7).
    n_task_runs: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # Server-maintained digest_of(info), for the importer's duplicate check: set on insert by
    # the default, on ORM updates of info by the listener below. Writes that bypass both (an
    # UPDATE of info through Core, psql, COPY) must set it too.
    info_digest: Mapped[bytes | None] = mapped_column(
        LargeBinary(DIGEST_BYTES), default=_digest_on_insert
    )


# incremental's order (highest priority first, ties by id) read from an index, open tasks only
# (alembic 0014). Beside the class: a descending column needs the column itself.
Index(
    "ix_task_project_open_priority",
    Task.project_id,
    Task.priority_0.desc(),
    Task.id,
    postgresql_where=text("state <> 'completed'"),
    sqlite_where=text("state <> 'completed'"),
)


@event.listens_for(Task, "before_update")
def _digest_on_update(_mapper, _connection, task: Task) -> None:
    # Also catches flag_modified(task, "info") after an in-place change of the document.
    if inspect(task).attrs["info"].history.has_changes():
        task.info_digest = digest_of(task.info)
