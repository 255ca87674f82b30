"""One volunteer's answer to one task."""

from sqlalchemy import ForeignKey, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, utcnow

_USER = text("user_id IS NOT NULL")
_IP = text("user_id IS NULL AND external_uid IS NULL AND user_ip IS NOT NULL")
_EXTERNAL = text("external_uid IS NOT NULL")


class TaskRun(Base):
    __tablename__ = "task_run"
    __table_args__ = (
        # One answer per volunteer per task, enforced by the database itself.
        Index(
            "uq_task_run_task_user",
            "task_id",
            "user_id",
            unique=True,
            sqlite_where=_USER,
            postgresql_where=_USER,
        ),
        Index(
            "uq_task_run_task_ip",
            "task_id",
            "user_ip",
            unique=True,
            sqlite_where=_IP,
            postgresql_where=_IP,
        ),
        Index(
            "uq_task_run_task_external",
            "task_id",
            "external_uid",
            unique=True,
            sqlite_where=_EXTERNAL,
            postgresql_where=_EXTERNAL,
        ),
        # A volunteer's answered tasks in a project, from the index alone (alembic 0009).
        Index("ix_task_run_project_user_task", "project_id", "user_id", "task_id"),
        Index("ix_task_run_project_ip_task", "project_id", "user_ip", "task_id"),
        Index("ix_task_run_project_external_task", "project_id", "external_uid", "task_id"),
        Index("ix_task_run_task", "task_id"),
        Index("ix_task_run_project_id", "project_id", "id"),
        Index("ix_task_run_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[str] = mapped_column(Text, default=utcnow)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False
    )
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    user_ip: Mapped[str | None] = mapped_column(Text)
    finish_time: Mapped[str] = mapped_column(Text, default=utcnow)
    timeout: Mapped[int | None] = mapped_column(Integer)
    calibration: Mapped[int | None] = mapped_column(Integer)
    external_uid: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(Text)
    info: Mapped[object | None] = mapped_column(JSONType)
