"""FHIR API: the journal systems' FHIR R4 endpoint under ``/fhir/r4`` (docs/fhir.md).

=======================================  ==============================================  =======
call                                     what                                            scope
=======================================  ==============================================  =======
``GET /fhir/r4/metadata``                the CapabilityStatement                          none
``GET /fhir/r4/.well-known/smart-configuration``  where and how to get a token               none
``POST /fhir/r4/Appointment``            book (201, Location, ETag)                      c
``GET /fhir/r4/Appointment/{id}``        read                                            r
``GET …/Appointment/{id}/_history/{v}``  vread: the current version only (else 404)      r
``GET /fhir/r4/Appointment?…``           search, a searchset Bundle                      s
``POST /fhir/r4/Appointment/_search``    the same search, parameters in a form body      s
``PUT /fhir/r4/Appointment/{id}``        move, cancel (``status: cancelled``), If-Match   u
=======================================  ==============================================  =======

Answers are JSON only: a ``_format`` or an ``Accept`` header that asks for anything else (XML)
gets 406. ``POST …/_search`` keeps the personnummer out of URLs, and so out of access logs and
proxies; its Bundle's links say where to POST the same form again (``_offset`` in the query).

The routes are thin: the bearer check (:func:`vardmote.clients.auth.authorized_client`) and
:mod:`vardmote.fhir.service` (or :mod:`vardmote.fhir.finding`) run in one trip to the thread
pool, in one transaction of the route's own (:func:`in_transaction`, not the shared session
dependency: an error must roll it back before :class:`FhirRoute` turns the error into an answer,
and a dependency's session would end only after that), and the answer's resource is built
there too, before the commit (a search's Bundle is written to JSON there as well). Bodies are
``application/fhir+json`` (``application/json`` is taken as well) and are bounded by
:class:`~vardmote.web.body_limits.BodyLimits` like every other body; the security headers
apply as everywhere.

Every error under ``/fhir/r4`` — the service's, the bearer check's, a body too large, a path
or method that does not exist, an unexpected one — is answered by :class:`FhirRoute` as an
OperationOutcome, never as the problem JSON or the error page of the rest of the service. A
refused call of a known client is audited as ``fhir.appointment.refused`` in a transaction
of its own (the call's own was rolled back): its status and issue type, nothing it sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from email.utils import format_datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntrySearch, BundleLink
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from vardmote import __version__
from vardmote.audit.log import record
from vardmote.clients.auth import ScopeMissing, authorized_client, bearer_token
from vardmote.clients.models import AccessToken, ApiClient
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.errors import VardmoteError
from vardmote.fhir import finding, service
from vardmote.fhir.appointments import appointment_resource
from vardmote.fhir.capability import capability_statement, smart_configuration
from vardmote.fhir.models import JournalAppointment
from vardmote.fhir.outcome import FhirError, IssueType, from_vardmote_error, operation_outcome
from vardmote.fhir.search import JSON_FORMATS
from vardmote.lib.tokens import hash_token
from vardmote.web.deps import Ctx

log = logging.getLogger("vardmote.web")

FHIR_JSON = "application/fhir+json"
ACCEPTED_TYPES = frozenset({FHIR_JSON, "application/json"})
"""The request bodies taken (the media type, whatever its parameters)."""
ANSWERABLE = ACCEPTED_TYPES | {"*/*", "application/*"}
"""Accept media ranges an answer in application/fhir+json satisfies."""
FORM = "application/x-www-form-urlencoded"
RESOURCE = "Appointment"
PREFIX = "/fhir/r4"
T = TypeVar("T")


async def in_transaction(ctx: Context, work: Callable[[Session], T]) -> T:
    """in_transaction runs work in one transaction in the thread pool, after waiting for one of
    the database's request slots on the loop (as every request does, see deps.db_session):
    committed if work returns, rolled back if it raises, before the error goes on."""
    async with ctx.db.request_slots():

        def run() -> T:
            with ctx.db.session() as s:
                return work(s)

        return await run_in_threadpool(run)


def fhir_json(resource: BaseModel) -> str:
    """fhir_json is a resource as the model library writes it, without empty elements."""
    return resource.model_dump_json(exclude_none=True)


def fhir_response(
    resource: BaseModel | str, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """fhir_response is a resource (or its fhir_json, written in the thread pool already) as
    application/fhir+json."""
    content = resource if isinstance(resource, str) else fhir_json(resource)
    return Response(content, status_code=status, media_type=FHIR_JSON, headers=headers)


def outcome_response(error: FhirError) -> Response:
    """outcome_response answers error with its status and OperationOutcome."""
    return fhir_response(operation_outcome(error), error.status, error.headers or None)


_TOO_LARGE = FhirError(413, IssueType.TOO_LONG, "Begäran är för stor.", "The request body is too large.")
_UNEXPECTED = FhirError(
    500,
    IssueType.EXCEPTION,
    "Ett oväntat fel inträffade. Inget har ändrats. Försök igen om en stund.",
    "An unexpected error occurred. Nothing was changed. Try again in a while.",
)


class FhirRoute(APIRoute):
    """FhirRoute answers every error of a FHIR route as an OperationOutcome.

    The error reaches it after the route's transaction was rolled back (:func:`in_transaction`);
    a refusal of a call whose client was known is then audited in a transaction of its own."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except FhirError as e:
                error = e
            except VardmoteError as e:
                error = from_vardmote_error(e)
            except StarletteHTTPException as e:
                error = _TOO_LARGE if e.status_code == 413 else _http_error(e.status_code)
            except RequestValidationError:
                error = FhirError(400, IssueType.INVALID, "Begäran kunde inte tolkas.", "Malformed request.")
            except DataError:
                log.warning("database refused a value on %s", self.path)
                error = FhirError(
                    422,
                    IssueType.INVALID,
                    "Uppgifterna innehåller tecken som inte kan sparas. Inget har ändrats.",
                    "The data holds characters that cannot be stored. Nothing was changed.",
                )
            except Exception:
                log.exception("unexpected error on %s %s", request.method, self.path)
                error = _UNEXPECTED
            await _audit_refusal(request, error)
            return outcome_response(error)

        return answer


