"""/healthz reports Janus (the embedded one, and external nodes probed over their API) and the relay."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from janus_fixtures import free_tcp_port, janus_settings, running_janus

from vardmote.app import create_app
from vardmote.context import Context
from vardmote.settings import JanusNodeSetting, Secret, Settings

pytestmark = pytest.mark.media


def _external(tmp_path: Path, url: str, api_secret: Secret, admin_key: Secret) -> Settings:
    return Settings(
        var_dir=tmp_path / "app",
        secret_key=Secret("health-test-key-" + "x" * 32),
        public_url="http://vardmote.test",
        janus_nodes=(JanusNodeSetting(url, api_secret, admin_key),),
    )


async def _health(settings: Settings, ctx: Context) -> httpx.Response:
    app = create_app(settings, Context(settings, ctx.db))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vardmote.test") as client:
            return await client.get("/healthz")


async def test_an_external_node_that_answers_is_reported_up(tmp_path: Path, ctx: Context) -> None:
    async with running_janus(tmp_path) as janus:
        node = janus.node
        settings = _external(tmp_path, node.url, node.api_secret, node.admin_key)
        response = await _health(settings, ctx)
    assert response.status_code == 200
    assert response.json()["janus"] == {
        "mode": "external",
        "nodes": [{"url": node.url, "up": True}],
        "up": True,
    }


async def test_an_external_node_with_the_wrong_secret_is_reported_down(tmp_path: Path, ctx: Context) -> None:
    async with running_janus(tmp_path) as janus:
        node = janus.node
        settings = _external(tmp_path, node.url, Secret("not-the-secret"), node.admin_key)
        response = await _health(settings, ctx)
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert response.json()["janus"]["nodes"] == [{"url": node.url, "up": False}]


async def test_an_external_node_where_nothing_listens_is_reported_down(tmp_path: Path, ctx: Context) -> None:
    url = f"ws://127.0.0.1:{free_tcp_port()}"
    response = await _health(_external(tmp_path, url, Secret("s"), Secret("k")), ctx)
    assert response.status_code == 503
    assert response.json()["janus"]["up"] is False


async def test_the_embedded_janus_is_reported_with_its_restarts(tmp_path: Path, ctx: Context) -> None:
    settings = janus_settings(tmp_path)
    response = await _health(settings, ctx)
    assert response.status_code == 200
    janus = response.json()["janus"]
    assert (janus["mode"], janus["up"], janus["restarts"]) == ("embedded", True, 0)


async def test_a_relay_that_is_down_is_reported_in_the_details_only(tmp_path: Path, ctx: Context) -> None:
    # A relay restarting (a second or two) must not take the web out of a load balancer.
    settings = janus_settings(tmp_path)
    app = create_app(settings, Context(settings, ctx.db))
    async with app.router.lifespan_context(app):
        relay = app.state.embedded_relay
        assert relay is not None
        await relay.stop()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vardmote.test") as client:
            response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert (body["relay"]["mode"], body["relay"]["up"]) == ("embedded", False)
    assert body["janus"]["up"] is True
