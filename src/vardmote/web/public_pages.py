"""Pages answered without staff sign-in: the start address, a guest link, the calendar feed
and the information pages ("Så fungerar det", "Villkor", "Så behandlar vi dina personuppgifter").

A guest link and a calendar feed carry their own secret token in the address.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vardmote.errors import VardmoteError
from vardmote.meetings import ical, links
from vardmote.web.api import ics_response
from vardmote.web.deps import Ctx, Db
from vardmote.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/kalender", status_code=303)


@router.get("/kalender/{token}.ics")
def feed(token: str, ctx: Ctx, s: Db) -> Response:
    return ics_response(ical.feed(ctx, s, token), "vardmote")


@router.get("/m/{token}")
def guest_link(request: Request, token: str, ctx: Ctx, s: Db) -> Response:
    try:
        link = links.resolve(ctx, s, token)
    except VardmoteError as e:
        return render(request, "link_gone.html", e.status, detail=e.message)
    response = render(request, "meeting_room.html", meeting=link.meeting, role="guest", display_name="")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/sa-fungerar-det")
def how_it_works(request: Request) -> HTMLResponse:
    return render(request, "how_it_works.html")


@router.get("/villkor")
def terms(request: Request) -> HTMLResponse:
    return render(request, "terms.html")


@router.get("/personuppgifter")
def privacy(request: Request) -> HTMLResponse:
    return render(request, "privacy.html")