def _http_error(status: int) -> FhirError:
    return FhirError(status, IssueType.INVALID, "Begäran kunde inte tolkas.", "Malformed request.")


async def _audit_refusal(request: Request, error: FhirError) -> None:
    client_name: str | None = getattr(request.state, "fhir_client", None)
    if client_name is None:
        return
    ctx: Context = request.app.state.ctx
    interaction: str = getattr(request.state, "fhir_interaction", "?")

    def write() -> None:
        with ctx.db.session() as s:
            record(
                s,
                f"client:{client_name}",
                "fhir.appointment.refused",
                None,
                {"interaction": interaction, "status": error.status, "issue": error.code.value},
            )

    try:
        await run_in_threadpool(write)
    except Exception:  # the answer must still go out
        log.exception("could not audit a refused FHIR call")


router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=FhirRoute)


def _client(
    ctx: Context, s: Session, request: Request, authorization: str | None, action: str, interaction: str
) -> ApiClient:
    """_client is the caller, checked for the scope; remembered for the audit of a refusal —
    a token without the scope (403) too: its client is known, and is audited."""
    request.state.fhir_interaction = interaction
    try:
        client = authorized_client(ctx, s, authorization, RESOURCE, action)
    except ScopeMissing:
        holder = _token_holder(s, authorization)
        if holder is not None:
            request.state.fhir_client = holder.name
        raise
    request.state.fhir_client = client.name
    return client


def _token_holder(s: Session, authorization: str | None) -> ApiClient | None:
    """_token_holder is the active client whose unexpired token authorization carries, for the
    audit of a call authorized_client refused for its scope (it raises without the client)."""
    token = bearer_token(authorization)
    if token is None:
        return None
    return s.scalar(
        select(ApiClient)
        .join(AccessToken)
        .where(
            AccessToken.token_hash == hash_token(token), AccessToken.expires_at > utcnow(), ApiClient.active
        )
    )


def _check_format(request: Request) -> None:
    """_check_format refuses (406) a call that asks for an answer in anything but JSON, by
    ``_format`` or by ``Accept`` (a search checks its ``_format`` with its other parameters)."""
    fmt = request.query_params.get("_format")
    accept = request.headers.get("accept")
    ranges = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")] if accept else []
    if (fmt is not None and fmt not in JSON_FORMATS) or (ranges and not ANSWERABLE.intersection(ranges)):
        raise FhirError(
            406,
            IssueType.NOT_SUPPORTED,
            "Vårdmöte svarar bara med JSON (application/fhir+json).",
            "Vårdmöte answers only in JSON (application/fhir+json).",
            "_format" if fmt is not None else None,
        )


