"""A digital care meeting booked from the journal system, end to end (issue 14's "done when").

Everything here is real: ``vardmote serve`` with its embedded Janus, the region's identity
provider (npm ``oidc-provider``, run by node, tests/oidc_provider.py), Debian's Chromium with a
fake camera and microphone, and the journal system played by httpx with a key pair of its own.

1. An administrator registers the journal system "Cosmic" with ``vardmote client add`` and its
   public key.
2. Cosmic signs a client assertion, gets a token at ``/oauth/token`` and books a "Digitalt
   vårdmöte" with ``POST /fhir/r4/Appointment``: the patient by personnummer, the clinician by
   HSA-id (no account yet: the server makes it, VARDMOTE_FHIR_PROVISION_CLINICIANS).
3. The patient signs in to the inbox (the test e-identification of demo mode), finds the
   message, follows the link and waits in the lobby.
4. The clinician opens the Appointment's ``addressUrl``, is sent to sign in, presses "Logga in
   med SITHS", passes the identity provider, comes back to the meeting as its host, lets the
   patient in, and the two see each other.
5. Cosmic cancels (``PUT`` with status cancelled): both are told "Mötet är avbokat." and the
   message is gone from the patient's inbox.

Screenshots of every step go to ``test-artifacts/e2e/journal-booking/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from playwright.sync_api import Browser, Playwright, expect

from machine import free_tcp_port
from oidc_provider import ACCOUNTS, ACR_VALUES, CLINICIAN, SCOPES_CLAIMS, Provider, staff_client
from servers import Server, serve

from .axe import assert_accessible
from .conftest import NewContext, Steps, _contexts
from .test_meeting_pages import _context, _frames_decoded, _phone

pytestmark = pytest.mark.e2e

PATIENT = "19900602-2397"
HSA_ID = "SE2321000016-1003"  # the provider's CLINICIAN account
VIRTUAL_SERVICE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService"
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Provider]]:
    """region is a media server whose staff sign in with the identity provider, and the provider."""
    port = free_tcp_port()
    client = staff_client()
    env = {
        "VARDMOTE_STAFF_OIDC_ISSUER": f"http://127.0.0.1:{port}",
        "VARDMOTE_STAFF_OIDC_CLIENT_ID": client.client_id,
        "VARDMOTE_STAFF_OIDC_CLIENT_SECRET": client.secret or "",
        "VARDMOTE_STAFF_OIDC_ADMIN_CLAIM": "groups=vardmote-admin",
        "VARDMOTE_FHIR_PROVISION_CLINICIANS": "1",
    }
    with serve(tmp_path_factory.mktemp("journal-booking") / "var", media=True, env=env) as server:
        provider = Provider(
            clients=[staff_client(server.url)],
            accounts=ACCOUNTS,
            acr_values=ACR_VALUES,
            scopes_claims=SCOPES_CLAIMS,
            port=port,
        )
        try:
            provider.start()
            yield server, provider
        finally:
            provider.close()


@pytest.fixture
def new_region_context(browser: Browser, region: tuple[Server, Provider]) -> Iterator[NewContext]:
    """new_region_context is new_context against the region's server."""
    yield from _contexts(browser, lambda: region[0].url)


class Cosmic:
    """Cosmic is the journal system: its key pair, its client id, and its calls."""

    def __init__(self, server: Server, tmp: Path) -> None:
        self.server = server
        self.key = RSAKey.generate_key(2048, parameters={"kid": "cosmic-e2e"}, private=True)
        jwks = tmp / "cosmic.jwks.json"
        jwks.write_text(json.dumps({"keys": [self.key.as_dict(private=False)]}), encoding="utf-8")
        added = _vardmote(
            server, "client", "add", "Cosmic", "--jwks", str(jwks), "--scope", "system/Appointment.cruds"
        )
        found = re.search(r"^([0-9a-f-]{36})$", added, re.MULTILINE)
        assert found is not None, added
        self.client_id = found.group(1)
        self.http = httpx.Client(base_url=server.url, timeout=10)

    def token(self) -> str:
        """token signs a fresh client assertion and trades it for an access token."""
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": f"{self.server.url}/oauth/token",
            "iat": now,
            "exp": now + 240,
            "jti": str(uuid.uuid4()),
        }
        header = {"alg": "RS384", "kid": "cosmic-e2e", "typ": "JWT"}
        assertion = jwt.encode(header, claims, self.key, algorithms=["RS384"])
        response = self.http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
                "scope": "system/Appointment.cruds",
            },
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": FHIR_JSON}
        if body is None:
            return self.http.request(method, path, headers=headers)
        content = json.dumps(body).encode()
        return self.http.request(method, path, content=content, headers=headers | {"Content-Type": FHIR_JSON})


def _vardmote(server: Server, *args: str) -> str:
    """_vardmote runs the vardmote command on the server's database, as its administrator does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARDMOTE_")}
    env.update(
        VARDMOTE_VAR_DIR=str(server.var_dir),
        VARDMOTE_DATABASE_URL=server.database_url,
        VARDMOTE_PUBLIC_URL=server.url,
    )
    command = str(Path(sys.executable).parent / "vardmote")
    done = subprocess.run([command, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _appointment(start: dt.datetime) -> dict[str, Any]:
    """_appointment is the booking as Cosmic writes it."""
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "start": start.isoformat(timespec="seconds"),
        "end": (start + dt.timedelta(minutes=30)).isoformat(timespec="seconds"),
        "participant": [
            {
                "actor": {
                    "type": "Patient",
                    "identifier": {
                        "system": "urn:oid:1.2.752.129.2.1.3.1",
                        "value": PATIENT.replace("-", ""),
                    },
                },
                "status": "accepted",
            },
            {
                "actor": {
                    "type": "Practitioner",
                    "identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": HSA_ID},
                    "display": "Annika Läkare",
                },
                "status": "accepted",
            },
        ],
    }


def _virtual_service(answer: dict[str, Any]) -> dict[str, Any]:
    """_virtual_service is the back-ported virtualService's parts by name."""
    (extension,) = [e for e in answer.get("extension", []) if e["url"] == VIRTUAL_SERVICE]
    return {part["url"]: part for part in extension["extension"]}


