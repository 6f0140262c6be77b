"""Patient tables: patients keyed by personnummer, guardians, and inbox sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vardmote.db import Base, UtcDateTime, utcnow


class Patient(Base):
    """Patient is a person who may get messages in the inbox: a patient, a relative or a guardian.

    ``personnummer`` is the twelve digits without separator (a samordningsnummer too), as
    `vardmote.patients.personnummer.Personnummer.digits` writes it; the age comes from it.
    The name, phone, e-mail and address are what the guard keeps out of invitations.
    """

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    personnummer: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    address: Mapped[str | None] = mapped_column(String(200), default=None)
    is_demo: Mapped[bool] = mapped_column(default=False)
    """Demo patients exist only for the test e-identification of demo mode."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Guardianship(Base):
    """Guardianship says that guardian is vårdnadshavare of child."""

    __tablename__ = "guardianships"
    __table_args__ = (UniqueConstraint("guardian_id", "child_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guardian_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)

    guardian: Mapped[Patient] = relationship(foreign_keys=[guardian_id], lazy="joined")
    child: Mapped[Patient] = relationship(foreign_keys=[child_id], lazy="joined")


class PatientSession(Base):
    """PatientSession is a signed-in inbox; the token is kept only as its hash.

    ``acting_for_id`` is set while a guardian acts as ombud ("Agera ombud") for a child:
    the inbox shown is then the child's.
    """

    __tablename__ = "patient_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    acting_for_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), default=None
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(20))
    """``test`` (demo mode's test e-identification) or ``oidc``."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    patient: Mapped[Patient] = relationship(foreign_keys=[patient_id], lazy="joined")
    acting_for: Mapped[Patient | None] = relationship(foreign_keys=[acting_for_id], lazy="joined")