def _check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in ACCEPTED_TYPES:
        raise FhirError(
            415,
            IssueType.NOT_SUPPORTED,
            "Skicka resursen som application/fhir+json (eller application/json).",
            "Send the resource as application/fhir+json (or application/json).",
        )


def _shown(ctx: Context, row: JournalAppointment) -> tuple[Appointment, dict[str, str]]:
    """_shown is the row's Appointment and its ETag, Last-Modified and Location headers."""
    resource = appointment_resource(service.view_of(ctx, row))
    headers = {
        "ETag": f'W/"{row.version}"',
        "Last-Modified": format_datetime(row.updated_at, usegmt=True),
        "Location": ctx.url(f"{PREFIX}/{RESOURCE}/{row.id}/_history/{row.version}"),
    }
    return resource, headers


@router.get("/metadata")
async def metadata(ctx: Ctx) -> Response:
    """The CapabilityStatement: what the endpoint offers (no token needed)."""
    statement = capability_statement(ctx.url(PREFIX), ctx.url("/oauth/token"), __version__, utcnow())
    return fhir_response(statement)


@router.get("/.well-known/smart-configuration")
async def smart(ctx: Ctx) -> Response:
    """SMART Backend Services discovery: the token endpoint and what it takes (no token needed)."""
    return JSONResponse(smart_configuration(ctx.url("/oauth/token")))


@router.post(f"/{RESOURCE}")
async def create(request: Request, ctx: Ctx) -> Response:
    """Book an Appointment: a digitalt vårdmöte and the patient's inbox message."""
    body = await request.body()
    authorization = request.headers.get("authorization")
    content_type = request.headers.get("content-type")

    def work(s: Session) -> tuple[Appointment, dict[str, str]]:
        client = _client(ctx, s, request, authorization, "c", "create")
        _check_format(request)
        _check_content_type(content_type)
        return _shown(ctx, service.create(ctx, s, client, body))

    resource, headers = await in_transaction(ctx, work)
    return fhir_response(resource, 201, headers)


@router.get(f"/{RESOURCE}/{{appointment_id}}")
async def read(appointment_id: str, request: Request, ctx: Ctx) -> Response:
    """Read one of the caller's Appointments."""
    authorization = request.headers.get("authorization")

    def work(s: Session) -> tuple[Appointment, dict[str, str]]:
        client = _client(ctx, s, request, authorization, "r", "read")
        _check_format(request)
        return _shown(ctx, finding.read(ctx, s, client, appointment_id))

    resource, headers = await in_transaction(ctx, work)
    headers.pop("Location")
    return fhir_response(resource, 200, headers)


@router.get(f"/{RESOURCE}/{{appointment_id}}/_history/{{version_id}}")
async def vread(appointment_id: str, version_id: str, request: Request, ctx: Ctx) -> Response:
    """Read one version of one of the caller's Appointments: only the current one is kept."""
    authorization = request.headers.get("authorization")

    def work(s: Session) -> tuple[Appointment, dict[str, str]]:
        client = _client(ctx, s, request, authorization, "r", "vread")
        _check_format(request)
        return _shown(ctx, finding.read(ctx, s, client, appointment_id, version_id=version_id))

    resource, headers = await in_transaction(ctx, work)
    headers.pop("Location")
    return fhir_response(resource, 200, headers)


@router.put(f"/{RESOURCE}/{{appointment_id}}")
async def update(appointment_id: str, request: Request, ctx: Ctx) -> Response:
    """Move or cancel one of the caller's Appointments (If-Match honoured)."""
    body = await request.body()
    authorization = request.headers.get("authorization")
    content_type = request.headers.get("content-type")
    if_match = request.headers.get("if-match")

    def work(s: Session) -> tuple[Appointment, dict[str, str]]:
        client = _client(ctx, s, request, authorization, "u", "update")
        _check_format(request)
        _check_content_type(content_type)
        return _shown(ctx, service.update(ctx, s, client, appointment_id, body, if_match))

    resource, headers = await in_transaction(ctx, work)
    headers.pop("Location")
    return fhir_response(resource, 200, headers)


