"""Admin page "Skypemöten": upload a calendar export, see the Skype meetings after the cut-off, rebook.

Three steps, administrators only, each posting the session's CSRF token:

1. ``GET /admin/skype``: the upload form (the file and "Brytdatum", by default
   1 June of this year, the seed's cut-off).
2. ``POST /admin/skype``: the file is read (vardmote.skype) and its Skype meetings
   listed with their personal data flags, each with a checkbox.
3. ``POST /admin/skype/boka-om``: the chosen meetings are rebooked for the chosen
   organiser and type; the page lists the new meetings and who to invite again.

Between steps 2 and 3 the page keeps no state on the server: the listing travels
in a hidden field (``underlag``), compressed and sealed with AES-GCM under a key
derived from the secret key, bound to the administrator and valid for
:data:`HANDOVER_TTL`. It carries no text of the Skype meetings that held
personal data (titles are the new titles; see Rebookable), and cannot be
altered: a tampered or expired one is refused and the file must be read again.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from vardmote.accounts.models import StaffSession, User
from vardmote.context import Context
from vardmote.errors import FieldError, InvalidInput
from vardmote.lib.tokens import Sealer
from vardmote.meetings.service import actor_of
from vardmote.meetings.types import list_types
from vardmote.skype.calendar_export import MAX_FILE_BYTES
from vardmote.skype.listing import Listing, find_skype_meetings
from vardmote.skype.rebooking import DEFAULT_TYPE, Outcome, Rebookable, rebook, rebooked_meetings
from vardmote.web.deps import Ctx, Db, PageSession, checked_form, field_errors, require_admin, text
from vardmote.web.templating import render

router = APIRouter(include_in_schema=False)

HANDOVER_TTL = dt.timedelta(hours=2)
"""How long a listed file may be rebooked from before it must be read again."""

MAX_ON_PAGE = 900
"""At most this many meetings are listed for rebooking at once: the form posts one field per
checkbox, and Starlette reads at most 1000 fields. The rest are listed after those are rebooked."""

HANDOVER_GONE = "Listan har gått ut eller kom inte härifrån. Läs in kalenderfilen igen."
NO_FILE = "Välj kalenderfilen (.ics) som sparades från Outlook."
BAD_CUTOFF = "Ange brytdatum som ÅÅÅÅ-MM-DD, t.ex. 2024-06-01."
NOTHING_CHOSEN = "Välj minst ett möte att boka om."


@dataclass(frozen=True)
class Handover:
    """Handover is what the listing page hands to "Boka om": the meetings and the counts shown."""

    cutoff: dt.date
    horizon: dt.date
    events: int
    cut_series: int
    unreadable: int
    items: list[Rebookable]
    left_out: int = 0
    """Meetings not yet rebooked beyond MAX_ON_PAGE, for the next round."""

    @classmethod
    def of(cls, listing: Listing, done: Collection[str]) -> Handover:
        """of takes the listing; of a longer one, the first MAX_ON_PAGE meetings not yet rebooked
        (done are the sources already rebooked)."""
        items = [Rebookable.of(m) for m in listing.meetings]
        left_out = 0
        if len(items) > MAX_ON_PAGE:
            waiting = [i for i in items if i.source not in done]
            items = waiting[:MAX_ON_PAGE]
            left_out = len(waiting) - len(items)
        return cls(
            listing.cutoff,
            listing.horizon,
            listing.events,
            listing.cut_series,
            listing.unreadable,
            items,
            left_out,
        )

    @property
    def flagged(self) -> int:
        return sum(1 for i in self.items if i.personal_data)

    @property
    def last_day(self) -> dt.date:
        return self.horizon - dt.timedelta(days=1)


def _sealer(ctx: Context) -> Sealer:
    # A key of its own, so a sealed listing can never be taken for a sealed token, nor the reverse.
    key = hmac.new(ctx.settings.effective_secret_key(), b"vardmote skype handover v1", hashlib.sha256)
    return Sealer(key.digest())


def seal(ctx: Context, user: User, handover: Handover, now: dt.datetime) -> str:
    """seal packs a handover for the hidden field, bound to user and valid for HANDOVER_TTL."""
    data = {
        "user": user.id,
        "expires": (now + HANDOVER_TTL).timestamp(),
        "cutoff": handover.cutoff.isoformat(),
        "horizon": handover.horizon.isoformat(),
        "counts": [handover.events, handover.cut_series, handover.unreadable, handover.left_out],
        "items": [i.to_json() for i in handover.items],
    }
    packed = zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 9)
    return base64.urlsafe_b64encode(_sealer(ctx).seal(base64.b64encode(packed).decode())).decode()


def unseal(ctx: Context, user: User, raw: str, now: dt.datetime) -> Handover:
    """unseal reads a sealed handover, or raises InvalidInput (field ``file``) if it is not ours,
    not this user's, or expired."""
    try:
        opened = _sealer(ctx).unseal(base64.urlsafe_b64decode(raw.encode()))
        if opened is None:
            raise ValueError("not sealed by us")
        data: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(opened)))
        if data["user"] != user.id or now.timestamp() > float(data["expires"]):
            raise ValueError("another user's, or expired")
        events, cut_series, unreadable, left_out = (int(n) for n in data["counts"])
        return Handover(
            dt.date.fromisoformat(data["cutoff"]),
            dt.date.fromisoformat(data["horizon"]),
            events,
            cut_series,
            unreadable,
            [Rebookable.from_json(i) for i in data["items"]],
            left_out,
        )
    except (ValueError, KeyError, TypeError, zlib.error):
        raise InvalidInput.one("file", HANDOVER_GONE) from None


