"""What the meeting page shows: the meeting, its guest links, "Skicka anslutningslänk" and a notice.

The meeting pages and the pages that send the link both answer with the meeting page,
the latter with the send form's errors (:mod:`vardmote.web.send_view`).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from vardmote.context import Context
from vardmote.invitations.templates import letter_text
from vardmote.meetings import ical, links
from vardmote.meetings.models import Meeting
from vardmote.meetings.types import limit_text, list_types
from vardmote.web.send_view import SendView, send_view
from vardmote.web.templating import render

SENT_NOTICES = {
    "inkorg": "Meddelandet är skickat till mottagarens inkorg.",
    "ombud": "Meddelandet är skickat till barnets inkorg. Patienten är under 13 år: vårdnadshavare läser "
    "det som ombud (”Agera ombud”).",
    "kalender": "Kalenderinbjudan är på väg. Om den inte kommer fram står det vid mottagaren nedan.",
    "borttagen": "Mottagaren är borttagen och länken fungerar inte längre.",
}
"""The notice on the meeting page after sending the link (``?skickat=``), by what was done."""


def type_cards(s: Session) -> list[dict[str, object]]:
    """type_cards are the bookable meeting types as "Välj mötestyp" shows them."""
    return [
        {"key": t.key, "label": t.label, "description": t.description, "limit": limit_text(t)}
        for t in list_types(s, bookable_only=True)
    ]


def show_meeting(
    request: Request,
    ctx: Context,
    s: Session,
    meeting: Meeting,
    status: int = 200,
    notice: str = "",
    error: str = "",
    send: SendView | None = None,
) -> Response:
    """show_meeting renders the meeting page; send replaces the send section (with its errors)."""
    all_links = links.links_of(s, meeting) if meeting.is_protected else []
    shown = [
        {"link": k, "url": links.guest_url(ctx, k), "active": links.is_active(ctx, k)} for k in all_links
    ]
    return render(
        request,
        "meeting.html",
        status,
        meeting=meeting,
        location=ical.location(ctx, meeting),
        body=ical.body_lines(ctx, s, meeting),
        links=shown,
        cards=type_cards(s),
        limit=limit_text(meeting.meeting_type) if meeting.meeting_type else None,
        notice=notice,
        error=error,
        send=send or (send_view(ctx, s, meeting) if meeting.is_protected else None),
        letter=letter_text(ctx.url("/inkorg")),
    )
