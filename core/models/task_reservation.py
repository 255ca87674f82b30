"""A task held for one volunteer by the `locked` scheduler when Redis is not configured."""

from sqlalchemy import Float, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class TaskReservation(Base):
    __tablename__ = "task_reservation"
    __table_args__ = (
        # "Which tasks does this volunteer hold in this project": asked on every hand-out.
        Index("ix_task_reservation_project_participant", "project_id", "participant"),
    )

    task_id: Mapped[int] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    participant: Mapped[str] = mapped_column(Text, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer, nullable=False)
    # Epoch seconds after which the reservation no longer holds the task.
    expires: Mapped[float] = mapped_column(Float, nullable=False, index=True)