def _default_cutoff(ctx: Context) -> str:
    return dt.date(dt.datetime.now(ctx.tz).year, 6, 1).isoformat()


def _choices(s: Db, row: StaffSession, form: FormData | None) -> dict[str, Any]:
    """_choices are the organiser field and the type select, with what was chosen (or the defaults)."""
    return {
        "types": list_types(s, bookable_only=True),
        "chosen_organiser": text(form, "organiser")[:100] if form is not None else row.user.username,
        "chosen_type": (text(form, "type_key") if form is not None else "") or DEFAULT_TYPE,
    }


def _page(
    request: Request,
    ctx: Context,
    s: Db,
    row: StaffSession,
    status: int = 200,
    *,
    cutoff: str,
    errors: dict[str, str] | None = None,
    handover: Handover | None = None,
    sealed: str = "",
    form: FormData | None = None,
    chosen: set[int] | None = None,
    outcomes: list[Outcome] | None = None,
    organiser: User | None = None,
) -> Response:
    done = {}
    if handover is not None and outcomes is None:
        done = rebooked_meetings(s, [i.source for i in handover.items])
    return render(
        request,
        "admin_skype.html",
        status,
        cutoff=cutoff,
        errors=errors or {},
        handover=handover,
        sealed=sealed,
        chosen=chosen,
        outcomes=outcomes,
        organiser=organiser,
        done=done,
        max_mb=MAX_FILE_BYTES // (1024 * 1024),
        max_on_page=MAX_ON_PAGE,
        **_choices(s, row, form),
    )


