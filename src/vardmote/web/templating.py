"""Templating: the Jinja2 environment and the filters that show times in Swedish."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Undefined

from vardmote.context import Context
from vardmote.lib.timeutil import MONTHS, WEEKDAYS, WEEKDAYS_SHORT


class PrintedUndefined(Undefined):
    """PrintedUndefined lets a template test a missing value (``{% if error %}``) but refuses to
    print one: ``{{ t.key }}`` on something without ``key`` is a mistake, not an empty string."""

    __slots__ = ()

    def __str__(self) -> str:
        self._fail_with_undefined_error()
        return ""  # not reached


templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.undefined = PrintedUndefined


def _local(ctx: Context, moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(ctx.tz)


def when(ctx: Context, start: dt.datetime, end: dt.datetime) -> str:
    """when gives e.g. 'torsdag 27 november 2026, 09:00–09:30'."""
    a, b = _local(ctx, start), _local(ctx, end)
    day = f"{WEEKDAYS[a.weekday()]} {a.day} {MONTHS[a.month - 1]} {a.year}"
    if a.date() == b.date():
        return f"{day}, {a:%H:%M}–{b:%H:%M}"
    return f"{day} {a:%H:%M} – {WEEKDAYS_SHORT[b.weekday()]} {b.day} {MONTHS[b.month - 1]} {b:%H:%M}"


def input_value(ctx: Context, moment: dt.datetime) -> str:
    """input_value is moment as a datetime-local field value, in local time."""
    return _local(ctx, moment).strftime("%Y-%m-%dT%H:%M")


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    """render renders a page template with the context and the signed-in user."""
    ctx: Context = request.app.state.ctx
    values.setdefault("user", getattr(request.state, "user", None))
    values.setdefault("csrf", getattr(request.state, "csrf", ""))
    return templates.TemplateResponse(
        request,
        name,
        {
            "ctx": ctx,
            "organisation": ctx.settings.organisation,
            "when": lambda a, b: when(ctx, a, b),
            "hhmm": lambda m: _local(ctx, m).strftime("%H:%M"),
            "input_value": lambda m: input_value(ctx, m),
            **values,
        },
        status_code=status,
    )
