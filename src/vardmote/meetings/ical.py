"""Calendar export: a meeting as an .ics file, and a per-user feed.

The feed is reached by a secret address (``/kalender/<token>.ics``) that a
calendar program polls without signing in; the token is 256 random bits,
stored hashed and sealed like guest links, and can be replaced at any time,
which stops the old address. Events carry the title, times, location and the
body lines of a protected meeting; no participant addresses, so a calendar
that leaks leaks no one's contact details.
"""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from vardmote.accounts.models import User
from vardmote.audit.log import record
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.errors import NotFound
from vardmote.lib.tokens import hash_token, looks_like_token, new_token
from vardmote.meetings import links
from vardmote.meetings.models import Meeting

FEED_PAST = dt.timedelta(days=31)
FEED_AHEAD = dt.timedelta(days=366)
FEED_NOT_FOUND = "Kalenderadressen finns inte. Hämta en ny adress under Kalenderprenumeration."


def location(ctx: Context, meeting: Meeting) -> str:
    """location is the calendar location of a protected meeting, empty otherwise."""
    return f"Skyddat videomöte med {ctx.settings.organisation}" if meeting.is_protected else ""


def body_lines(ctx: Context, s: Session, meeting: Meeting) -> list[tuple[str, str | None]]:
    """body_lines are the protected meeting's body: (text, address or None)."""
    if not meeting.is_protected:
        return []
    link = links.general_link(ctx, s, meeting)
    join = links.guest_url(ctx, link) if link is not None else None
    lines: list[tuple[str, str | None]] = [
        (
            f"Skyddat videomöte är {ctx.settings.organisation}s videomötestjänst för digitala "
            "möten där känsliga personuppgifter hanteras.",
            None,
        ),
    ]
    if join is not None:
        lines.append(("» Anslut till videomötet", join))
    lines += [
        ("» Så fungerar det", ctx.url("/sa-fungerar-det")),
        ("» Så behandlar vi dina personuppgifter", ctx.url("/personuppgifter")),
    ]
    return lines


def _event(ctx: Context, s: Session, meeting: Meeting) -> Event:
    event = Event()
    event.add("uid", f"{meeting.id}@vardmote")
    event.add("dtstamp", utcnow())
    event.add("dtstart", meeting.starts_at)
    event.add("dtend", meeting.ends_at)
    event.add("summary", meeting.title)
    event.add("sequence", meeting.sequence)
    event.add("status", "CANCELLED" if meeting.cancelled_at else "CONFIRMED")
    where = location(ctx, meeting)
    if where:
        event.add("location", where)
        lines = body_lines(ctx, s, meeting)
        event.add("description", "\n".join(f"{text} {url}" if url else text for text, url in lines))
        event.add("url", ctx.url(f"/moten/{meeting.id}"))
    return event


def calendar(ctx: Context, s: Session, meetings: list[Meeting], name: str) -> bytes:
    """calendar renders meetings as one iCalendar (UTF-8, CRLF line ends)."""
    cal = Calendar()
    cal.add("prodid", "-//Vårdmöte//vardmote//SV")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for meeting in meetings:
        cal.add_component(_event(ctx, s, meeting))
    data: bytes = cal.to_ical()
    return data


def feed_url(ctx: Context, user: User) -> str | None:
    """feed_url is the user's feed address, or None before one is made."""
    if user.feed_token_sealed is None:
        return None
    token = ctx.sealer.unseal(user.feed_token_sealed)
    return ctx.url(f"/kalender/{token}.ics") if token else None


def renew_feed(ctx: Context, s: Session, user: User) -> str:
    """renew_feed gives user a new feed address; the old one stops working."""
    token = new_token()
    user.feed_token_hash = hash_token(token)
    user.feed_token_sealed = ctx.sealer.seal(token)
    record(s, f"user:{user.username}", "calendar_feed.renewed")
    return ctx.url(f"/kalender/{token}.ics")


def feed(ctx: Context, s: Session, token: str) -> bytes:
    """feed renders the calendar of the user whose feed token this is."""
    user = None
    if looks_like_token(token):
        user = s.scalar(select(User).where(User.feed_token_hash == hash_token(token)))
    if user is None or not user.active or (user.is_demo and not ctx.settings.demo):
        raise NotFound(FEED_NOT_FOUND)
    now = utcnow()
    meetings = list(
        s.scalars(
            select(Meeting)
            .where(
                Meeting.organiser_id == user.id,
                Meeting.ends_at > now - FEED_PAST,
                Meeting.starts_at < now + FEED_AHEAD,
            )
            .order_by(Meeting.starts_at)
        )
    )
    return calendar(ctx, s, meetings, f"Vårdmöte – {user.display_name}")
