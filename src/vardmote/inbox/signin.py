"""Signing in to the inbox: the rules both ways of signing in share, and the test e-identification.

Whoever signs in is identified by a personnummer alone: from the OpenID Connect provider's
ID token (:mod:`vardmote.inbox.oidc`) or, in demo mode only, typed into the test
e-identification. The patient is found by the number, or added without a name, so that
someone signs in to the same inbox that staff send messages to.

Trade-off: the test e-identification lets anyone be anyone. It is therefore refused
outright unless demo mode is on, and the patients it adds are marked as demo patients.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from vardmote.context import Context
from vardmote.errors import Forbidden
from vardmote.inbox.sessions import TEST_METHOD, start_session
from vardmote.patients.models import Patient, PatientSession
from vardmote.patients.personnummer import Personnummer
from vardmote.patients.registry import find, find_or_add, parse_field

TEST_SIGNIN_OFF = "Test-e-legitimationen finns bara i demoläget. Logga in med din e-legitimation i stället."
DEMO_PATIENT = "Den här personen finns bara i demoläget och kan inte logga in."


def sign_in_number(ctx: Context, s: Session, number: Personnummer, method: str) -> tuple[str, PatientSession]:
    """sign_in_number starts a session for the patient with number (added if unknown)."""
    known = find(s, number)
    if known is not None and known.is_demo and not ctx.settings.demo:
        raise Forbidden(DEMO_PATIENT)
    patient: Patient = known or find_or_add(s, number)
    if known is None and method == TEST_METHOD:
        patient.is_demo = True  # made by the demo's open door, so it closes with it
    return start_session(ctx, s, patient, method)


def sign_in_test(ctx: Context, s: Session, typed: str, today: dt.date) -> tuple[str, PatientSession]:
    """sign_in_test is the test e-identification: any valid personnummer signs in, in demo mode only.

    Raises Forbidden when demo mode is off and InvalidInput (field ``personnummer``) for a
    number that is not valid.
    """
    if not ctx.settings.demo:
        raise Forbidden(TEST_SIGNIN_OFF)
    number = parse_field("personnummer", typed[:40], today)
    return sign_in_number(ctx, s, number, TEST_METHOD)