@router.get("/admin/skype")
def skype_form(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    require_admin(row)
    return _page(request, ctx, s, row, cutoff=_default_cutoff(ctx))


async def _upload(form: FormData) -> bytes:
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput.one("file", NO_FILE)
    # One byte over the limit is enough for read_calendar to refuse it; the rest is never read.
    return await upload.read(MAX_FILE_BYTES + 1)


def _cutoff(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput.one("cutoff", BAD_CUTOFF) from None


@router.post("/admin/skype")
async def skype_list(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    require_admin(row)
    form = await checked_form(request, row)
    upload: bytes | InvalidInput
    try:
        upload = await _upload(form)
    except InvalidInput as e:
        upload = e
    return await run_in_threadpool(_list, request, ctx, s, row, form, upload)


def _list(
    request: Request,
    ctx: Context,
    s: Session,
    row: StaffSession,
    form: FormData,
    upload: bytes | InvalidInput,
) -> Response:
    """_list reads the uploaded file and answers with what it holds: parsing and the database, in
    the thread pool."""
    raw_cutoff = text(form, "cutoff")[:20]
    errors: list[FieldError] = []
    cutoff = None
    try:
        cutoff = _cutoff(raw_cutoff)
    except InvalidInput as e:
        errors += e.fields
    try:
        if isinstance(upload, InvalidInput):
            raise upload
        data = upload
        if cutoff is not None:
            listing = find_skype_meetings(data, cutoff, ctx.tz, dt.datetime.now(ctx.tz).date())
    except InvalidInput as e:
        errors += e.fields
    if errors:
        return _page(request, ctx, s, row, 422, cutoff=raw_cutoff, errors=field_errors(InvalidInput(errors)))
    done = rebooked_meetings(s, [m.source for m in listing.meetings])
    handover = Handover.of(listing, done)
    sealed = seal(ctx, row.user, handover, dt.datetime.now(dt.UTC))
    chosen = {i for i, item in enumerate(handover.items) if item.source not in done}
    return _page(request, ctx, s, row, cutoff=raw_cutoff, handover=handover, sealed=sealed, chosen=chosen)


def _organiser(ctx: Context, s: Db, username: str) -> User:
    if not username.strip():
        raise InvalidInput.one("organiser", "Ange användarnamnet på den som ska äga de nya mötena.")
    user = s.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.active or (user.is_demo and not ctx.settings.demo):
        raise InvalidInput.one(
            "organiser",
            f"Det finns inget aktivt personalkonto med användarnamnet {username.strip()[:40]}.",
        )
    return user


def _chosen(form: FormData, count: int) -> set[int]:
    if text(form, "vilka") == "alla":
        return set(range(count))
    picked = {v for v in form.getlist("valda") if isinstance(v, str) and v.isascii() and v.isdigit()}
    return {int(v) for v in picked if int(v) < count}


@router.post("/admin/skype/boka-om")
async def skype_rebook(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    require_admin(row)
    form = await checked_form(request, row)
    return await run_in_threadpool(_rebook, request, ctx, s, row, form)


def _rebook(request: Request, ctx: Context, s: Session, row: StaffSession, form: FormData) -> Response:
    """_rebook books the chosen meetings anew: the database and the page, in the thread pool."""
    now = dt.datetime.now(dt.UTC)
    raw = text(form, "underlag")
    try:
        handover = unseal(ctx, row.user, raw, now)
    except InvalidInput as e:
        return _page(request, ctx, s, row, 422, cutoff=_default_cutoff(ctx), errors=field_errors(e))
    cutoff = handover.cutoff.isoformat()
    chosen = _chosen(form, len(handover.items))
    try:
        if not chosen:
            raise InvalidInput.one("valda", NOTHING_CHOSEN)
        organiser = _organiser(ctx, s, text(form, "organiser"))
        items = [item for i, item in enumerate(handover.items) if i in chosen]
        outcomes = rebook(ctx, s, organiser, items, text(form, "type_key"), actor_of(row.user))
    except InvalidInput as e:
        s.rollback()
        return _page(
            request,
            ctx,
            s,
            row,
            422,
            cutoff=cutoff,
            errors=field_errors(e),
            handover=handover,
            sealed=raw,
            form=form,
            chosen=chosen,
        )
    return _page(
        request,
        ctx,
        s,
        row,
        cutoff=cutoff,
        handover=handover,
        sealed=raw,
        form=form,
        outcomes=outcomes,
        organiser=organiser,
    )
