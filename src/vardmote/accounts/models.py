"""Account tables: the organisation, its clinics, staff users, their sessions and room devices."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vardmote.db import Base, UtcDateTime, utcnow


class Role(enum.StrEnum):
    """Role of a staff account."""

    CLINICIAN = "clinician"
    ADMIN = "admin"


class Organisation(Base):
    """Organisation is the care provider ("Region …") that runs the service."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Clinic(Base):
    """Clinic is a unit (mottagning) of the organisation."""

    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(200))

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class User(Base):
    """User is a staff account (vårdpersonal or administratör)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default=Role.CLINICIAN.value)
    password_hash: Mapped[str] = mapped_column(String(255))
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    """A demo account can sign in only while the service runs in demo mode."""
    feed_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True, default=None)
    """SHA-256 of the calendar feed's secret token."""
    feed_token_sealed: Mapped[bytes | None] = mapped_column(LargeBinary(200), default=None)
    """The calendar feed token encrypted with the service key, to show it again."""
    hsa_id: Mapped[str | None] = mapped_column(String(40), unique=True, default=None)
    """The person's HSA-id (e.g. ``SE2321000016-1234``), by which the region's identity provider
    names them; None for an account that signs in only with a password."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)

    clinic: Mapped[Clinic | None] = relationship(lazy="joined")

    @property
    def is_admin(self) -> bool:
        """is_admin tells whether the user may change settings and read the audit."""
        return self.role == Role.ADMIN.value


class SigninMethod(enum.StrEnum):
    """SigninMethod is how a staff session was signed in."""

    PASSWORD = "password"
    OIDC = "oidc"


class StaffSession(Base):
    """StaffSession is a signed-in browser or API client; only the token's hash is kept."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    signed_in_with: Mapped[str] = mapped_column(
        String(20), default=SigninMethod.PASSWORD.value, server_default=SigninMethod.PASSWORD.value
    )
    """How the session was signed in (:class:`SigninMethod`): signing out of an ``oidc`` session
    goes on to the identity provider, so that its session ends too."""

    user: Mapped[User] = relationship(lazy="joined")


class RoomDevice(Base):
    """RoomDevice is a clinic's registered room computer (Vårdrum); only its token's hash is kept.

    The token is shown once, when the device is added, for the room computer's
    configuration. A device that is revoked (``active`` false) can no longer join.
    """

    __tablename__ = "room_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"), default=None)
    name: Mapped[str] = mapped_column(String(60))
    """Shown to everyone in the meeting, e.g. "Vårdrum 3, Allergimottagning"."""
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    """SHA-256 of the device's 256-bit token."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)

    clinic: Mapped[Clinic | None] = relationship(lazy="joined")


class SigninThrottle(Base):
    """SigninThrottle counts recent failed sign-ins for one account or one address.

    The key is ``user:<username>`` or ``addr:<ip>`` (the password sign-in), ``oidc:addr:<ip>``
    (the sign-in with the identity provider) or ``oauth:addr:<ip>`` (the journal systems' token
    endpoint); the rule is :mod:`vardmote.accounts.throttle`'s. The username is stored
    lower-cased whether or not such an account exists, so the throttle reveals
    nothing about which accounts exist.
    """

    __tablename__ = "signin_throttle"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), default=None)
