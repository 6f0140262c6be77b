"""HSTS when the public address is https, a Permissions-Policy that gives camera, microphone and
screen capture to the service's own pages only, and /healthz's details only for this machine
and administrators."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from fastapi.testclient import TestClient

from conftest import bearer
from vardmote import __version__
from vardmote.accounts.models import User
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.settings import Settings


def _client(settings: Settings, ctx: Context, peer: str = "testclient") -> TestClient:
    return TestClient(
        create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test", client=(peer, 40000)
    )


def test_hsts_is_sent_when_the_public_url_is_https(settings: Settings, ctx: Context) -> None:
    https = dataclasses.replace(settings, public_url="https://vardmote.regionvastmanland.se")
    with _client(https, ctx) as c:
        for path in ("/", "/livez", "/static/app.css"):
            assert c.get(path).headers["strict-transport-security"] == "max-age=31536000", path


def test_no_hsts_over_plain_http(client: TestClient) -> None:
    assert "strict-transport-security" not in client.get("/").headers


def test_camera_microphone_and_screen_capture_are_for_the_service_itself_only(client: TestClient) -> None:
    policy = client.get("/").headers["permissions-policy"]
    features = dict(item.strip().split("=", 1) for item in policy.split(","))
    assert features["camera"] == "(self)"
    assert features["microphone"] == "(self)"
    assert features["display-capture"] == "(self)"
    others = {
        name: value
        for name, value in features.items()
        if name not in {"camera", "microphone", "display-capture"}
    }
    assert set(others.values()) == {"()"}, others
    assert {"geolocation", "payment", "usb"} <= others.keys()


def test_health_tells_others_only_the_status(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1"])
def test_health_gives_a_loopback_client_the_details(settings: Settings, ctx: Context, peer: str) -> None:
    with _client(settings, ctx, peer) as c:
        body = c.get("/healthz").json()
    engine = "postgresql" if ctx.db.is_postgresql else "sqlite"
    assert body == {
        "status": "ok",
        "version": __version__,
        "database": {"engine": engine, "ok": True},
        "janus": {"mode": "off"},
        "relay": {"mode": "off"},
    }


def test_health_gives_a_signed_in_administrator_the_details(client: TestClient, administrator: User) -> None:
    body = client.get("/healthz", headers=bearer(client, "admin")).json()
    assert body["version"] == __version__
    assert body["janus"] == {"mode": "off"}


def test_health_gives_a_clinician_only_the_status(client: TestClient, clinician: User) -> None:
    assert client.get("/healthz", headers=bearer(client, "annika")).json() == {"status": "ok"}


def test_a_proxy_on_this_machine_does_not_make_everyone_local(settings: Settings, ctx: Context) -> None:
    """With the TLS proxy on the same machine (and named in VARDMOTE_TRUSTED_PROXIES), a client
    it forwards is not loopback; a check on the machine itself, without the header, is."""
    trusting = dataclasses.replace(settings, trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    with _client(trusting, ctx, "127.0.0.1") as c:
        assert c.get("/healthz", headers={"X-Forwarded-For": "198.51.100.7"}).json() == {"status": "ok"}
        assert "version" in c.get("/healthz").json()
