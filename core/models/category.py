"""A category that groups projects."""

from sqlalchemy import Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, utcnow

# The category a fresh site starts with (alembic 0011), so that a project can be created at once.
DEFAULT_CATEGORY = {"name": "General", "short_name": "general", "description": "All projects"}


class Category(Base):
    __tablename__ = "category"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    short_name: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    created: Mapped[str] = mapped_column(Text, default=utcnow)
    info: Mapped[dict] = mapped_column(JSONType, default=dict)
