"""A volunteer's favourite task (`fav_user_ids` of a task is read from these rows)."""

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Favorite(Base):
    __tablename__ = "favorite"

    task_id: Mapped[int] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created: Mapped[str] = mapped_column(Text, default=utcnow)
