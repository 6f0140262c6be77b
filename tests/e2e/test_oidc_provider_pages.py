"""The tests' OpenID provider (tests/oidc_provider.py) in Debian's Chromium: a sign-in passes
through it with no page of its own, and its sign-out page asks, and "Yes, sign me out" sends the
browser back to the client; nothing it shows loads from outside the machine (the context's guard).

The client is a bare HTTP server on 127.0.0.1 that answers every address with an empty page,
standing in for Vårdmöte, which the sign-in tests put there. (Playwright's ``page.route`` would
not do: it does not see the requests a redirect leads to.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt

from oidc_provider import ADMINISTRATOR, CLINICIAN, LOA3, Client, Provider, running_provider, staff_client

from .conftest import NewContext

pytestmark = pytest.mark.e2e


class _ClientPages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!DOCTYPE html><title>Klienten</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def client_base() -> Iterator[str]:
    """client_base is the address of a server that stands in for the client's pages."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClientPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def client(client_base: str) -> Client:
    return staff_client(client_base)


@pytest.fixture(scope="module")
def provider(client: Client) -> Iterator[Provider]:
    with running_provider(clients=[client]) as p:
        yield p


def test_a_browser_signs_in_through_the_provider_and_signs_out_with_its_confirm_page(
    provider: Provider, client: Client, client_base: str, new_context: NewContext
) -> None:
    provider.fresh()
    provider.next_sign_in(account=CLINICIAN)
    page = new_context(base_url=provider.issuer).new_page()
    address, _ = provider.authorization_address(client, "openid profile", acr_values=LOA3)

    page.goto(address)

    page.wait_for_url(f"{client_base}/logga-in/oidc/klar?**")
    assert set(parse_qs(urlsplit(page.url).query)) == {"code", "state", "iss"}
    query = urlencode(
        {"client_id": client.client_id, "post_logout_redirect_uri": f"{client_base}/logga-in", "state": "ut"}
    )
    page.goto(f"{provider.issuer}/session/end?{query}")
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{client_base}/logga-in?state=ut")
    assert provider.seen().signed_out == [{"logout": True, "status": 303}]

    # Signed out at the provider: the next sign-in is a new one (the plan's person), not the
    # old session's.
    provider.next_sign_in(account=ADMINISTRATOR)
    address, verifier = provider.authorization_address(client, "openid profile", acr_values=LOA3)
    page.goto(address)
    page.wait_for_url(f"{client_base}/logga-in/oidc/klar?**")
    assert client.secret is not None
    tokens = httpx.post(
        f"{provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": parse_qs(urlsplit(page.url).query)["code"][0],
            "redirect_uri": client.redirect_uris[0],
            "code_verifier": verifier,
        },
        auth=(quote_plus(client.client_id), quote_plus(client.secret)),
    ).json()
    assert jwt.decode(tokens["id_token"], provider.keys).claims["sub"] == ADMINISTRATOR
