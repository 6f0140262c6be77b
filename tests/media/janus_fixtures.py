"""Helpers for the media tests: a real Janus in a temporary var folder.

Each test starts its own Janus through EmbeddedJanus (it takes well under a
second), on a free loopback port and a free block of UDP ports, so that tests
and parallel runs never share or clash. These are async context managers
rather than pytest fixtures so that a test module can use them without a
conftest.py here (that would shadow tests/conftest.py).

ICE and loopback: Janus 1.x never gathers candidates on a loopback interface
(it skips IFF_LOOPBACK), and with ``ice_enforce_list = "lo"`` it finds nothing
to enforce and falls back to every interface, IPv6 included. aiortc (aioice)
skips 127.0.0.1 too. So the tests hold Janus to the veth address of their own
network namespace (tests/netns.py, ``media_address``), which reaches nothing
outside the namespace; the aiortc peers there gather only the namespace's
veth addresses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from machine import RTP_BLOCK, free_rtp_range, free_tcp_port, listening
from netns import media_address
from vardmote.media.embedded import EmbeddedJanus
from vardmote.media.janus import JanusClient, JanusHandle, JanusSession
from vardmote.media.videoroom import PLUGIN, RoomControl
from vardmote.settings import Settings

__all__ = ["RTP_BLOCK", "free_rtp_range", "free_tcp_port", "listening", "media_address"]


def janus_settings(tmp_path: Path) -> Settings:
    """janus_settings are embedded settings in tmp_path with a free port and RTP range."""
    return Settings(
        var_dir=tmp_path / "var",
        janus_ws_port=free_tcp_port(),
        janus_rtp_ports=free_rtp_range(),
        janus_ice_interfaces=media_address(),
    )


@asynccontextmanager
async def running_janus(tmp_path: Path, **options: Any) -> AsyncIterator[EmbeddedJanus]:
    """running_janus starts an EmbeddedJanus (options go to it) and stops it afterwards."""
    janus = EmbeddedJanus(janus_settings(tmp_path), **options)
    await janus.start()
    try:
        yield janus
    finally:
        await janus.stop()


@asynccontextmanager
async def connected(janus: EmbeddedJanus) -> AsyncIterator[JanusClient]:
    """connected is a client of janus with its api_secret."""
    client = await JanusClient.connect(janus.url, janus.node.api_secret, timeout=5.0)
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def room_control(janus: EmbeddedJanus) -> AsyncIterator[tuple[JanusSession, RoomControl]]:
    """room_control is a session on janus and a RoomControl on a VideoRoom handle in it."""
    async with connected(janus) as client:
        session = await client.create_session()
        handle: JanusHandle = await session.attach(PLUGIN)
        try:
            yield session, RoomControl(handle, janus.node.admin_key)
        finally:
            await session.destroy()
