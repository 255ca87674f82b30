"""A registered account."""

import uuid

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, utcnow


class User(Base):
    __tablename__ = "user"
    # Never reuse a deleted account's id on SQLite: sessions, reservations ("user:<id>") and
    # caches name accounts by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[str] = mapped_column(Text, default=utcnow)
    email_addr: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    fullname: Mapped[str] = mapped_column(String(500), nullable=False)
    locale: Mapped[str] = mapped_column(String(254), default="en")
    api_key: Mapped[str] = mapped_column(
        String(36), unique=True, default=lambda: str(uuid.uuid4())
    )
    passwd_hash: Mapped[str | None] = mapped_column(String(254))
    ldap: Mapped[str | None] = mapped_column(String, unique=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    pro: Mapped[bool] = mapped_column(Boolean, default=False)
    privacy_mode: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    restrict: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    category: Mapped[int | None] = mapped_column(Integer)
    flags: Mapped[int | None] = mapped_column(Integer)
    ckan_api: Mapped[str | None] = mapped_column(String, unique=True)
    newsletter_prompted: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_email: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmation_email_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=False)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    info: Mapped[dict] = mapped_column(JSONType, default=dict)
    user_pref: Mapped[dict | None] = mapped_column(JSONType, default=dict)
    notified_at: Mapped[str | None] = mapped_column(Text)
    # Sessions carry the value they were issued under: bumping it ends them all (sign-out,
    # password change), although the cookies themselves stay validly signed.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
