"""Machine: free ports, for tests that start servers.

Shared by the media tests (tests/media), the browser tests (tests/e2e) and the
benchmarks, so that every server a test starts gets ports of its own. The
ports are those of the test network namespace (netns.py), which every test
run enters first: its loopback is its own.
"""

from __future__ import annotations

import random
import socket

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
