"""The vardmote command: accounts, booking and the audit check, with Swedish errors and exit codes."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from conftest import PASSWORD, bearer
from vardmote.accounts.models import StaffSession, User
from vardmote.accounts.service import add_user
from vardmote.audit.models import AuditEntry
from vardmote.cli import main
from vardmote.context import Context
from vardmote.meetings.models import Meeting

TOKEN = r"[A-Za-z0-9_-]{43}"


def _tomorrow(hour: int = 9) -> str:
    """_tomorrow is tomorrow at hour, Swedish time, as the command takes it."""
    tomorrow = dt.datetime.now(ZoneInfo("Europe/Stockholm")).date() + dt.timedelta(days=1)
    return f"{tomorrow.isoformat()}T{hour:02d}:00"


def _meeting_add(*extra: str, type_key: str = "vardmote_patient", host: str = "annika") -> int:
    args = ["meeting", "add", "--title", "Återbesök", "--minutes", "30", "--host", host]
    if type_key:
        args += ["--type", type_key]
    return main([*args, *extra])


def _meetings(ctx: Context) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(Meeting)) or 0


# --- user add ------------------------------------------------------------------------------


def test_user_add_creates_an_account_that_can_sign_in(
    env: None,
    ctx: Context,
    client: TestClient,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VARDMOTE_NEW_PASSWORD", PASSWORD)
    assert main(["user", "add", "cecilia", "--name", "Cecilia Sjuksköterska"]) == 0
    assert capsys.readouterr().out == "Kontot cecilia (clinician) är skapat.\n"
    response = client.get("/api/v1/me", headers=bearer(client, "cecilia"))
    assert response.json() == {
        "username": "cecilia",
        "display_name": "Cecilia Sjuksköterska",
        "role": "clinician",
    }


def test_user_add_can_make_an_administrator(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARDMOTE_NEW_PASSWORD", PASSWORD)
    assert main(["user", "add", "admin2", "--role", "admin"]) == 0
    assert capsys.readouterr().out == "Kontot admin2 (admin) är skapat.\n"
    with ctx.db.session() as s:
        user = s.scalars(select(User).where(User.username == "admin2")).one()
        assert user.is_admin
        assert user.display_name == "admin2"


@pytest.mark.parametrize(
    "username",
    [
        pytest.param("Cecilia", id="upper-case"),
        pytest.param("1cecilia", id="starts-with-a-digit"),
        pytest.param("c", id="one-letter"),
        pytest.param("cecilia sjö", id="space-and-non-ascii"),
        pytest.param("c" * 65, id="too-long"),
    ],
)
def test_user_add_refuses_a_bad_username_with_exit_code_2(
    env: None,
    ctx: Context,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    username: str,
) -> None:
    monkeypatch.setenv("VARDMOTE_NEW_PASSWORD", PASSWORD)
    assert main(["user", "add", username]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "Fel (username): Användarnamnet ska vara 2–64 tecken: små bokstäver a–z, siffror, punkt, "
        "bindestreck eller understreck, och börja med en bokstav.\n"
    )
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0


def test_user_add_refuses_a_short_password(
    env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARDMOTE_NEW_PASSWORD", "elva-tecken")
    assert main(["user", "add", "cecilia"]) == 2
    assert capsys.readouterr().err == "Fel (password): Lösenordet ska vara minst 12 tecken.\n"


def test_user_add_refuses_a_taken_username_with_exit_code_1(
    env: None, clinician: User, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARDMOTE_NEW_PASSWORD", PASSWORD)
    assert main(["user", "add", "annika"]) == 1
    assert capsys.readouterr().err == "Fel: Det finns redan ett konto med användarnamnet annika.\n"


def test_user_deactivate_signs_the_account_out_everywhere_and_activate_lets_it_in_again(
    env: None, ctx: Context, client: TestClient, clinician: User, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = bearer(client, "annika"), bearer(client, "annika")
    assert client.get("/api/v1/me", headers=first).status_code == 200
    assert main(["user", "deactivate", "annika"]) == 0
    assert capsys.readouterr().out == (
        "Kontot annika är inaktiverat: det är utloggat överallt, kan inte logga in "
        "och lämnar pågående möten inom några sekunder.\n"
    )
    for headers in (first, second):
        assert client.get("/api/v1/me", headers=headers).status_code == 401
    refused = client.post("/api/v1/session", json={"username": "annika", "password": PASSWORD})
    assert refused.status_code == 401
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(StaffSession)) == 0
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions.count("user.deactivated") == 1
    assert main(["user", "deactivate", "annika"]) == 0  # once more: nothing changes
    with ctx.db.session() as s:
        assert s.scalars(select(AuditEntry.action)).all().count("user.deactivated") == 1
    capsys.readouterr()
    assert main(["user", "activate", "annika"]) == 0
    assert capsys.readouterr().out == "Kontot annika är aktivt: det kan logga in igen.\n"
    assert client.get("/api/v1/me", headers=bearer(client, "annika")).status_code == 200
    with ctx.db.session() as s:
        assert s.scalars(select(AuditEntry.action)).all().count("user.activated") == 1


@pytest.mark.parametrize("action", ["deactivate", "activate"])
def test_user_deactivate_and_activate_refuse_an_unknown_account_with_exit_code_2(
    env: None, ctx: Context, clinician: User, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    assert main(["user", action, "annica"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "Fel (username): Det finns inget konto med användarnamnet 'annica'.\n"
    with ctx.db.session() as s:
        assert s.scalar(select(User.active).where(User.username == "annika")) is True


def test_bad_settings_give_exit_code_2(
    env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARDMOTE_PORT", "abc")
    assert main(["audit", "verify"]) == 2
    assert capsys.readouterr().err == (
        "Fel i inställningarna: VARDMOTE_PORT must be a whole number, got 'abc'\n"
    )


# --- meeting add ---------------------------------------------------------------------------


def test_meeting_add_prints_the_meeting_page_and_a_guest_link_that_opens(
    env: None, clinician: User, ctx: Context, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _meeting_add("--start", _tomorrow()) == 0
    out = capsys.readouterr().out
    line = re.fullmatch(
        rf"(\d{{4}}-\d\d-\d\d \d\d:\d\d)  http://vardmote\.test/moten/([0-9a-f-]{{36}})  "
        rf"http://vardmote\.test/m/({TOKEN})\n",
        out,
    )
    assert line, out
    assert line.group(1) == _tomorrow().replace("T", " ")
    with ctx.db.session() as s:
        meeting = s.get(Meeting, line.group(2))
        assert meeting is not None
        assert meeting.type_key == "vardmote_patient"
        assert meeting.ends_at - meeting.starts_at == dt.timedelta(minutes=30)
    welcome = client.get(f"/m/{line.group(3)}")
    assert welcome.status_code == 200
    assert "Välkommen till ditt videomöte med" in welcome.text


def test_meeting_add_of_an_internal_meeting_prints_no_guest_link(
    env: None, clinician: User, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _meeting_add("--start", _tomorrow(), type_key="internt") == 0
    out = capsys.readouterr().out
    assert out.endswith("  (ingen gästlänk för mötestypen)\n"), out
    assert "/m/" not in out
    assert _meetings(ctx) == 1


def test_meeting_add_without_a_type_books_an_unprotected_meeting(
    env: None, clinician: User, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _meeting_add("--start", _tomorrow(), type_key="") == 0
    assert capsys.readouterr().out.endswith("  (inget skyddat videomöte: ange --type)\n")
    with ctx.db.session() as s:
        assert s.scalars(select(Meeting)).one().type_key is None


def test_meeting_add_books_every_occurrence_of_a_series(
    env: None, clinician: User, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _meeting_add("--start", _tomorrow(), "--repeat", "weekly", "--count", "3") == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 3
    assert len(set(re.findall(rf"/m/({TOKEN})$", out, re.MULTILINE))) == 3, "one guest link each"
    assert _meetings(ctx) == 3


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        pytest.param(
            ["--start", "2020-01-01T09:00"],
            {},
            "Fel (start): Starttiden har redan passerat. Välj en tid framåt i tiden.\n",
            id="start-in-the-past",
        ),
        pytest.param(
            ["--start", "i morgon"],
            {},
            "Fel (start): Ange starttid som ÅÅÅÅ-MM-DDTTT:MM.\n",
            id="start-not-a-time",
        ),
        pytest.param(
            ["--start", _tomorrow()],
            {"host": "okand"},
            "Fel (host): Det finns inget aktivt konto 'okand'.\n",
            id="unknown-host",
        ),
        pytest.param(
            ["--start", _tomorrow()],
            {"type_key": "hemligt_mote"},
            "Fel (type_key): Okänd mötestyp: 'hemligt_mote'.\n",
            id="unknown-type",
        ),
        pytest.param(
            ["--start", _tomorrow()],
            {"type_key": "digitalt_vardmote"},
            "Fel (type_key): Digitalt vårdmöte bokas från journalsystemet, inte i bokningsdialogen.\n",
            id="type-booked-from-the-journal",
        ),
        pytest.param(
            ["--start", _tomorrow(), "--repeat", "weekly"],
            {},
            "Fel (until): Ange antingen ett slutdatum eller ett antal tillfällen för återkommande möte.\n",
            id="series-without-an-end",
        ),
    ],
)
def test_meeting_add_refuses_bad_input_with_exit_code_2(
    env: None,
    clinician: User,
    ctx: Context,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    kwargs: dict[str, str],
    message: str,
) -> None:
    assert _meeting_add(*args, **kwargs) == 2
    captured = capsys.readouterr()
    assert captured.err == message
    assert captured.out == ""
    assert _meetings(ctx) == 0


def test_meeting_add_refuses_an_inactive_host(
    env: None, clinician: User, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    with ctx.db.session() as s:
        s.execute(text("UPDATE users SET active = :no"), {"no": False})
    assert _meeting_add("--start", _tomorrow()) == 2
    assert capsys.readouterr().err == "Fel (host): Det finns inget aktivt konto 'annika'.\n"


def test_meeting_add_refuses_a_demo_host_outside_demo_mode(
    env: None, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    with ctx.db.session() as s:
        add_user(ctx, s, "demo-annika", "Annika Demo", "demo", is_demo=True)
    assert _meeting_add("--start", _tomorrow(), host="demo-annika") == 2
    assert capsys.readouterr().err == "Fel (host): Det finns inget aktivt konto 'demo-annika'.\n"
    assert _meetings(ctx) == 0


# --- audit verify --------------------------------------------------------------------------


def test_audit_verify_says_the_log_is_intact_and_exits_0(
    env: None, clinician: User, other_clinician: User, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Granskningsloggen är intakt (2 poster)."
    assert re.fullmatch(r"Ankare att spara utanför databasen: 2:[0-9a-f]{64}", lines[1])


def test_audit_verify_with_an_anchor_finds_entries_cut_off_the_end(
    env: None, clinician: User, other_clinician: User, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify"]) == 0
    anchor = capsys.readouterr().out.splitlines()[1].rsplit(" ", 1)[1]
    assert main(["audit", "verify", "--anchor", anchor]) == 0
    capsys.readouterr()
    with ctx.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE id = 2"))
    assert main(["audit", "verify"]) == 0  # the chain alone cannot tell
    capsys.readouterr()
    assert main(["audit", "verify", "--anchor", anchor]) == 1
    assert capsys.readouterr().out == (
        "Granskningsloggen är manipulerad: första felaktiga post är 2 "
        "(posterna från 2 saknas (ankaret är post 2)).\n"
    )


@pytest.mark.parametrize("anchor", ["2", "x:" + "0" * 64, "2:abc", "²:" + "0" * 64])
def test_audit_verify_refuses_a_malformed_anchor(
    env: None, anchor: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--anchor", anchor]) == 2
    assert "Ankaret ska skrivas POST:HASH" in capsys.readouterr().err


def test_audit_verify_names_the_first_bad_entry_and_exits_1(
    env: None, clinician: User, other_clinician: User, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    with ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET actor = 'user:mallory' WHERE id = 1"))
    assert main(["audit", "verify"]) == 1
    assert capsys.readouterr().out == (
        "Granskningsloggen är manipulerad: första felaktiga post är 1 (innehållet har ändrats).\n"
    )


def test_audit_verify_finds_a_deleted_entry(
    env: None, clinician: User, other_clinician: User, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    with ctx.db.session() as s:
        from vardmote.audit.log import record

        record(s, "system", "test")
    with ctx.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE id = 2"))
    assert main(["audit", "verify"]) == 1
    assert capsys.readouterr().out == (
        "Granskningsloggen är manipulerad: första felaktiga post är 2 (post 2 saknas).\n"
    )
