"""Administration of the journal systems ("Journalsystem"): list, register, change keys, revoke.

Administrators only; the forms carry the session's CSRF token like every admin form. A
journal system is registered with its name, its scopes and its public keys pasted as a JWKS
(:mod:`vardmote.clients.service` checks them); the page then shows the ``client_id`` to give
the journal system. "Byt nycklar" replaces an active journal system's keys (a key rotation):
the old ones stop working at once. A pasted text with a private key is refused and not shown
again: the field comes back empty, so the secret is not sent back and forth once more.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from vardmote.accounts.models import StaffSession
from vardmote.clients.keys import JWKS_HELP, key_ids
from vardmote.clients.models import ApiClient
from vardmote.clients.scopes import EXAMPLE, GRAMMAR_HELP
from vardmote.clients.service import InvalidClient, list_clients, replace_keys, revoke_client
from vardmote.clients.service import add_client as register
from vardmote.clients.token import TOKEN_PATH
from vardmote.context import Context
from vardmote.errors import NotFound
from vardmote.meetings.service import actor_of
from vardmote.web.deps import Ctx, Db, PageSession, checked_form, field_errors, require_admin, text
from vardmote.web.templating import render

router = APIRouter(include_in_schema=False)

PAGE = "/admin/klienter"
KEYS_FIELDS = {"name": "klient", "jwks": "nya_nycklar"}
"""The "Byt nycklar" form's fields, by the service's names for them."""
CHOOSE_CLIENT = "Välj vilket journalsystem som ska få nya nycklar."


def _page(
    request: Request,
    ctx: Context,
    s: Session,
    *,
    status: int = 200,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    added: ApiClient | None = None,
    revoked: ApiClient | None = None,
    keys_typed: dict[str, str] | None = None,
    keys_errors: dict[str, str] | None = None,
    keys_changed: ApiClient | None = None,
) -> Response:
    return render(
        request,
        "admin_clients.html",
        status,
        clients=list_clients(s),
        form=typed or {"name": "", "scopes": EXAMPLE, "jwks": ""},
        errors=errors or {},
        added=added,
        revoked=revoked,
        keys_form=keys_typed or {"klient": "", "nya_nycklar": ""},
        keys_errors=keys_errors or {},
        keys_changed=keys_changed,
        kids=_kids,
        token_minutes=max(1, ctx.settings.oauth_token_seconds // 60),
        token_url=ctx.url(TOKEN_PATH),
        scope_help=GRAMMAR_HELP,
        jwks_help=JWKS_HELP,
        local_time=lambda moment: _local(ctx, moment),
    )


def _local(ctx: Context, moment: dt.datetime) -> str:
    return moment.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")


def _kids(client: ApiClient) -> str:
    """_kids names a client's registered keys by their kid, for the page."""
    return ", ".join(key_ids(client.jwks))


def _by_id(s: Session, raw: str) -> ApiClient | None:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        return None
    return s.get(ApiClient, int(raw))


@router.get(PAGE)
def client_list(
    request: Request,
    row: PageSession,
    ctx: Ctx,
    s: Db,
    tillagd: str = "",
    aterkallad: str = "",
    nycklar: str = "",
) -> Response:
    require_admin(row)
    return _page(
        request,
        ctx,
        s,
        added=_by_id(s, tillagd),
        revoked=_by_id(s, aterkallad),
        keys_changed=_by_id(s, nycklar),
    )


@router.post(PAGE)
async def client_add(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    require_admin(row)
    form = await checked_form(request, row)
    return await run_in_threadpool(_add, request, row, ctx, s, form)


def _add(request: Request, row: StaffSession, ctx: Context, s: Session, form: FormData) -> Response:
    typed = {name: text(form, name) for name in ("name", "scopes", "jwks")}
    try:
        client = register(s, typed["name"], typed["jwks"], typed["scopes"], actor=actor_of(row.user))
    except InvalidClient as e:
        s.rollback()
        if e.private_key:
            typed["jwks"] = ""  # a private key is not sent back to the browser
        return _page(request, ctx, s, status=422, typed=typed, errors=field_errors(e))
    return RedirectResponse(f"{PAGE}?tillagd={client.id}", status_code=303)


@router.post(PAGE + "/nycklar")
async def client_keys(request: Request, row: PageSession, ctx: Ctx, s: Db) -> Response:
    require_admin(row)
    form = await checked_form(request, row)
    return await run_in_threadpool(_replace_keys, request, row, ctx, s, form)


def _replace_keys(request: Request, row: StaffSession, ctx: Context, s: Session, form: FormData) -> Response:
    typed = {name: text(form, name) for name in KEYS_FIELDS.values()}
    client = _by_id(s, typed["klient"])
    if client is None or not client.active:
        errors = {"klient": CHOOSE_CLIENT}
        return _page(request, ctx, s, status=422, keys_typed=typed, keys_errors=errors)
    try:
        replace_keys(s, client.name, typed["nya_nycklar"], actor=actor_of(row.user))
    except InvalidClient as e:
        s.rollback()
        if e.private_key:
            typed["nya_nycklar"] = ""  # a private key is not sent back to the browser
        errors = {KEYS_FIELDS.get(name, name): message for name, message in field_errors(e).items()}
        return _page(request, ctx, s, status=422, keys_typed=typed, keys_errors=errors)
    return RedirectResponse(f"{PAGE}?nycklar={client.id}", status_code=303)


@router.post(PAGE + "/{client_id}/aterkalla")
async def client_revoke(request: Request, client_id: str, row: PageSession, s: Db) -> Response:
    require_admin(row)
    await checked_form(request, row)
    return await run_in_threadpool(_revoke, client_id, row, s)


def _revoke(client_id: str, row: StaffSession, s: Session) -> Response:
    client = _by_id(s, client_id)
    if client is None:
        raise NotFound("Journalsystemet finns inte.")
    if client.active:
        revoke_client(s, client.name, actor=actor_of(row.user))
    return RedirectResponse(f"{PAGE}?aterkallad={client.id}", status_code=303)
