"""A versioned result of a completed task; one latest version per task."""

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, utcnow

_LATEST = text("last_version")


class Result(Base):
    __tablename__ = "result"
    __table_args__ = (
        Index(
            "uq_result_task_latest",
            "task_id",
            unique=True,
            sqlite_where=_LATEST,
            postgresql_where=_LATEST,
        ),
        Index("ix_result_project_latest", "project_id", "last_version"),
        # Every version of a task's results; also what deleting tasks checks the key against.
        Index("ix_result_task", "task_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[str] = mapped_column(Text, default=utcnow)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False
    )
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), nullable=False)
    task_run_ids: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    last_version: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    info: Mapped[object | None] = mapped_column(JSONType)
