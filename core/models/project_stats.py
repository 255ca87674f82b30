"""Per-project figures, refreshed when the data they count changes."""

from sqlalchemy import Float, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType


class ProjectStats(Base):
    __tablename__ = "project_stats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    n_tasks: Mapped[int] = mapped_column(Integer, default=0)
    n_task_runs: Mapped[int] = mapped_column(Integer, default=0)
    n_results: Mapped[int] = mapped_column(Integer, default=0)
    n_volunteers: Mapped[int] = mapped_column(Integer, default=0)
    n_completed_tasks: Mapped[int] = mapped_column(Integer, default=0)
    overall_progress: Mapped[int] = mapped_column(Integer, default=0)
    average_time: Mapped[float] = mapped_column(Float, default=0)
    n_blogposts: Mapped[int] = mapped_column(Integer, default=0)
    last_activity: Mapped[str] = mapped_column(Text, default="0")
    info: Mapped[dict] = mapped_column(JSONType, default=dict)
