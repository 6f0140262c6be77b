"""Relay helpers: ports and settings for a test's embedded coturn, and a TURN allocation.

Shared by the tests that run vardmote's embedded relay (tests/media/test_relay.py,
tests/media/test_relay_credentials.py, tests/web/test_connection_test.py).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aioice.turn import create_turn_endpoint

from machine import free_rtp_range


def free_port_pair(address: str, avoid: set[int]) -> int:
    """free_port_pair is a port free for both UDP and TCP on address (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((address, 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((address, port))
                except OSError:
                    continue
        if port not in avoid:
            return port
    raise RuntimeError("no port free for UDP and TCP")


def embedded_relay_env(turn_port: int, tls_port: int) -> dict[str, str]:
    """embedded_relay_env is the environment of a ``vardmote serve`` that runs its embedded coturn
    on these ports, relaying from ports no other test uses."""
    return {
        "VARDMOTE_TURN": "embedded",
        "VARDMOTE_TURN_PORT": str(turn_port),
        "VARDMOTE_TURN_TLS_PORT": str(tls_port),
        "VARDMOTE_TURN_RELAY_PORTS": "{}-{}".format(*free_rtp_range()),
    }


async def allocate(relay: tuple[str, int], ice_server: dict[str, Any], transport: str) -> tuple[str, int]:
    """allocate makes a TURN allocation on relay (address, port) with the ice server's credentials
    over udp or tcp and returns the relayed address; a refusal raises stun.TransactionFailed."""
    turn, _ = await create_turn_endpoint(
        asyncio.DatagramProtocol,
        relay,
        ice_server["username"],
        ice_server["credential"],
        transport=transport,
    )
    try:
        host, port = turn.get_extra_info("sockname")
        return host, port
    finally:
        turn.close()
        await asyncio.sleep(0)
