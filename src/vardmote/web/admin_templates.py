"""Administration of the central templates ("Centrala mallar"): list, edit, preview, versions.

An administrator saves a new version of a template; earlier versions stay as they
were and can be read. The preview is rendered on the server with the seed's example
(2024-05-15 08:40, "Allergimottagning barn, Västerås"), through the same partial as the
patient's inbox, so it shows what a patient would see. "Förhandsgranska" shows typed
text without saving it.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from vardmote.accounts.models import StaffSession
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.errors import InvalidInput, NotFound
from vardmote.invitations import templates
from vardmote.invitations.models import MessageTemplate
from vardmote.meetings.service import actor_of
from vardmote.web.deps import Ctx, Db, PageSession, checked_form, require_admin, text
from vardmote.web.templating import render

router = APIRouter(include_in_schema=False)

_SWEDISH_ORDER = str.maketrans({"å": "{", "ä": "|", "ö": "}"})


def _swedish_key(value: str) -> str:
    """_swedish_key sorts å, ä, ö after z, in that order, as a Swedish list does."""
    return value.casefold().translate(_SWEDISH_ORDER)


def saved_by(actor: str) -> str:
    """saved_by is who saved a version, as the page shows it."""
    if actor == "system:seed":
        return "Vårdmöte (grundversion)"
    return actor.removeprefix("user:")


def _preview(ctx: Context, template: MessageTemplate, together: bool) -> templates.RenderedMessage:
    facts = templates.example_facts(ctx.settings.organisation, ctx.tz, together=together)
    return templates.render(template, facts)


def _saved_at(ctx: Context, moment: dt.datetime) -> str:
    return moment.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")


@router.get("/admin/mallar")
def template_list(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    require_admin(row)
    rows = sorted(templates.current_templates(s), key=lambda t: _swedish_key(t.title))
    return render(
        request,
        "admin_templates.html",
        rows=rows,
        letter=templates.letter_text(ctx.url("/inkorg")),
        saved_at=lambda m: _saved_at(ctx, m),
        saved_by=saved_by,
    )


def _edit_page(
    request: Request,
    ctx: Context,
    s: Db,
    key: str,
    *,
    together: bool = False,
    status: int = 200,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    previewing: bool = False,
) -> Response:
    newest = templates.current(s, key)
    shown = newest
    if previewing and typed is not None and not errors:
        # An unsaved copy with the typed text; never added to the session.
        shown = MessageTemplate(
            key=key,
            version=newest.version + 1,
            title=typed["title"],
            internal_name=typed["internal_name"],
            body=typed["body"].replace("\r\n", "\n"),
        )
    form = typed or {"title": newest.title, "internal_name": newest.internal_name, "body": newest.body}
    return render(
        request,
        "admin_template.html",
        status,
        template=newest,
        form=form,
        errors=errors or {},
        notice=notice,
        message=_preview(ctx, shown, together),
        together=together,
        previewing=previewing and shown is not newest,
        versions=templates.versions(s, key),
        placeholders=templates.PLACEHOLDER_HELP,
        clinic=templates.EXAMPLE_CLINIC,
        saved_at=lambda m: _saved_at(ctx, m),
        saved_by=saved_by,
    )


@router.get("/admin/mallar/{key}")
def template_form(
    request: Request, key: str, row: PageSession, ctx: Ctx, s: Db, tillsammans: int = 0, sparad: int = 0
) -> Response:
    require_admin(row)
    # Only a version that exists: the address cannot be made to announce anything else.
    notice = f"Version {sparad} är sparad." if 0 < sparad <= templates.current(s, key).version else ""
    return _edit_page(request, ctx, s, key, together=bool(tillsammans), notice=notice)


@router.post("/admin/mallar/{key}")
async def save_template(request: Request, key: str, row: PageSession, ctx: Ctx, s: Db) -> Response:
    require_admin(row)
    form = await checked_form(request, row)
    return await run_in_threadpool(_save, request, key, row, ctx, s, form)


def _save(
    request: Request, key: str, row: StaffSession, ctx: Context, s: Session, form: FormData
) -> Response:
    templates.current(s, key)  # a 404 for an unknown key before anything else
    typed = {name: text(form, name) for name in ("title", "internal_name", "body")}
    together = text(form, "tillsammans") == "1"
    action = text(form, "action")
    previewing = action in {"preview", "preview-toggle"}
    if action == "preview-toggle":
        together = not together  # the preview's "Visa med/utan" keeps the typed text
    try:
        if previewing:
            body = typed["body"].replace("\r\n", "\n").strip()
            templates.check_template(typed["title"], typed["internal_name"], body, utcnow().date())
        else:
            saved = templates.save_version(
                s, actor_of(row.user), key, typed["title"], typed["internal_name"], typed["body"]
            )
    except InvalidInput as e:
        s.rollback()
        errors: dict[str, str] = {}
        for f in e.fields:
            errors.setdefault(f.field, f.message)
        return _edit_page(request, ctx, s, key, together=together, status=422, typed=typed, errors=errors)
    if previewing:
        return _edit_page(request, ctx, s, key, together=together, typed=typed, previewing=True)
    return RedirectResponse(f"/admin/mallar/{key}?sparad={saved.version}", status_code=303)


@router.get("/admin/mallar/{key}/version/{number}")
def template_version(
    request: Request, key: str, number: str, row: PageSession, ctx: Ctx, s: Db, tillsammans: int = 0
) -> Response:
    require_admin(row)
    if not (number.isascii() and number.isdigit()) or len(number) > 9:
        raise NotFound("Den versionen av mallen finns inte.")
    shown = templates.version_of(s, key, int(number))
    return render(
        request,
        "admin_template_version.html",
        template=shown,
        newest=templates.current(s, key),
        message=_preview(ctx, shown, bool(tillsammans)),
        together=bool(tillsammans),
        clinic=templates.EXAMPLE_CLINIC,
        saved_at=lambda m: _saved_at(ctx, m),
        saved_by=saved_by,
    )
