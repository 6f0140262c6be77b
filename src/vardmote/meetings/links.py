"""Guest links: made, shown again to staff, resolved for guests, revoked.

A link's token is 256 random bits (:mod:`vardmote.lib.tokens`); the database
keeps its hash and a sealed copy. A link works from when it is made until the
meeting's end plus ``link_grace_minutes``, unless it is revoked, the meeting
is cancelled, or the meeting is no longer protected. Internal meetings never
have one (the type's ``has_guest_link``).

What a guest sees never tells whether a meeting exists: a token that matches
nothing is "not found" (404); one that matched a link that no longer works is
"gone" (410), with the same text for every reason.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from vardmote.audit.log import record
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.errors import Conflict, InvalidInput, LinkGone, NotFound
from vardmote.lib.text import has_control_characters
from vardmote.lib.tokens import hash_token, looks_like_token, new_token
from vardmote.meetings.events import LinkRevoked
from vardmote.meetings.models import Meeting, MeetingLink

GENERAL = "general"
RECIPIENT = "recipient"

LINK_NOT_FOUND = (
    "Länken fungerar inte. Kontrollera att du har kopierat hela länken, eller kontakta din mottagning."
)
LINK_GONE = (
    "Länken gäller inte längre. Mötet kan vara avslutat eller ändrat. "
    "Kontakta din mottagning om du behöver en ny länk."
)


def expires_at(ctx: Context, meeting: Meeting) -> dt.datetime:
    """expires_at is when every link of meeting stops working."""
    return meeting.ends_at + dt.timedelta(minutes=ctx.settings.link_grace_minutes)


def is_active(ctx: Context, link: MeetingLink, now: dt.datetime | None = None) -> bool:
    """is_active tells whether link still lets a guest in."""
    now = now or utcnow()
    meeting = link.meeting
    return (
        link.revoked_at is None
        and meeting.cancelled_at is None
        and meeting.meeting_type is not None
        and meeting.meeting_type.has_guest_link
        and now < expires_at(ctx, meeting)
    )


def make_link(
    ctx: Context,
    s: Session,
    meeting: Meeting,
    actor: str,
    kind: str = GENERAL,
    recipient: str | None = None,
) -> MeetingLink:
    """make_link creates a guest link for a protected meeting whose type allows one."""
    if meeting.meeting_type is None:
        raise Conflict("Mötet är inte ett skyddat videomöte. Välj en mötestyp först.")
    if not meeting.meeting_type.has_guest_link:
        raise Conflict("Den här mötestypen har ingen gästlänk: bara inloggad personal kan ansluta.")
    token = new_token()
    link = MeetingLink(
        meeting_id=meeting.id,
        kind=kind,
        recipient=recipient,
        token_hash=hash_token(token),
        token_sealed=ctx.sealer.seal(token),
        created_at=utcnow(),
    )
    link.meeting = meeting
    s.add(link)
    s.flush()
    record(s, actor, "link.created", meeting.id, {"link": link.id, "kind": kind})
    return link


MAX_RECIPIENT = 60
RECIPIENT_HELP = "Beskriv mottagaren med en roll, t.ex. 'Tolk' eller 'Närstående 1', högst 60 tecken."


def make_recipient_link(
    ctx: Context, s: Session, meeting: Meeting, actor: str, recipient: str
) -> MeetingLink:
    """make_recipient_link makes a personal link, so that each invited person has their own
    (revocable on its own; one link is one person in the room). recipient is a role, not
    a name: the label is shown to hosts and kept with the link."""
    label = " ".join(recipient.split())
    if not label or len(label) > MAX_RECIPIENT or has_control_characters(label):
        raise InvalidInput.one("recipient", RECIPIENT_HELP)
    if meeting.cancelled_at is not None:
        raise InvalidInput.one("meeting", "Mötet är avbokat och kan inte ändras.")
    return make_link(ctx, s, meeting, actor, RECIPIENT, label)


def links_of(s: Session, meeting: Meeting) -> list[MeetingLink]:
    """links_of lists a meeting's links, oldest first."""
    return list(
        s.scalars(select(MeetingLink).where(MeetingLink.meeting_id == meeting.id).order_by(MeetingLink.id))
    )


def general_link(ctx: Context, s: Session, meeting: Meeting) -> MeetingLink | None:
    """general_link returns the meeting's unrevoked general link, if any."""
    return general_links(s, [meeting]).get(meeting.id)


def general_links(s: Session, meetings: list[Meeting]) -> dict[str, MeetingLink]:
    """general_links finds the working general link of each meeting in one query."""
    ids = [m.id for m in meetings if m.is_protected]
    found: dict[str, MeetingLink] = {}
    if not ids:
        return found
    rows = s.scalars(
        select(MeetingLink)
        .where(MeetingLink.meeting_id.in_(ids), MeetingLink.kind == GENERAL, MeetingLink.revoked_at.is_(None))
        .order_by(MeetingLink.id)
    )
    for link in rows:
        found[link.meeting_id] = link  # the newest wins, as in general_link
    return found


def guest_url(ctx: Context, link: MeetingLink) -> str | None:
    """guest_url is the address a guest opens; None if sealed under an old key."""
    token = ctx.sealer.unseal(link.token_sealed)
    return ctx.url(f"/m/{token}") if token else None


def revoke(ctx: Context, s: Session, link: MeetingLink, actor: str) -> None:
    """revoke stops one link from working; revoking twice changes nothing."""
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        record(s, actor, "link.revoked", link.meeting_id, {"link": link.id})
        ctx.events.publish(s, LinkRevoked(link.meeting_id, link.id, actor))


def revoke_all(ctx: Context, s: Session, meeting: Meeting, actor: str) -> None:
    """revoke_all revokes every link of meeting."""
    for link in links_of(s, meeting):
        revoke(ctx, s, link, actor)


def renew_general_link(ctx: Context, s: Session, meeting: Meeting, actor: str) -> MeetingLink:
    """renew_general_link revokes the general link and makes a new one."""
    old = general_link(ctx, s, meeting)
    if old is not None:
        revoke(ctx, s, old, actor)
    return make_link(ctx, s, meeting, actor)


def resolve(ctx: Context, s: Session, token: str) -> MeetingLink:
    """resolve returns the working link for token, or raises NotFound / LinkGone."""
    if not looks_like_token(token):
        raise NotFound(LINK_NOT_FOUND)
    link = s.scalar(select(MeetingLink).where(MeetingLink.token_hash == hash_token(token)))
    if link is None:
        raise NotFound(LINK_NOT_FOUND)
    if not is_active(ctx, link):
        raise LinkGone(LINK_GONE)
    return link
