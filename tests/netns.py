"""The tests' own Linux network namespace: every socket and process of a test run lives in it.

Nothing in tests or benchmarks may send traffic off this machine, nor to this
machine's own external address (docs/design-notes.md). Janus never gathers
ICE candidates on a loopback interface and aiortc skips 127.0.0.1, so media
needs an address that is not loopback: :func:`enter_test_namespace` makes a
namespace ``vardmote-test-<pid>`` (``ip netns add``) with ``lo`` up and a
veth pair whose two ends are both inside it (``vm0`` with :data:`ADDRESS`,
``vm1`` with :data:`PEER`), and moves the calling thread into it with
``setns(2)``. Called from the main thread before anything else starts, it
puts everything after it in the namespace: every socket, every thread the
main thread starts, every subprocess (``vardmote serve``, its Janus, Chromium
through Playwright, the SMTP and OIDC test servers). 127.0.0.1 is then the
namespace's own loopback, and the veth address reaches nothing outside it.
PostgreSQL is reached over its unix socket (/var/run/postgresql), which a
network namespace does not hide.

The namespace is deleted by :meth:`Namespace.close` (``ip netns delete``;
the kernel frees it once the last process in it has ended). A run that was
killed leaves its name behind: the next :func:`enter_test_namespace` deletes
every ``vardmote-test-<pid>`` whose process is gone.

Needs root (``ip netns add`` and ``setns``), as the media tests always did.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PREFIX = "vardmote-test-"
ADDRESS = "10.203.0.1"
"""The address of ``vm0`` in the namespace: Janus's ICE address and the clients' one."""
PEER = "10.203.0.2"
"""The address of ``vm1``, the other end of the pair (also inside the namespace)."""
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000

_entered: Namespace | None = None


class NamespaceError(RuntimeError):
    """NamespaceError: the test namespace could not be made or entered."""


@dataclass
class Namespace:
    """Namespace is the test run's network namespace, entered by this process's main thread.

    As a context manager (``with enter_test_namespace(): ...``) it is closed when the block ends.
    """

    name: str
    address: str
    """The non-loopback address inside the namespace (vm0's)."""

    def __enter__(self) -> Namespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """close deletes the namespace's name (best effort); the kernel frees it when this
        process and its children have ended."""
        global _entered
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, check=False)
        if _entered is self:
            _entered = None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def remove_stale() -> list[str]:
    """remove_stale deletes every vardmote-test-<pid> namespace whose process is gone
    (or that has this process's id: a leftover of an earlier process); returns their names."""
    removed: list[str] = []
    if not NETNS_DIR.is_dir():
        return removed
    for entry in NETNS_DIR.iterdir():
        suffix = entry.name.removeprefix(PREFIX)
        if entry.name == suffix or not suffix.isdigit():
            continue
        pid = int(suffix)
        if pid == os.getpid() or not _alive(pid):
            subprocess.run(["ip", "netns", "delete", entry.name], capture_output=True, check=False)
            removed.append(entry.name)
    return removed


def _setns(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise NamespaceError(f"setns({path}) failed: {os.strerror(errno)}")
    finally:
        os.close(fd)


def enter_test_namespace() -> Namespace:
    """enter_test_namespace makes this run's namespace and moves the calling thread into it.

    Call it from the main thread before any other thread, socket or subprocess
    is made (those made before stay outside). A second call returns the same
    namespace.
    """
    global _entered
    if _entered is not None:
        return _entered
    if os.geteuid() != 0:
        raise NamespaceError(
            "the tests run in a network namespace of their own (ip netns add, setns), which needs "
            "root: run them as root (as `make test` and CI do)"
        )
    remove_stale()
    name = f"{PREFIX}{os.getpid()}"
    _ip("netns", "add", name)
    namespace = Namespace(name, ADDRESS)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "vm0", "type", "veth", "peer", "name", "vm1")
        _ip("-n", name, "addr", "add", f"{ADDRESS}/24", "dev", "vm0")
        _ip("-n", name, "addr", "add", f"{PEER}/24", "dev", "vm1")
        _ip("-n", name, "link", "set", "vm0", "up")
        _ip("-n", name, "link", "set", "vm1", "up")
        _setns(NETNS_DIR / name)
    except BaseException:
        namespace.close()
        raise
    _entered = namespace
    return namespace


def media_address() -> str:
    """media_address is the namespace's non-loopback address, for Janus's ICE and the clients'
    candidates; fails unless this process has entered the test namespace."""
    if _entered is None:
        raise NamespaceError("not in the test namespace: call netns.enter_test_namespace() first")
    return _entered.address
