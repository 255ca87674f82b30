"""One change to a project: who, when, through which caller, old and new value."""

from sqlalchemy import Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Auditlog(Base):
    __tablename__ = "auditlog"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    project_short_name: Mapped[str] = mapped_column(Text, nullable=False)
    user_id: Mapped[int | None] = mapped_column(Integer)
    user_name: Mapped[str | None] = mapped_column(Text)
    created: Mapped[str] = mapped_column(Text, default=utcnow)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    caller: Mapped[str] = mapped_column(Text, nullable=False)
    attribute: Mapped[str] = mapped_column(Text, nullable=False)
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
