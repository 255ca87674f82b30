"""Material that helps volunteers with a project (tutorial images, examples)."""

from sqlalchemy import Float, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, utcnow


class HelpingMaterial(Base):
    __tablename__ = "helpingmaterial"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[str] = mapped_column(Text, default=utcnow)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    info: Mapped[dict] = mapped_column(JSONType, default=dict)
    media_url: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[float] = mapped_column(Float, default=0)
