"""One webhook delivery: the payload sent to a project's webhook URL and how sending went."""

from sqlalchemy import Boolean, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, utcnow

# `status`: waiting for its first attempt, failed but due again, sent, or given up.
PENDING, RETRYING, DELIVERED, FAILED = "pending", "retrying", "delivered", "failed"


class WebhookDelivery(Base):
    __tablename__ = "webhook_delivery"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[str] = mapped_column(Text, default=utcnow)
    updated: Mapped[str] = mapped_column(Text, default=utcnow, onupdate=utcnow)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    event: Mapped[str] = mapped_column(Text, nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    # A re-send asked for by an owner (the URL then carries PYBOSSA's `rerun=True`).
    rerun: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer)
    # The start of the last response's body, enough to tell what the receiver said.
    response: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt: Mapped[str | None] = mapped_column(Text)
