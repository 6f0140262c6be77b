"""Helpers for the media tests: a real Janus in a temporary var folder.

Each test starts its own Janus through EmbeddedJanus (it takes well under a
second), on a free loopback port and a free block of UDP ports, so that tests
and parallel runs never share or clash. These are async context managers
rather than pytest fixtures so that a test module can use them without a
conftest.py here (that would shadow tests/conftest.py).

ICE and loopback: Janus 1.x never gathers candidates on a loopback interface
(it skips IFF_LOOPBACK), and with ``ice_enforce_list = "lo"`` it finds nothing
to enforce and falls back to every interface, IPv6 included. aiortc (aioice)
skips 127.0.0.1 too. So the tests hold Janus to this machine's own first
non-loopback IPv4 address: packets between two local addresses never leave
the machine (the kernel delivers them through lo), and neither side offers
any other address.
"""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import ifaddr

from vardmote.media.embedded import EmbeddedJanus
from vardmote.media.janus import JanusClient, JanusHandle, JanusSession
from vardmote.media.videoroom import PLUGIN, RoomControl
from vardmote.settings import Settings

RTP_BLOCK = 100
# Below Linux's ephemeral ports (32768-) and above the default range of `make run` (20000-20999).
RTP_SEARCH = (21000, 32000)


def free_tcp_port() -> int:
    """free_tcp_port asks the kernel for a loopback TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listening(port: int) -> bool:
    """listening tells whether something accepts TCP connections on a loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_rtp_range(size: int = RTP_BLOCK) -> tuple[int, int]:
    """free_rtp_range picks a random block of UDP ports of which none is in use now."""
    low, high = RTP_SEARCH
    for _ in range(50):
        start = random.randrange(low, high - size, size)
        if all(_udp_free(p) for p in range(start, start + size)):
            return start, start + size - 1
    raise RuntimeError(f"no free block of {size} UDP ports in {low}-{high}")


@cache
def local_address() -> str:
    """local_address is this machine's first IPv4 address that is not loopback."""
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                return ip.ip
    raise RuntimeError("the media tests need a non-loopback IPv4 address (aiortc and Janus skip loopback)")


def janus_settings(tmp_path: Path) -> Settings:
    """janus_settings are embedded settings in tmp_path with a free port and RTP range."""
    return Settings(
        var_dir=tmp_path / "var",
        janus_ws_port=free_tcp_port(),
        janus_rtp_ports=free_rtp_range(),
        janus_ice_interfaces=local_address(),
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
