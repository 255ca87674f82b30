"""One webhook delivery of a project: payload, outcome and attempts."""

from sqlalchemy import ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, utcnow


class Webhook(Base):
    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[str] = mapped_column(Text, default=utcnow)
    updated: Mapped[str] = mapped_column(Text, default=utcnow, onupdate=utcnow)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    response: Mapped[str | None] = mapped_column(Text)
    response_status_code: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
