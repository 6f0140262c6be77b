"""The week view, ``GET /api/v1/meetings``: a staff member's meetings between two days.

It is the API's most frequent call (every calendar page of every clinician asks for it,
again and again), so it is answered twice over:

- :class:`WeekShortcut`, an ASGI layer in front of FastAPI, answers the usual case
  itself: a GET of that path with a valid session and a plain query (each parameter at
  most once, dates that are dates, a plain boolean). One trip to the thread pool, on
  one pooled connection without the checkout's ping (in autocommit on PostgreSQL), with
  no ORM session and no dependency solving: about half the CPU of the route below.
- Anything else goes on untouched to the FastAPI route (:func:`vardmote.web.api.list_meetings`):
  no or an expired session (401), a query FastAPI refuses or the dates do (422), a
  database that fails or a pooled connection found dropped (which the route, on a pinged
  connection, then answers as every route does). The route also documents the call in the
  OpenAPI description.

So the shortcut never answers differently from the route, only sooner: both build the
answer with :func:`week_out` from one query of plain rows, and the tests compare them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qsl

from pydantic import TypeAdapter
from sqlalchemy import Connection, and_, bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from vardmote.accounts.service import resolve_session_user
from vardmote.context import Context
from vardmote.db import UtcDateTime, utcnow
from vardmote.errors import InvalidInput
from vardmote.meetings import links
from vardmote.meetings.models import Meeting, MeetingLink, MeetingParticipant, MeetingType
from vardmote.web.api_bodies import MeetingOut, ParticipantOut
from vardmote.web.deps import session_token

PATH = "/api/v1/meetings"
LONGEST = 366
"""The longest span the week view shows, in days."""


def _day(raw: str | None, field: str) -> dt.date | None:
    if raw is None:
        return None
    try:
        day = dt.date.fromisoformat(raw)
        if not 1 < day.year < 9999:  # a week on either side must still be a date, in UTC too
            raise ValueError(raw)
        return day
    except ValueError:
        raise InvalidInput.one(field, "Ange datum som ÅÅÅÅ-MM-DD.") from None


def week_span(ctx: Context, from_: str | None, to: str | None) -> tuple[dt.datetime, dt.datetime]:
    """week_span is the span from day from_ up to (not including) day to, local days as
    ÅÅÅÅ-MM-DD; the default is the current week. InvalidInput names the field at fault."""
    first = _day(from_, "from")
    last = _day(to, "to")
    today = dt.datetime.now(ctx.tz).date()
    first = first or (today - dt.timedelta(days=today.weekday()))
    last = last or (first + dt.timedelta(days=7))
    if last <= first or (last - first).days > LONGEST:
        raise InvalidInput.one("to", "Slutdatum ska vara efter startdatum och högst ett år senare.")
    return dt.datetime.combine(first, dt.time(), ctx.tz), dt.datetime.combine(last, dt.time(), ctx.tz)


_meetings = Meeting.__table__
_types = MeetingType.__table__
_participants = MeetingParticipant.__table__
_links = MeetingLink.__table__
_WEEK = (
    select(
        _meetings.c.id,
        _meetings.c.title,
        _meetings.c.starts_at,
        _meetings.c.ends_at,
        _meetings.c.type_key,
        _meetings.c.series_id,
        _meetings.c.cancelled_at,
        _meetings.c.sequence,
        _types.c.label,
        _types.c.has_guest_link,
        _participants.c.id.label("participant_id"),
        _participants.c.address,
        _participants.c.required,
        _links.c.id.label("link_id"),
        _links.c.token_sealed,
    )
    .select_from(_meetings)
    .outerjoin(_types, _types.c.key == _meetings.c.type_key)
    .outerjoin(_participants, _participants.c.meeting_id == _meetings.c.id)
    .outerjoin(
        _links,
        and_(
            _links.c.meeting_id == _meetings.c.id,
            _links.c.kind == links.GENERAL,
            _links.c.revoked_at.is_(None),
        ),
    )
    .where(
        _meetings.c.organiser_id == bindparam("organiser_id"),
        _meetings.c.starts_at < bindparam("end", type_=UtcDateTime()),
        _meetings.c.ends_at > bindparam("start", type_=UtcDateTime()),
    )
    .order_by(_meetings.c.starts_at, _meetings.c.id, _participants.c.id, _links.c.id)
)
_WEEK_UNCANCELLED = _WEEK.where(_meetings.c.cancelled_at.is_(None))


def week_out(
    ctx: Context,
    conn: Connection,
    organiser_id: int,
    start: dt.datetime,
    end: dt.datetime,
    include_cancelled: bool,
) -> list[MeetingOut]:
    """week_out is what :func:`vardmote.web.api.meeting_out` makes of each of
    :func:`meetings.meetings_between`'s meetings, with :func:`links.general_links`'s general
    links, in one query of plain rows (no ORM objects): each meeting with its type, its
    participants and, outer-joined, its unrevoked general links (the newest wins, and only
    a protected meeting's counts). A link's guest address is shown while
    :func:`links.is_active` would say so."""
    rows = conn.execute(
        _WEEK if include_cancelled else _WEEK_UNCANCELLED,
        {"organiser_id": organiser_id, "start": start, "end": end},
    )
    now = utcnow()
    grace = dt.timedelta(minutes=ctx.settings.link_grace_minutes)
    location = f"Skyddat videomöte med {ctx.settings.organisation}"
    local = "%Y-%m-%dT%H:%M"
    found: dict[str, list[Any]] = {}
    for row in rows:
        found.setdefault(row.id, []).append(row)
    out: list[MeetingOut] = []
    for meeting_rows in found.values():
        row = meeting_rows[0]
        participants: dict[int, ParticipantOut] = {}
        link: Any = None
        for r in meeting_rows:
            if r.participant_id is not None and r.participant_id not in participants:
                participants[r.participant_id] = ParticipantOut(address=r.address, required=r.required)
            if r.link_id is not None and (link is None or link.link_id < r.link_id):
                link = r
        protected = row.type_key is not None
        guest = None
        if (
            link is not None
            and protected
            and row.cancelled_at is None
            and row.has_guest_link
            and now < row.ends_at + grace
        ):
            token = ctx.sealer.unseal(link.token_sealed)
            guest = ctx.url(f"/m/{token}") if token else None
        out.append(
            MeetingOut(
                id=row.id,
                title=row.title,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                starts_local=row.starts_at.astimezone(ctx.tz).strftime(local),
                ends_local=row.ends_at.astimezone(ctx.tz).strftime(local),
                type_key=row.type_key,
                type_label=row.label,
                location=location if protected else "",
                series_id=row.series_id,
                cancelled=row.cancelled_at is not None,
                sequence=row.sequence,
                participants=list(participants.values()),
                page_url=ctx.url(f"/moten/{row.id}"),
                host_url=ctx.url(f"/moten/{row.id}/starta"),
                guest_url=guest,
            )
        )
    return out


_PARAMETERS = frozenset({"from", "to", "include_cancelled"})
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_MEETINGS_JSON = TypeAdapter(list[MeetingOut])


def plain_query(ctx: Context, query_string: bytes) -> tuple[dt.datetime, dt.datetime, bool] | None:
    """plain_query is the span and include_cancelled of a query that the route would accept
    as it is, or None for any other (which the route then answers, e.g. with 422)."""
    given: dict[str, str] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in _PARAMETERS:  # FastAPI ignores the others too
            if name in given:
                return None
            given[name] = value
    include_cancelled = _BOOLEANS.get(given.get("include_cancelled", "false").lower())
    if include_cancelled is None or any(len(given.get(name, "")) > 10 for name in ("from", "to")):
        return None
    try:
        start, end = week_span(ctx, given.get("from"), given.get("to"))
    except InvalidInput:
        return None
    return start, end, include_cancelled


def _signed_in_week_json(
    ctx: Context, token: str, start: dt.datetime, end: dt.datetime, include_cancelled: bool
) -> bytes | None:
    """_signed_in_week_json is the week as the route's JSON, or None when token is no valid
    session; the sign-in check, its extension and the week's query on one connection."""
    with ctx.db.light_unit() as conn:
        user = resolve_session_user(ctx, conn, token)
        if user is None:
            return None
        return _MEETINGS_JSON.dump_json(week_out(ctx, conn, user.id, start, end, include_cancelled))


class WeekShortcut:
    """WeekShortcut answers the usual week view before FastAPI does (see the module)."""

    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == PATH:
            body = await self._answer(scope)
            if body is not None:
                headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope) -> bytes | None:
        token, _ = session_token(Request(scope))
        query = plain_query(self.ctx, scope.get("query_string", b""))
        if not token or query is None:
            return None
        async with self.ctx.db.request_slots():
            try:
                return await run_in_threadpool(_signed_in_week_json, self.ctx, token, *query)
            except SQLAlchemyError:  # the route answers, on a pinged connection, as every route does
                return None
