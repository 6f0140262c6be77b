"""OAuth: the token endpoint, ``POST /oauth/token``, where journal systems get access tokens.

The rule is :mod:`vardmote.clients.token`; here the form is read (on the event loop: it is
small and bounded by BodyLimits) and the rule runs in the thread pool with the database,
committed in the same trip, whether it issues a token or refuses (the refusal is counted for
the address, and audited as the rule says; an address that has failed too often gets 429 with
``Retry-After``).
Every answer is JSON with ``Cache-Control: no-store`` and ``Pragma: no-cache`` (RFC 6749
section 5.1), also a body that is too large or not a form.
"""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from vardmote.clients.token import TOKEN_PATH, TokenRefused, issue_token
from vardmote.web.deps import Ctx, Db, client_address, committed

router = APIRouter(include_in_schema=False)

FORM_TYPE = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _answer(body: dict[str, object], status: int) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


def _bad_request(description: str) -> JSONResponse:
    return _answer({"error": "invalid_request", "error_description": description}, 400)


@router.post(TOKEN_PATH)
async def token(request: Request, ctx: Ctx, s: Db) -> JSONResponse:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        return _bad_request(f"Send the token request as {FORM_TYPE}.")
    try:
        form = await request.form()
    except HTTPException as e:
        if e.status_code == 413:
            return _bad_request("The token request is too large.")
        raise
    fields: defaultdict[str, list[str]] = defaultdict(list)
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields[name].append(value)
    basic = request.headers.get("authorization", "").strip().lower().startswith("basic ")
    outcome = await committed(s, issue_token, ctx, s, dict(fields), client_address(request), basic_auth=basic)
    if isinstance(outcome, TokenRefused):
        answer = _answer(dict(outcome.body()), outcome.status)
        if outcome.retry_after is not None:
            answer.headers["Retry-After"] = str(outcome.retry_after)
        return answer
    return _answer(outcome.body(), 200)
