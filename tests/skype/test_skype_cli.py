"""`vardmote skype import`: the listing, rebooking from the command line, and its Swedish errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from skype_calendars import CUTOFF, PERSONNUMMER, PHONE, outlook_bytes, outlook_export
from sqlalchemy import func, select

from booking_helpers import audit
from vardmote.accounts.models import User
from vardmote.cli import main
from vardmote.context import Context
from vardmote.meetings.models import Meeting
from vardmote.skype.calendar_export import NOT_UTF8


@pytest.fixture
def calendar(tmp_path: Path) -> Path:
    """calendar is Annika's Outlook export on disk."""
    path = tmp_path / "Annika Läkare.ics"
    path.write_bytes(outlook_bytes())
    return path


def _meetings(ctx: Context) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(Meeting)) or 0


def _import(path: Path, *extra: str) -> int:
    return main(["skype", "import", str(path), "--cutoff", CUTOFF.isoformat(), *extra])


def test_it_lists_the_skype_meetings_after_the_cut_off(
    env: None, ctx: Context, calendar: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _import(calendar) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    first = f"{CUTOFF:%Y-%m-%d}"
    assert lines[0].startswith(first)
    assert lines[0].endswith("10:00–10:45  Veckomöte rehabteamet  [återkommande]")
    assert "  (titeln har personuppgifter)" in out
    assert "    PERSONUPPGIFTER: telefonnummer (Ämne)" in lines
    assert lines[1] == "    Organisatör i Skype: annika.lakare@regionvastmanland.se"
    assert "    PERSONUPPGIFTER: personnummer (Meddelande)" in lines
    assert (
        "    Bjud in igen: Bertil Sjukgymnast <bertil.sjukgymnast@regionvastmanland.se>, "
        "Cecilia Kurator <cecilia.kurator@regionvastmanland.se>"
    ) in lines
    assert (
        f"Skypemöten från och med {first}: 8 (2 med personuppgifter, 5 tillfällen av återkommande möten). "
        in out
    )
    assert "Teamsmöte" not in out
    assert "Lunch" not in out
    assert "Inställt" not in out
    assert PERSONNUMMER not in out
    assert PHONE not in out
    assert _meetings(ctx) == 0


def test_rebook_books_each_meeting_once_for_the_organiser(
    env: None, ctx: Context, clinician: User, calendar: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _import(calendar, "--rebook", "--organiser", "annika") == 0
    out = capsys.readouterr().out
    assert out.count("    Ombokat: http://vardmote.test/moten/") == 8
    assert "Ombokade nu: 8, redan ombokade: 0, kunde inte bokas om: 0." in out
    assert _meetings(ctx) == 8
    assert audit(ctx).count(("system:cli", "skype.rebooked")) == 8

    assert _import(calendar, "--rebook", "--organiser", "annika", "--type", "internt") == 0
    again = capsys.readouterr().out
    assert again.count("    Redan ombokat tidigare: http://vardmote.test/moten/") == 8
    assert "Ombokade nu: 0, redan ombokade: 8, kunde inte bokas om: 0." in again
    assert _meetings(ctx) == 8


def test_rebook_with_another_type(env: None, ctx: Context, clinician: User, calendar: Path) -> None:
    assert _import(calendar, "--rebook", "--organiser", "annika", "--type", "internt") == 0
    with ctx.db.session() as s:
        assert set(s.scalars(select(Meeting.type_key))) == {"internt"}


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        pytest.param(
            ("--rebook",),
            "organiser",
            "Ange --organiser med användarnamnet på den som ska äga de nya mötena.",
            id="no-organiser",
        ),
        pytest.param(
            ("--rebook", "--organiser", "okand"),
            "organiser",
            "Det finns inget aktivt konto 'okand'.",
            id="unknown-organiser",
        ),
        pytest.param(
            ("--rebook", "--organiser", "annika", "--type", "digitalt_vardmote"),
            "type_key",
            "Digitalt vårdmöte bokas från journalsystemet, inte i bokningsdialogen.",
            id="journal-type",
        ),
    ],
)
def test_bad_rebook_options_are_refused_in_swedish_and_nothing_is_booked(
    env: None,
    ctx: Context,
    clinician: User,
    calendar: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    field: str,
    message: str,
) -> None:
    assert _import(calendar, *extra) == 2
    assert capsys.readouterr().err == f"Fel ({field}): {message}\n"
    assert _meetings(ctx) == 0


def test_a_bad_cut_off_is_refused(env: None, calendar: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["skype", "import", str(calendar), "--cutoff", "1 juni"]) == 2
    assert capsys.readouterr().err == "Fel (cutoff): Ange brytdatum som ÅÅÅÅ-MM-DD, t.ex. 2024-06-01.\n"


def test_a_latin_1_file_is_refused_with_how_to_export_again(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "kalender.ics"
    path.write_bytes(outlook_export().encode("cp1252"))
    assert _import(path) == 2
    assert capsys.readouterr().err == f"Fel (file): {NOT_UTF8}\n"


def test_a_missing_file_is_refused(env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _import(tmp_path / "finns-inte.ics") == 2
    assert capsys.readouterr().err == f"Fel (file): Filen finns inte: {tmp_path / 'finns-inte.ics'}.\n"
    assert _import(tmp_path) == 2
    assert (
        capsys.readouterr().err
        == f"Fel (file): Filen kan inte läsas (behörighet, eller en mapp?): {tmp_path}.\n"
    )
