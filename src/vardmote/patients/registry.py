"""The patient registry: finding patients by personnummer, their guardians and children, their age.

Patients are kept by their twelve-digit number. A number staff type that is not known yet
makes a patient without a name, so that a message can reach the inbox of someone the
region has not registered here before.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vardmote.db import utcnow
from vardmote.errors import InvalidInput
from vardmote.patients.models import Guardianship, Patient
from vardmote.patients.personnummer import InvalidPersonnummer, Personnummer, parse

OMBUD_AGE = 13
"""Under this age a child's messages go to the child's inbox and guardians read them as ombud."""


def number_of(patient: Patient) -> Personnummer:
    """number_of is the patient's personnummer (checked when stored)."""
    return Personnummer(patient.personnummer)


def age_of(patient: Patient, today: dt.date) -> int:
    """age_of is the patient's age in whole years on today."""
    return number_of(patient).age_on(today)


def needs_ombud(patient: Patient, today: dt.date) -> bool:
    """needs_ombud tells whether the patient is a child under 13, whose guardians act as ombud."""
    return age_of(patient, today) < OMBUD_AGE


def parse_field(field: str, text: str, today: dt.date) -> Personnummer:
    """parse_field reads a typed personnummer or raises InvalidInput for field, in Swedish."""
    try:
        return parse(text, today)
    except InvalidPersonnummer as e:
        raise InvalidInput.one(field, str(e)) from None


def find(s: Session, number: Personnummer) -> Patient | None:
    """find returns the patient with number, if known."""
    return s.scalar(select(Patient).where(Patient.personnummer == number.digits))


def find_or_add(s: Session, number: Personnummer) -> Patient:
    """find_or_add returns the patient with number, adding one without a name if unknown."""
    patient = find(s, number)
    if patient is not None:
        return patient
    try:
        with s.begin_nested():  # two requests may add the same new number at once: one wins
            patient = Patient(personnummer=number.digits, created_at=utcnow())
            s.add(patient)
    except IntegrityError:
        found = find(s, number)
        assert found is not None, "the other request's patient"
        return found
    return patient


def guardians_of(s: Session, child: Patient) -> list[Patient]:
    """guardians_of lists the child's guardians (vårdnadshavare)."""
    rows = s.scalars(select(Guardianship).where(Guardianship.child_id == child.id).order_by(Guardianship.id))
    return [g.guardian for g in rows]


def children_of(s: Session, guardian: Patient) -> list[Patient]:
    """children_of lists the children guardian is vårdnadshavare of."""
    rows = s.scalars(
        select(Guardianship).where(Guardianship.guardian_id == guardian.id).order_by(Guardianship.id)
    )
    return [g.child for g in rows]


def is_guardian_of(s: Session, guardian: Patient, child: Patient) -> bool:
    """is_guardian_of tells whether guardian is vårdnadshavare of child."""
    found = s.scalar(
        select(Guardianship.id).where(
            Guardianship.guardian_id == guardian.id, Guardianship.child_id == child.id
        )
    )
    return found is not None


def add_guardian(s: Session, guardian: Patient, child: Patient) -> None:
    """add_guardian records guardian as vårdnadshavare of child (once)."""
    if guardian.id == child.id:
        raise InvalidInput.one("guardian", "En person kan inte vara vårdnadshavare för sig själv.")
    if not is_guardian_of(s, guardian, child):
        s.add(Guardianship(guardian_id=guardian.id, child_id=child.id))
        s.flush()