def test_a_meeting_booked_by_the_journal_is_held_and_cancelled_by_the_journal(
    region: tuple[Server, Provider],
    playwright: Playwright,
    steps: Callable[[str], Steps],
    tmp_path: Path,
    new_region_context: NewContext,
) -> None:
    server, provider = region
    shots = steps("journal-booking")
    cosmic = Cosmic(server, tmp_path)

    # The journal books: a signed assertion, a token, the Appointment.
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).replace(microsecond=0)
    booked = cosmic.send("POST", "/fhir/r4/Appointment", _appointment(start))
    assert booked.status_code == 201, booked.text
    answer = booked.json()
    service = _virtual_service(answer)
    address = service["address"]["valueUrl"]  # R5 addressUrl: the choice address[x] as a url
    meeting_id = service["sessionKey"]["valueString"]
    assert address == f"{server.url}/moten/{meeting_id}/starta"
    assert service["maxParticipants"]["valuePositiveInt"] == 2
    assert cosmic.send("GET", f"/fhir/r4/Appointment/{answer['id']}").json()["status"] == "booked"

    # The patient finds the message and waits in the lobby.
    patient = _context(new_region_context, **_phone(playwright)).new_page()
    patient.goto("/inkorg")
    patient.get_by_label("Personnummer").fill(PATIENT)
    patient.get_by_role("button", name="Logga in").click()
    patient.get_by_role("link", name="Se inkorg 1 oläst").click()
    message = patient.locator(".msg")
    expect(message).to_contain_text("OLÄST")
    shots.shot(patient, "patient-inkorg")
    message.get_by_role("link").click()
    expect(patient.get_by_role("heading", name="Skyddat digitalt vårdmöte", level=1)).to_be_visible()
    patient.get_by_role("link", name="» Anslut till videomötet").click()
    expect(patient).to_have_url(re.compile(r"/m/[A-Za-z0-9_-]{43}$"))
    patient.wait_for_load_state("load")  # the page's scripts run before "Nästa" means anything
    patient.get_by_label("Ditt namn").fill("Petra")
    patient.get_by_role("button", name="Nästa").click()
    patient.get_by_role("button", name="Anslut nu").click()
    expect(patient.get_by_role("heading", name="Du väntar i lobbyn")).to_be_visible()
    shots.shot(patient, "patient-lobby")

    # The clinician follows addressUrl, signs in with SITHS and hosts.
    provider.next_sign_in(account=CLINICIAN)
    clinician = _context(new_region_context, viewport={"width": 1366, "height": 860}).new_page()
    clinician.goto(address)
    expect(clinician).to_have_url(re.compile(r"/logga-in\?"))
    siths = clinician.get_by_role("link", name="Logga in med SITHS")
    expect(siths).to_be_visible()
    expect(clinician.get_by_label("Lösenord")).to_have_count(0)  # local passwords are off
    assert_accessible(clinician, "the sign-in page with SITHS")
    shots.shot(clinician, "vardpersonal-logga-in")
    siths.click()
    expect(clinician).to_have_url(f"{server.url}/moten/{meeting_id}/starta")
    expect(clinician.get_by_role("heading", name="Ställ in ljud och bild")).to_be_visible()
    clinician.get_by_role("button", name="Anslut nu").click()
    expect(clinician.get_by_role("heading", name="Väntar i lobbyn (1)")).to_be_visible()
    expect(clinician.locator("#lista-motet")).to_contain_text("Annika Läkare")
    expect(clinician.locator("#lista-motet")).to_contain_text("(mötesorganisatör, du)")
    shots.shot(clinician, "vardpersonal-patienten-vantar")
    clinician.get_by_role("button", name="Tillåt Petra").click()
    expect(clinician.get_by_role("heading", name="I det här mötet (2)")).to_be_visible()
    _frames_decoded(clinician, "the clinician")
    _frames_decoded(patient, "the patient")
    shots.shot(clinician, "vardpersonal-i-motet")
    shots.shot(patient, "patient-i-motet")

    # The journal cancels: the meeting ends for both, the message is withdrawn.
    cancelled = cosmic.send("PUT", f"/fhir/r4/Appointment/{answer['id']}", answer | {"status": "cancelled"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    expect(patient.get_by_text("Mötet är avbokat.")).to_be_visible(timeout=15_000)
    expect(clinician.get_by_text("Mötet är avbokat.")).to_be_visible(timeout=15_000)
    shots.shot(patient, "patient-avbokat")
    shots.shot(clinician, "vardpersonal-avbokat")
    patient.goto("/inkorg/meddelanden")
    patient.locator(".msg").get_by_role("link").click()
    expect(patient.get_by_text("Länken till videomötet gäller inte längre.")).to_be_visible()
    expect(patient.get_by_role("link", name="» Anslut till videomötet")).to_have_count(0)
    shots.shot(patient, "patient-meddelandet-efter-avbokning")
    assert cosmic.send("GET", f"/fhir/r4/Appointment/{answer['id']}").json()["status"] == "cancelled"
    assert _vardmote(server, "audit", "verify").startswith("Granskningsloggen är intakt")
