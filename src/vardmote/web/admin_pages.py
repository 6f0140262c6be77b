"""Admin pages: "Mötestyper" (the configurable participant limits) and "Granskningslogg".

Administrators only. "Mallar" and "Skypemöten" have their own modules
(:mod:`vardmote.web.admin_templates`, :mod:`vardmote.web.admin_skype`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from vardmote.accounts.models import StaffSession
from vardmote.audit.log import verify
from vardmote.audit.models import AuditEntry
from vardmote.errors import InvalidInput
from vardmote.meetings import service as meetings
from vardmote.meetings.types import MAX_CONFIGURABLE_LIMIT, list_types, set_limit
from vardmote.web.deps import Db, PageSession, checked_form, require_admin, text
from vardmote.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/admin/motestyper")
def admin_types(request: Request, row: PageSession, s: Db) -> Response:
    require_admin(row)
    return render(request, "admin_types.html", types=list_types(s), errors={}, notice="")


@router.post("/admin/motestyper/{key}")
async def admin_set_limit(request: Request, key: str, row: PageSession, s: Db) -> Response:
    require_admin(row)
    form = await checked_form(request, row)
    return await run_in_threadpool(_set_limit, request, key, row, s, form)


def _set_limit(request: Request, key: str, row: StaffSession, s: Session, form: FormData) -> Response:
    raw = text(form, "participant_limit").strip()
    try:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
            raise InvalidInput.one(
                "participant_limit",
                f"Deltagarbegränsningen ska vara ett heltal från 1 till {MAX_CONFIGURABLE_LIMIT}.",
            )
        set_limit(s, meetings.actor_of(row.user), key, int(raw))
    except InvalidInput as e:
        s.rollback()
        return render(
            request,
            "admin_types.html",
            422,
            types=list_types(s),
            errors={key: e.fields[0].message},
            typed={key: raw[:10]},
            notice="",
        )
    return render(
        request,
        "admin_types.html",
        types=list_types(s),
        errors={},
        notice="Deltagarbegränsningen är sparad.",
    )


@router.get("/admin/granskning")
def admin_audit(request: Request, row: PageSession, s: Db) -> Response:
    require_admin(row)
    entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(100)))
    return render(request, "admin_audit.html", verdict=verify(s), entries=entries)
