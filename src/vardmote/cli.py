"""The ``vardmote`` command: serve, migrate, accounts, room devices, journal systems, booking, Skype
and the audit.

Each subcommand uses the same service layer as the pages and the API, so a
meeting booked here is validated exactly as one booked in the browser.
Errors are printed in Swedish on stderr with exit code 2 (bad input) or 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import logging
import os
import sys
from collections.abc import Sequence

from sqlalchemy import select

from vardmote.accounts.devices import add_device, revoke_device
from vardmote.accounts.models import Role, User
from vardmote.accounts.service import activate_user, add_user, deactivate_user, set_hsa_id
from vardmote.audit.log import verify
from vardmote.clients import service as clients
from vardmote.clients.keys import MAX_JWKS_CHARS, key_ids
from vardmote.clients.token import TOKEN_PATH
from vardmote.context import Context
from vardmote.errors import InvalidInput, VardmoteError
from vardmote.meetings import links
from vardmote.meetings.booking import BookingForm
from vardmote.meetings.service import book
from vardmote.meetings.types import ensure_meeting_types
from vardmote.migrate import upgrade
from vardmote.settings import Settings, SettingsError, load_settings
from vardmote.skype import calendar_export, listing, rebooking, report


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from vardmote.app import create_app
    from vardmote.demo import DEMO_PATIENTS
    from vardmote.rooms.messages import MAX_FRAME_BYTES

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    app = create_app(settings)
    url = settings.effective_public_url
    print(f"Vårdmöte körs på {url}/", flush=True)
    if settings.demo:
        print(
            "Demoläge: logga in som annika (vårdpersonal) eller admin (administratör), lösenord: demo",
            flush=True,
        )
        print(
            f"Inkorg: {url}/inkorg, test-e-legitimation med personnummer "
            + ", ".join(f"{number} ({name}, {role})" for number, name, role in DEMO_PATIENTS),
            flush=True,
        )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        proxy_headers=False,
        server_header=False,
        access_log=False,
        # websockets refuses a frame over this from its header (close 1009), before reading its
        # payload; the protocol's own limit is the same 64 KiB (vardmote.rooms.messages).
        ws_max_size=MAX_FRAME_BYTES,
        # No permessage-deflate: it halves the memory an idle WebSocket takes (bench/lobby_load.py:
        # about 82 KiB a socket with it, 41 without), and one compression context per connection
        # would mix secrets (resume tokens) with text others choose (names, chat).
        ws_per_message_deflate=False,
    )
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    _open(settings).db.dispose()
    print("Databasen är uppdaterad.")
    return 0


def _open(settings: Settings) -> Context:
    """_open migrates the database (a no-op when it is current) and opens it."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    return Context.from_settings(settings)


def _user_add(settings: Settings, args: argparse.Namespace) -> int:
    password = os.environ.get("VARDMOTE_NEW_PASSWORD") or getpass.getpass("Lösenord: ")
    ctx = _open(settings)
    with ctx.db.session() as s:
        user = add_user(
            ctx,
            s,
            args.username,
            args.name or args.username,
            password,
            args.role,
            hsa_id=args.hsa_id,
            actor="system:cli",
        )
        print(f"Kontot {user.username} ({user.role}) är skapat.")
    return 0


def _user_set_hsa_id(settings: Settings, args: argparse.Namespace) -> int:
    if args.clear == (args.hsa_id is not None):
        raise InvalidInput.one("hsa_id", "Ange antingen ett HSA-id eller --clear.")
    ctx = _open(settings)
    with ctx.db.session() as s:
        user = set_hsa_id(s, args.username, None if args.clear else args.hsa_id, actor="system:cli")
        if user.hsa_id is None:
            print(f"Kontot {user.username} har inget HSA-id: inloggningen med SITHS hittar det inte.")
        else:
            print(f"Kontot {user.username} har HSA-id {user.hsa_id}: inloggningen med SITHS hittar det.")
    return 0


def _user_deactivate(settings: Settings, args: argparse.Namespace) -> int:
    ctx = _open(settings)
    with ctx.db.session() as s:
        user = deactivate_user(s, args.username, actor="system:cli")
        print(
            f"Kontot {user.username} är inaktiverat: det är utloggat överallt, kan inte logga in "
            "och lämnar pågående möten inom några sekunder."
        )
    return 0


def _user_activate(settings: Settings, args: argparse.Namespace) -> int:
    ctx = _open(settings)
    with ctx.db.session() as s:
        user = activate_user(s, args.username, actor="system:cli")
        print(f"Kontot {user.username} är aktivt: det kan logga in igen.")
    return 0


