"""A task handed to a volunteer (the contributions guard) when Redis is not configured."""

from sqlalchemy import Float, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class TaskRequest(Base):
    __tablename__ = "task_request"

    task_id: Mapped[int] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    participant: Mapped[str] = mapped_column(Text, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    created: Mapped[str] = mapped_column(Text, nullable=False)
    expires: Mapped[float] = mapped_column(Float, nullable=False, index=True)
