"""Problems: every error becomes RFC 9457 problem JSON (API) or a Swedish page.

The service layer raises :class:`~vardmote.errors.VardmoteError`; here it
meets the web. Requests under ``/api/`` get ``application/problem+json`` with
``type``, ``title``, ``status``, ``detail`` and, for wrong fields, ``errors``
(one ``{field, message}`` each). Pages get an error page, except that a page
needing sign-in sends the browser to the sign-in page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vardmote.errors import InvalidInput, NotSignedIn, TooManyAttempts, VardmoteError
from vardmote.web.templating import render

log = logging.getLogger("vardmote.web")

_HTTP_TEXT = {
    400: ("bad-request", "Felaktig begäran", "Begäran kunde inte tolkas."),
    404: ("not-found", "Hittades inte", "Sidan finns inte."),
    405: (
        "method-not-allowed",
        "Metoden stöds inte",
        "Den här adressen tar inte emot det anropet.",
    ),
    413: ("too-large", "För stor begäran", "Begäran är för stor."),
    415: ("unsupported-media-type", "Fel innehållstyp", "Skicka JSON (application/json)."),
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """problem builds an application/problem+json answer."""
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/healthz"


def _error_page(
    request: Request, status: int, title: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    # A patient in the inbox sees its own calm layout, never the staff pages' header.
    template = "inbox_error.html" if request.url.path.startswith("/inkorg") else "error.html"
    response = render(request, template, status, title=title, detail=detail, page=None)
    if headers:
        response.headers.update(headers)
    return response


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """install registers the error handlers on app."""

    @app.exception_handler(VardmoteError)
    async def _vardmote_error(request: Request, exc: VardmoteError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
        if _is_api(request):
            fields = (
                [{"field": f.field, "message": f.message} for f in exc.fields]
                if isinstance(exc, InvalidInput)
                else None
            )
            return problem(exc.status, exc.slug, exc.title, exc.message, fields, headers)
        if isinstance(exc, NotSignedIn):
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            return RedirectResponse(f"/logga-in?nasta={quote(target, safe='')}", status_code=303)
        return _error_page(request, exc.status, exc.title, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"field": _field_name(e.get("loc", ())), "message": _swedish(e)} for e in exc.errors()]
        if _is_api(request):
            return problem(
                422,
                "invalid-input",
                "Uppgifterna behöver rättas",
                "Rätta uppgifterna och försök igen.",
                errors,
            )
        return _error_page(
            request,
            400,
            "Felaktig begäran",
            "Sidan fick uppgifter den inte kunde tolka. Gå tillbaka och försök igen.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        slug, title, detail = _HTTP_TEXT.get(exc.status_code, ("error", "Fel", "Något gick fel."))
        if _is_api(request):
            return problem(exc.status_code, slug, title, detail, headers=exc.headers)
        return _error_page(request, exc.status_code, title, detail, exc.headers)

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> Response:
        # A last line of defence: a value the database cannot store (the
        # validators should have refused it). The transaction is rolled back.
        log.warning("database refused a value on %s", getattr(request.scope.get("route"), "path", "?"))
        detail = "Uppgifterna innehåller tecken som inte kan sparas. Inget har ändrats."
        if _is_api(request):
            return problem(422, "invalid-input", "Uppgifterna behöver rättas", detail)
        return _error_page(request, 422, "Uppgifterna behöver rättas", detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # The route's template, not the path: paths can carry link and feed tokens.
        route = request.scope.get("route")
        log.exception("unexpected error on %s %s", request.method, getattr(route, "path", "?"))
        detail = "Ett oväntat fel inträffade. Inget har ändrats. Försök igen om en stund."
        if _is_api(request):
            return problem(500, "internal-error", "Internt fel", detail)
        return _error_page(request, 500, "Internt fel", detail)


def _swedish(error: Any) -> str:
    kind = str(error.get("type", ""))
    if kind == "missing":
        return "Uppgiften saknas."
    if kind in {"json_invalid", "json_type"}:
        return "Innehållet är inte giltig JSON."
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "Uppgiften har fel typ."
    if kind == "extra_forbidden":
        return "Okänd uppgift."
    if "too_long" in kind or "too_short" in kind or kind in {"greater_than_equal", "less_than_equal"}:
        return "Värdet är utanför det tillåtna."
    return "Uppgiften är ogiltig."