def _device_add(settings: Settings, args: argparse.Namespace) -> int:
    ctx = _open(settings)
    with ctx.db.session() as s:
        device, token = add_device(s, args.name, args.clinic, actor="system:cli")
        print(f"Rumsenheten {device.name} är registrerad.")
        print("Nyckel till rumsdatorns inställningar (visas bara nu):")
        print(token)
    return 0


def _device_revoke(settings: Settings, args: argparse.Namespace) -> int:
    ctx = _open(settings)
    with ctx.db.session() as s:
        device = revoke_device(s, args.name, actor="system:cli")
        print(f"Rumsenheten {device.name} är avregistrerad: dess nyckel fungerar inte längre.")
    return 0


def _read_jwks(path: str) -> str:
    """_read_jwks is the JWKS file's text ("-" reads standard input): at most one character more
    than a JWKS may have, so that a longer file is refused as too long, not read whole."""
    if path == "-":
        return sys.stdin.read(MAX_JWKS_CHARS + 1)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(MAX_JWKS_CHARS + 1)
    except FileNotFoundError:
        raise InvalidInput.one("jwks", f"Filen finns inte: {path}.") from None
    except (OSError, UnicodeDecodeError):
        raise InvalidInput.one(
            "jwks", f"Filen kan inte läsas som text (behörighet, en mapp, eller inte UTF-8?): {path}."
        ) from None


def _client_add(settings: Settings, args: argparse.Namespace) -> int:
    jwks = _read_jwks(args.jwks)
    ctx = _open(settings)
    with ctx.db.session() as s:
        client = clients.add_client(s, args.name, jwks, " ".join(args.scope), actor="system:cli")
        print(f"Journalsystemet {client.name} är registrerat med behörigheterna {client.scopes}.")
        print("Klient-id (iss och sub i journalsystemets assertioner):")
        print(client.client_id)
        print(f"Tokenadress (aud i assertionerna): {ctx.url(TOKEN_PATH)}")
    return 0


def _client_list(settings: Settings, args: argparse.Namespace) -> int:
    ctx = _open(settings)
    with ctx.db.session() as s:
        found = clients.list_clients(s)
        if not found:
            print("Inga journalsystem är registrerade.")
        for client in found:
            added = client.created_at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")
            state = "aktivt" if client.active else "återkallat"
            print(f"{client.name}\t{client.client_id}\t{client.scopes}\t{state}\tregistrerat {added}")
    return 0


def _client_keys(settings: Settings, args: argparse.Namespace) -> int:
    jwks = _read_jwks(args.jwks)
    ctx = _open(settings)
    with ctx.db.session() as s:
        client = clients.replace_keys(s, args.name, jwks, actor="system:cli")
        kids = ", ".join(key_ids(client.jwks))
        print(
            f"Journalsystemet {client.name} har nya nycklar ({kids}). Assertioner signerade med de "
            "gamla nycklarna tas inte emot längre; åtkomsttoken som redan getts gäller sin tid ut."
        )
    return 0


def _client_revoke(settings: Settings, args: argparse.Namespace) -> int:
    ctx = _open(settings)
    with ctx.db.session() as s:
        client = clients.revoke_client(s, args.name, actor="system:cli")
        print(
            f"Journalsystemet {client.name} är återkallat: dess åtkomsttoken slutar gälla direkt och det "
            "får inga nya."
        )
    return 0


def _meeting_add(settings: Settings, args: argparse.Namespace) -> int:
    ctx = _open(settings)
    start = args.start
    try:
        end = (dt.datetime.fromisoformat(start) + dt.timedelta(minutes=args.minutes)).isoformat()
    except (ValueError, OverflowError):
        raise InvalidInput.one("start", "Ange starttid som ÅÅÅÅ-MM-DDTTT:MM.") from None
    with ctx.db.session() as s:
        ensure_meeting_types(s)
        host = s.scalar(select(User).where(User.username == args.host))
        if host is None or not host.active or (host.is_demo and not settings.demo):
            raise InvalidInput.one("host", f"Det finns inget aktivt konto {args.host!r}.")
        form = BookingForm(
            title=args.title,
            start=start,
            end=end,
            required=args.required or "",
            frequency=args.repeat or "",
            until=args.until or "",
            count=str(args.count or ""),
        )
        made = book(ctx, s, host, form, args.type)
        for meeting in made:
            link = links.general_link(ctx, s, meeting)
            if link is not None:
                guest = links.guest_url(ctx, link) or "(länken kan inte visas: nyckeln har bytts)"
            elif meeting.is_protected:
                guest = "(ingen gästlänk för mötestypen)"
            else:
                guest = "(inget skyddat videomöte: ange --type)"
            local = meeting.starts_at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")
            print(f"{local}  {ctx.url('/moten/' + meeting.id)}  {guest}")
    return 0


