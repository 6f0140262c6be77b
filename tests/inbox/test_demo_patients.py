"""The demo's patients: Skatteverket test numbers, a guardian of a child under 13, added once."""

from __future__ import annotations

from inbox_helpers import today
from sqlalchemy import select

from booking_helpers import count
from vardmote.context import Context
from vardmote.demo import DEMO_PATIENTS, load_demo
from vardmote.patients.models import Guardianship, Patient
from vardmote.patients.personnummer import Personnummer
from vardmote.patients.registry import is_guardian_of, needs_ombud


def test_the_demo_adds_maria_olle_and_johan_once(ctx: Context) -> None:
    for _ in range(2):
        with ctx.db.session() as s:
            load_demo(ctx, s)
    assert count(ctx, Patient) == 3
    assert count(ctx, Guardianship) == 1
    with ctx.db.session() as s:
        people = {p.name: p for p in s.scalars(select(Patient))}
        assert set(people) == {"Maria Andersson", "Olle Andersson", "Johan Lind"}
        assert all(p.is_demo for p in people.values())
        assert is_guardian_of(s, people["Maria Andersson"], people["Olle Andersson"])
        assert needs_ombud(people["Olle Andersson"], today())
        assert not needs_ombud(people["Johan Lind"], today())
    for number, _, _ in DEMO_PATIENTS:
        assert number[9:12] in {"238", "239"}  # Skatteverket's test series
        Personnummer(number.replace("-", ""))  # checksum-valid
