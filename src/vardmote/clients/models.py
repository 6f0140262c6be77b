"""Client tables: registered journal systems, their access tokens and the assertions they used."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vardmote.db import Base, UtcDateTime, utcnow


class ApiClient(Base):
    """ApiClient is a journal system allowed to call the FHIR API.

    ``client_id`` is a random UUID made when the client is added, not its name: it is the
    ``iss`` and ``sub`` of the client's assertions, so a client added again after a
    revocation (under another name) never accepts assertions made for the old one, and the
    name (shown in the audit and on the admin page) may hold spaces and Swedish letters.
    A name stays taken after its client is revoked, so ``client:<name>`` in the audit
    always means one client; a journal system that changes its keys keeps its client (the
    keys are replaced: ``service.replace_keys``), so revoking is for ending it.
    """

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    """The client's name, 2–60 characters, shown in the audit (``client:<name>``)."""
    client_id: Mapped[str] = mapped_column(String(36), unique=True)
    """A random UUID: the ``iss`` and ``sub`` of the client's assertions."""
    jwks: Mapped[str] = mapped_column(Text)
    """The client's public keys as a JWKS (JSON text), each with its ``kid``; never a private part."""
    scopes: Mapped[str] = mapped_column(String(500))
    """The scopes the client may be given, space-separated (``system/Appointment.cruds``)."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    """False once revoked: its tokens stop working at once and it gets no new ones."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), default=None)


class AccessToken(Base):
    """AccessToken is a bearer token given at ``/oauth/token``; only its SHA-256 hash is kept."""

    __tablename__ = "api_access_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[str] = mapped_column(String(500))
    """The scopes granted, space-separated, as the client asked for them."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)

    client: Mapped[ApiClient] = relationship(lazy="joined")


class UsedAssertion(Base):
    """UsedAssertion remembers a client assertion's ``jti`` until it expires, so it is used once.

    The primary key (client, jti) makes a replay fail even when two requests carry the
    same assertion at the same moment: the second insert meets the first one's row.
    """

    __tablename__ = "api_used_assertions"

    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    """When the assertion's ``exp`` (and the leeway) has passed: then it is refused anyway,
    and the row can go (retention.py)."""