def _anchor(raw: str | None) -> tuple[int, str] | None:
    if raw is None:
        return None
    entry_id, _, digest = raw.partition(":")
    if not entry_id.isascii() or not entry_id.isdigit() or len(digest) != 64:
        raise InvalidInput.one(
            "anchor", "Ankaret ska skrivas POST:HASH, t.ex. 42:9f86d0…, som verify skrev ut förra gången."
        )
    return int(entry_id), digest


def _audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    anchor = _anchor(args.anchor)
    ctx = _open(settings)
    with ctx.db.session() as s:
        verdict = verify(s, anchor)
    print(verdict.describe())
    if verdict.intact and verdict.entries:
        print(f"Ankare att spara utanför databasen: {verdict.entries}:{verdict.last_hash}")
    return 0 if verdict.intact else 1


def _cutoff(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput.one("cutoff", "Ange brytdatum som ÅÅÅÅ-MM-DD, t.ex. 2024-06-01.") from None


def _skype_import(settings: Settings, args: argparse.Namespace) -> int:
    cutoff = _cutoff(args.cutoff)
    if args.rebook and not args.organiser:
        raise InvalidInput.one(
            "organiser", "Ange --organiser med användarnamnet på den som ska äga de nya mötena."
        )
    try:
        with open(args.calendar, "rb") as f:
            data = f.read(calendar_export.MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InvalidInput.one("file", f"Filen finns inte: {args.calendar}.") from None
    except OSError:
        raise InvalidInput.one(
            "file", f"Filen kan inte läsas (behörighet, eller en mapp?): {args.calendar}."
        ) from None
    ctx = _open(settings)
    found = listing.find_skype_meetings(data, cutoff, ctx.tz, dt.datetime.now(ctx.tz).date())
    outcomes = None
    if args.rebook:
        with ctx.db.session() as s:
            ensure_meeting_types(s)
            organiser = s.scalar(select(User).where(User.username == args.organiser))
            if organiser is None or not organiser.active or (organiser.is_demo and not settings.demo):
                raise InvalidInput.one("organiser", f"Det finns inget aktivt konto {args.organiser!r}.")
            items = [rebooking.Rebookable.of(m) for m in found.meetings]
            outcomes = rebooking.rebook(ctx, s, organiser, items, args.type, "system:cli")
    for line in report.report(found, ctx.tz, ctx.url, outcomes):
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """build_parser describes every subcommand."""
    parser = argparse.ArgumentParser(prog="vardmote", description="Vårdmöte: skyddade videomöten.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrera databasen och starta tjänsten")
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.set_defaults(run=_serve)

    sub.add_parser("migrate", help="uppdatera databasens schema").set_defaults(run=_migrate)

    user = sub.add_parser("user", help="personalkonton").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="skapa ett konto (lösenord frågas efter, eller VARDMOTE_NEW_PASSWORD)")
    add.add_argument("username")
    add.add_argument("--name", help="visningsnamn")
    add.add_argument("--role", default=Role.CLINICIAN.value, choices=[r.value for r in Role])
    add.add_argument("--hsa-id", help="HSA-id, så att inloggningen med SITHS hittar kontot")
    add.set_defaults(run=_user_add)
    sethsa = user.add_parser(
        "set-hsa-id",
        help="koppla ett befintligt konto till en persons HSA-id, så att inloggningen med SITHS hittar det",
    )
    sethsa.add_argument("username")
    sethsa.add_argument("hsa_id", nargs="?", metavar="HSA-ID", help="t.ex. SE2321000016-1003")
    sethsa.add_argument("--clear", action="store_true", help="ta bort kontots HSA-id")
    sethsa.set_defaults(run=_user_set_hsa_id)
    deactivate = user.add_parser(
        "deactivate", help="inaktivera ett konto: det loggas ut överallt och lämnar pågående möten"
    )
    deactivate.add_argument("username")
    deactivate.set_defaults(run=_user_deactivate)
    activate = user.add_parser("activate", help="aktivera ett inaktiverat konto igen")
    activate.add_argument("username")
    activate.set_defaults(run=_user_activate)

    device = sub.add_parser("device", help="rumsenheter (Vårdrum)").add_subparsers(
        dest="action", required=True
    )
    dadd = device.add_parser("add", help="registrera en rumsenhet och skriv ut dess nyckel (visas en gång)")
    dadd.add_argument("--name", required=True, help="namnet som visas i mötet, t.ex. 'Vårdrum 3, Allergi'")
    dadd.add_argument("--clinic", help="mottagningens namn")
    dadd.set_defaults(run=_device_add)
    drevoke = device.add_parser("revoke", help="avregistrera en rumsenhet: dess nyckel slutar fungera")
    drevoke.add_argument("name", help="rumsenhetens namn")
    drevoke.set_defaults(run=_device_revoke)

    client = sub.add_parser("client", help="journalsystem som bokar via FHIR-gränssnittet").add_subparsers(
        dest="action", required=True
    )
    cadd = client.add_parser(
        "add", help="registrera ett journalsystem med dess publika nycklar; skriver ut klient-id"
    )
    cadd.add_argument("name", help="journalsystemets namn, 2–60 tecken; står i granskningsloggen")
    cadd.add_argument(
        "--jwks",
        required=True,
        help="fil med journalsystemets publika nycklar som JWKS (- läser standard in)",
    )
    cadd.add_argument(
        "--scope",
        required=True,
        action="append",
        help="behörighet, t.ex. system/Appointment.cruds eller system/Appointment.rs; får anges flera gånger",
    )
    cadd.set_defaults(run=_client_add)
    client.add_parser("list", help="lista registrerade journalsystem").set_defaults(run=_client_list)
    ckeys = client.add_parser(
        "keys", help="byt ett journalsystems publika nycklar; de gamla slutar gälla direkt"
    )
    ckeys.add_argument("name", help="journalsystemets namn")
    ckeys.add_argument(
        "--jwks",
        required=True,
        help="fil med journalsystemets nya publika nycklar som JWKS (- läser standard in)",
    )
    ckeys.set_defaults(run=_client_keys)
    crevoke = client.add_parser(
        "revoke", help="återkalla ett journalsystem: dess åtkomsttoken slutar gälla direkt"
    )
    crevoke.add_argument("name", help="journalsystemets namn")
    crevoke.set_defaults(run=_client_revoke)

    meeting = sub.add_parser("meeting", help="möten").add_subparsers(dest="action", required=True)
    madd = meeting.add_parser("add", help="boka ett möte och skriv ut dess adresser")
    madd.add_argument("--type", help="mötestyp, t.ex. vardmote_patient")
    madd.add_argument("--title", required=True)
    madd.add_argument("--start", required=True, help="lokal tid, t.ex. 2026-12-01T09:00")
    madd.add_argument("--minutes", type=int, default=30)
    madd.add_argument("--host", required=True, help="användarnamn för mötesorganisatören")
    madd.add_argument("--required", help="deltagare, e-postadresser åtskilda med semikolon")
    madd.add_argument("--repeat", choices=["daily", "weekly"])
    madd.add_argument("--until", help="sista dag för återkommande möte, ÅÅÅÅ-MM-DD")
    madd.add_argument("--count", type=int, help="antal tillfällen för återkommande möte")
    madd.set_defaults(run=_meeting_add)

    skype = sub.add_parser("skype", help="flytt från Skype").add_subparsers(dest="action", required=True)
    simport = skype.add_parser(
        "import", help="lista Skypemöten efter brytdatumet i en kalenderexport (.ics) och boka om dem"
    )
    simport.add_argument("calendar", help="kalenderfil i iCalendar-format, t.ex. sparad från Outlook")
    simport.add_argument(
        "--cutoff", required=True, help="brytdatum, ÅÅÅÅ-MM-DD: möten från och med den dagen"
    )
    simport.add_argument("--rebook", action="store_true", help="boka om de listade mötena som skyddade möten")
    simport.add_argument(
        "--organiser", help="användarnamn för de nya mötenas organisatör (krävs med --rebook)"
    )
    simport.add_argument("--type", default="vardmote_patient", help="mötestyp för de nya mötena")
    simport.set_defaults(run=_skype_import)

    audit = sub.add_parser("audit", help="granskningsloggen").add_subparsers(dest="action", required=True)
    verify_cmd = audit.add_parser("verify", help="kontrollera hashkedjan")
    verify_cmd.add_argument(
        "--anchor",
        help="POST:HASH från en tidigare kontroll; visar om poster har tagits bort i slutet av loggen",
    )
    verify_cmd.set_defaults(run=_audit_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """main runs the command line and returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        code: int = args.run(settings, args)
        return code
    except SettingsError as e:
        print(f"Fel i inställningarna: {e}", file=sys.stderr)
        return 2
    except InvalidInput as e:
        for f in e.fields:
            print(f"Fel ({f.field}): {f.message}", file=sys.stderr)
        return 2
    except VardmoteError as e:
        print(f"Fel: {e.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
