"""Calendar pages: the week calendar ("Kalender") and "Kalenderprenumeration".

The subscription page shows the staff member's secret feed address and renews it; the
feed itself is answered without sign-in (:mod:`vardmote.web.public_pages`).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vardmote.errors import InvalidInput
from vardmote.lib.timeutil import MONTHS, WEEKDAYS, week_start
from vardmote.meetings import ical
from vardmote.meetings import service as meetings
from vardmote.web.deps import Ctx, Db, PageSession, checked_form
from vardmote.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/kalender")
def calendar(request: Request, row: PageSession, ctx: Ctx, s: Db, vecka: str | None = None) -> Response:
    today = dt.datetime.now(ctx.tz).date()
    if vecka:
        try:
            monday = week_start(dt.date.fromisoformat(vecka[:10]))
            if not 1 < monday.year < 9999:  # the week before and after must still be dates
                raise ValueError(vecka)
        except ValueError:
            raise InvalidInput.one("vecka", "Veckan ska anges som ett datum, ÅÅÅÅ-MM-DD.") from None
    else:
        monday = week_start(today)
    start = dt.datetime.combine(monday, dt.time(), ctx.tz)
    found = meetings.meetings_between(ctx, s, row.user, start, start + dt.timedelta(days=7))
    days = []
    for i in range(7):
        day = monday + dt.timedelta(days=i)
        days.append(
            {
                "date": day,
                "name": f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]}",
                "today": day == today,
                "meetings": [m for m in found if m.starts_at.astimezone(ctx.tz).date() == day],
            }
        )
    week_no = monday.isocalendar().week
    sunday = monday + dt.timedelta(days=6)
    week_span = (
        f"{monday.day} {MONTHS[monday.month - 1]} – {sunday.day} {MONTHS[sunday.month - 1]} {sunday.year}"
    )
    return render(
        request,
        "calendar.html",
        week_span=week_span,
        days=days,
        week_no=week_no,
        monday=monday,
        prev=(monday - dt.timedelta(days=7)).isoformat(),
        next=(monday + dt.timedelta(days=7)).isoformat(),
    )


@router.get("/kalenderprenumeration")
def feed_page(request: Request, row: PageSession, ctx: Ctx) -> Response:
    return render(request, "feed.html", url=ical.feed_url(ctx, row.user))


@router.post("/kalenderprenumeration")
async def renew_feed(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    await checked_form(request, row)
    await run_in_threadpool(ical.renew_feed, ctx, s, row.user)
    return RedirectResponse("/kalenderprenumeration", status_code=303)
