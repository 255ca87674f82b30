"""A unit of work handed to volunteers."""

from sqlalchemy import Float, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, utcnow


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_project_state_id", "project_id", "state", "id"),
        Index("ix_task_project_priority", "project_id", "priority_0", "id"),
        # Deep pages of a project's tasks in id order (alembic 0004).
        Index("ix_task_project_id", "project_id", "id"),
        # breadth_first: fewest answers first, without sorting every open task (alembic 0005).
        Index("ix_task_project_runs", "project_id", "n_task_runs", "id"),
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
