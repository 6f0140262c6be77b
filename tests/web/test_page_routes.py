"""Every staff and public page keeps its address and method after the pages were split by purpose."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

PAGES = {
    ("GET", "/"),
    ("GET", "/logga-in"),
    ("POST", "/logga-in"),
    ("POST", "/logga-ut"),
    ("GET", "/kalender"),
    ("GET", "/moten/ny"),
    ("POST", "/moten/ny"),
    ("GET", "/moten/{meeting_id}"),
    ("GET", "/moten/{meeting_id}/andra"),
    ("POST", "/moten/{meeting_id}/andra"),
    ("POST", "/moten/{meeting_id}/typ"),
    ("POST", "/moten/{meeting_id}/ta-bort"),
    ("POST", "/moten/{meeting_id}/avboka"),
    ("POST", "/moten/{meeting_id}/lankar/ny"),
    ("POST", "/moten/{meeting_id}/lankar/personlig"),
    ("POST", "/moten/{meeting_id}/lankar/{link_id}/aterkalla"),
    ("POST", "/moten/{meeting_id}/skicka/inkorg"),
    ("POST", "/moten/{meeting_id}/skicka/kalender"),
    ("POST", "/moten/{meeting_id}/mottagare/{recipient_id}/ta-bort"),
    ("GET", "/moten/{meeting_id}/kalenderfil.ics"),
    ("GET", "/moten/{meeting_id}/starta"),
    ("GET", "/kalenderprenumeration"),
    ("POST", "/kalenderprenumeration"),
    ("GET", "/kalender/{token}.ics"),
    ("GET", "/m/{token}"),
    ("GET", "/sa-fungerar-det"),
    ("GET", "/villkor"),
    ("GET", "/personuppgifter"),
    ("GET", "/admin/motestyper"),
    ("POST", "/admin/motestyper/{key}"),
    ("GET", "/admin/granskning"),
}
"""The routes of the former web/pages.py, as (method, path)."""


def _routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # an included router (FastAPI ≥ 0.16x)
        if inner is not None:
            yield from _routes(inner.routes)
        elif isinstance(route, APIRoute):
            yield route


def test_every_page_of_the_former_pages_module_is_still_registered(client: TestClient) -> None:
    pages = [r for r in _routes(client.app.router.routes) if not r.path.startswith("/api/")]  # type: ignore[attr-defined]
    registered = [(method, r.path) for r in pages for method in r.methods or ()]
    assert set(registered) >= PAGES
    assert len(registered) == len(set(registered)), "no page is registered twice"
    operations = {"/healthz", "/livez"}
    in_schema = [r.path for r in pages if r.include_in_schema and r.path not in operations]
    assert in_schema == [], "pages stay out of the API"


def test_a_new_meeting_form_is_not_taken_for_a_meeting(client: TestClient) -> None:
    paths = [r.path for r in _routes(client.app.router.routes)]  # type: ignore[attr-defined]
    assert paths.index("/moten/ny") < paths.index("/moten/{meeting_id}")
