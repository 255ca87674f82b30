"""A crowdsourcing project and its owners (the primary owner plus co-owners)."""

import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, JSONType, utcnow


class ProjectOwner(Base):
    """One row per owner of a project; the primary owner has a row too."""

    __tablename__ = "project_owner"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Project(Base):
    __tablename__ = "project"
    __table_args__ = (Index("ix_project_published_featured", "published", "featured"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[str] = mapped_column(Text, default=utcnow)
    updated: Mapped[str] = mapped_column(Text, default=utcnow, onupdate=utcnow)
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    short_name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(255), nullable=False)
    long_description: Mapped[str | None] = mapped_column(Text)
    webhook: Mapped[str | None] = mapped_column(Text)
    allow_anonymous_contributors: Mapped[bool] = mapped_column(Boolean, default=True)
    published: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    featured: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    secret_key: Mapped[str] = mapped_column(Text, default=lambda: str(uuid.uuid4()))
    zip_download: Mapped[bool] = mapped_column(Boolean, default=True)
    contacted: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), nullable=False, index=True)
    info: Mapped[dict] = mapped_column(JSONType, default=dict)

    owner_rows: Mapped[list[ProjectOwner]] = relationship(
        cascade="all, delete-orphan", lazy="select", order_by=ProjectOwner.user_id
    )

    @property
    def owners_ids(self) -> list[int]:
        """The primary owner first, then the co-owners."""
        others = sorted(row.user_id for row in self.owner_rows if row.user_id != self.owner_id)
        return [self.owner_id, *others]

    def set_owners(self, user_ids) -> None:
        """Replace the owner set; the primary owner always stays in it."""
        wanted = {self.owner_id, *user_ids}
        self.owner_rows[:] = [row for row in self.owner_rows if row.user_id in wanted]
        present = {row.user_id for row in self.owner_rows}
        for user_id in sorted(wanted - present):
            self.owner_rows.append(ProjectOwner(user_id=user_id))