@router.get(f"/{RESOURCE}")
async def search(request: Request, ctx: Ctx) -> Response:
    """Find the caller's Appointments: a searchset Bundle, by start time."""
    authorization = request.headers.get("authorization")
    parameters = request.query_params.multi_items()

    def work(s: Session) -> str:  # written here, in the thread pool: 100 entries take ~50 ms
        client = _client(ctx, s, request, authorization, "s", "search")
        found = finding.search(ctx, s, client, parameters)
        return fhir_json(_searchset(ctx, parameters, found))

    return fhir_response(await in_transaction(ctx, work))


@router.post(f"/{RESOURCE}/_search")
async def search_by_form(request: Request, ctx: Ctx) -> Response:
    """Find the caller's Appointments with the parameters in a form body (and the query), so
    that a personnummer stays out of the URL. The links give the same address with ``_offset``:
    POST the same form there for the next page."""
    body = await request.body()
    authorization = request.headers.get("authorization")
    content_type = request.headers.get("content-type")

    def work(s: Session) -> str:
        client = _client(ctx, s, request, authorization, "s", "search")
        if (content_type or "").split(";", 1)[0].strip().lower() != FORM:
            raise FhirError(
                415,
                IssueType.NOT_SUPPORTED,
                f"Skicka sökparametrarna som {FORM}.",
                f"Send the search parameters as {FORM}.",
            )
        try:
            form = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise FhirError(
                400, IssueType.INVALID, "Begäran kunde inte tolkas.", "Malformed request."
            ) from None
        parameters = form + request.query_params.multi_items()
        found = finding.search(ctx, s, client, parameters)
        return fhir_json(
            _searchset(ctx, [(k, v) for k, v in parameters if k == "_offset"], found, "/_search")
        )

    return fhir_response(await in_transaction(ctx, work))


def _searchset(
    ctx: Context, parameters: list[tuple[str, str]], found: finding.Found, path: str = ""
) -> Bundle:
    def page(offset: int | None) -> str:
        kept = [(k, v) for k, v in parameters if k != "_offset"]
        if offset:
            kept.append(("_offset", str(offset)))
        query = urlencode(kept)
        return ctx.url(f"{PREFIX}/{RESOURCE}{path}") + (f"?{query}" if query else "")

    links = [BundleLink(relation="self", url=page(found.query.offset))]
    following = found.query.offset + found.query.count
    if following < found.total:
        links.append(BundleLink(relation="next", url=page(following)))
    return Bundle(
        type="searchset",
        total=found.total,
        link=links,
        entry=[
            BundleEntry(
                fullUrl=ctx.url(f"{PREFIX}/{RESOURCE}/{row.id}"),
                resource=appointment_resource(service.view_of(ctx, row)),
                search=BundleEntrySearch(mode="match"),
            )
            for row in found.rows
        ]
        or None,
    )


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_ALLOWED = {
    "metadata": "GET",
    RESOURCE: "GET, POST",
    f"{RESOURCE}/*": "GET, PUT",
    f"{RESOURCE}/_search": "POST",
}


@router.api_route("", methods=_METHODS)
@router.api_route("/{rest:path}", methods=_METHODS)
async def not_offered(request: Request) -> Response:
    """Anything else under /fhir/r4: a method the path does not take (405) or a path that
    does not exist (404), as an OperationOutcome."""
    rest = request.path_params.get("rest", "")
    key = (
        rest
        if rest in _ALLOWED
        else f"{RESOURCE}/*"
        if rest.startswith(f"{RESOURCE}/") and rest.count("/") == 1
        else rest
    )
    allowed = _ALLOWED.get(key)
    if allowed is not None:
        raise FhirError(
            405,
            IssueType.NOT_SUPPORTED,
            f"Metoden stöds inte här. Tillåtna: {allowed}. Avboka med PUT och status cancelled.",
            f"The method is not supported here. Allowed: {allowed}. Cancel with PUT and status cancelled.",
            headers={"Allow": allowed},
        )
    raise FhirError(
        404,
        IssueType.NOT_SUPPORTED,
        "Det finns inget sådant här. Vårdmöte erbjuder bara Appointment (och metadata).",
        "There is no such thing here. Vårdmöte offers only Appointment (and metadata).",
    )
