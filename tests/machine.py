"""Machine: free ports and this machine's own address, for tests that start servers.

Shared by the media tests (tests/media) and the browser tests (tests/e2e), so
that every server a test starts gets ports of its own and media stays on this
machine (docs/design-notes.md).
"""

from __future__ import annotations

import random
import socket
from functools import cache

import ifaddr

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
