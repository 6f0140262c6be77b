"""The patient's network: a second namespace behind a firewalled link, for the TURN and ICE tests.

A care meeting must work from a hotel Wi-Fi that blocks UDP or a workplace
that lets only TLS out (issue 13). The tests build that with Linux network
namespaces, as tests/netns.py does for the run itself. From inside the run's
namespace (``vardmote-test-<pid>``, which the test process has entered),
:func:`patient_network` makes a second one, ``vardmote-patient-<pid>``, and a
veth pair between the two::

    clinic: the test namespace           patient: vardmote-patient-<pid>
    vardmote, Janus, coturn, the host's   the patient's Chromium
    Chromium
        pt0 10.204.0.1/24  <--- veth --->  pt1 10.204.0.2/24  (+ lo)

Both ends are the test's own; the patient namespace has no other interface
and no route anywhere else, so the patient's browser reaches the clinic's
address and nothing more. The firewall sits on the patient side (nftables,
``nft -f -`` run in the patient namespace with ``ip netns exec``), in the
outgoing direction, as a hotel's or a workplace's does:

- :meth:`PatientNetwork.block_udp`: no UDP leaves the patient (host and
  server-reflexive candidates and TURN over UDP fail; TCP works);
- :meth:`PatientNetwork.allow_only_tcp_to`: only new TCP connections to the
  given ports (the web port and TURN over TLS, say) and their answers, and
  nothing new in; :meth:`PatientNetwork.allow_only` the same with UDP to
  given ports too;
- :meth:`PatientNetwork.open`: no rules;
- :meth:`PatientNetwork.link_down` and :meth:`PatientNetwork.link_up`: the
  patient's link goes down for a while (``ip -n <patient> link set pt1
  down``, a pause, ``up``), as when a phone loses its Wi-Fi.

The patient's Chromium runs in the patient namespace through a wrapper
script (:meth:`PatientNetwork.chromium_wrapper`: ``exec ip netns exec <ns>
/usr/bin/chromium "$@"``) given to Playwright as its executable; Playwright
talks to it over inherited pipes, which a network namespace does not cut.
The pages are served from http://10.204.0.1:<port>, which is no secure
context, so :func:`patient_chromium_args` names that origin in
``--unsafely-treat-insecure-origin-as-secure`` (getUserMedia and WebRTC
need one).

:meth:`PatientNetwork.close` deletes the namespace (its end of the pair and
with it the other); a run that was killed leaves its namespace behind, and
the next :func:`patient_network` deletes every ``vardmote-patient-<pid>``
whose process is gone (:func:`remove_stale`).

Needs root and must run inside the test namespace (netns.py): nothing here
touches the machine's own network.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import socket
import stat
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import netns
from machine import free_tcp_port

PREFIX = "vardmote-patient-"
CLINIC_ADDRESS = "10.204.0.1"
"""pt0's address, in the test namespace: where vardmote, Janus's ICE and coturn listen."""
PATIENT_ADDRESS = "10.204.0.2"
"""pt1's address, in the patient namespace: the patient browser's only address but loopback."""
CLINIC_END = "pt0"
PATIENT_END = "pt1"
CHROMIUM = "/usr/bin/chromium"
TABLE = "patient"
"""The nftables table (family inet) that holds the patient side's rules."""


class FirewallError(RuntimeError):
    """FirewallError: the patient network or its rules could not be made."""


def _run(*command: str, stdin: str | None = None) -> str:
    done = subprocess.run(list(command), input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FirewallError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return done.stdout


def udp_blocked_rules() -> str:
    """udp_blocked_rules is the ruleset of a network that drops all UDP out of the patient
    side (to the clinic; loopback inside the namespace is left alone): hotel Wi-Fi."""
    return f"""
table inet {TABLE} {{
    chain output {{
        type filter hook output priority filter; policy accept;
        oifname "{PATIENT_END}" meta l4proto udp drop
    }}
}}
"""


def _ports(ports: Iterable[int], what: str) -> list[int]:
    allowed = sorted(set(ports))
    if not allowed or any(not 0 < p < 65536 for p in allowed):
        raise ValueError(f"{what} needs ports between 1 and 65535, got {allowed}")
    return allowed


def only_tcp_rules(ports: Iterable[int]) -> str:
    """only_tcp_rules is the ruleset of a network that lets out new TCP connections to ports
    only (and whatever belongs to a connection already let through): a locked-down workplace.

    It lets nothing new in either: a stateful firewall that only filtered what goes out would
    take the browser's answer to Janus's own connectivity check (UDP from outside first) for
    part of a connection and let it through, and the direct path would work."""
    return only_to_rules(_ports(ports, "only_tcp_rules"))


def only_to_rules(tcp: Iterable[int], udp: Iterable[int] = ()) -> str:
    """only_to_rules is only_tcp_rules with UDP to the udp ports let out too (TURN's, say:
    the browser is relayed over UDP and nothing else; bench/relay.py)."""
    tcp_listed = ", ".join(str(p) for p in _ports(tcp, "only_to_rules"))
    udp_ports = list(udp)
    udp_rule = ""
    if udp_ports:
        udp_listed = ", ".join(str(p) for p in _ports(udp_ports, "only_to_rules"))
        udp_rule = f"\n        udp dport {{ {udp_listed} }} ct state new accept"
    return f"""
table inet {TABLE} {{
    chain output {{
        type filter hook output priority filter; policy drop;
        oifname "lo" accept
        ct state established,related accept
        tcp dport {{ {tcp_listed} }} ct state new accept{udp_rule}
    }}
    chain input {{
        type filter hook input priority filter; policy drop;
        iifname "lo" accept
        ct state established,related accept
    }}
}}
"""


@dataclass
class PatientNetwork:
    """PatientNetwork is the patient's namespace behind its veth link to the clinic."""

    name: str
    """The namespace's name, vardmote-patient-<pid>."""
    clinic_address: str = CLINIC_ADDRESS
    patient_address: str = PATIENT_ADDRESS

    def run(self, *command: str, stdin: str | None = None) -> str:
        """run runs a command in the patient namespace (ip netns exec) and returns its output;
        raises FirewallError if it fails."""
        return _run("ip", "netns", "exec", self.name, *command, stdin=stdin)

    def apply(self, ruleset: str) -> None:
        """apply replaces the patient side's firewall with ruleset (nft syntax)."""
        self.open()
        self.run("nft", "-f", "-", stdin=ruleset)

    def open(self) -> None:
        """open removes every firewall rule: the patient reaches the clinic freely."""
        self.run("nft", "flush", "ruleset")

    def block_udp(self) -> None:
        """block_udp drops every UDP datagram the patient sends (udp_blocked_rules)."""
        self.apply(udp_blocked_rules())

    def allow_only(self, *, tcp: Iterable[int], udp: Iterable[int] = ()) -> None:
        """allow_only lets out only TCP connections to the tcp ports and UDP to the udp ports
        (only_to_rules)."""
        self.apply(only_to_rules(tcp, udp))

    def allow_only_tcp_to(self, *ports: int) -> None:
        """allow_only_tcp_to lets out only TCP connections to ports (only_tcp_rules)."""
        self.apply(only_tcp_rules(ports))

    def ruleset(self) -> str:
        """ruleset is what nftables holds in the patient namespace now (nft list ruleset)."""
        return self.run("nft", "list", "ruleset")

    def link_down(self) -> None:
        """link_down takes the patient's end of the link down (the clinic's loses its carrier)."""
        _run("ip", "-n", self.name, "link", "set", PATIENT_END, "down")

    def link_up(self) -> None:
        """link_up brings the patient's end of the link up again (its address and route return)."""
        _run("ip", "-n", self.name, "link", "set", PATIENT_END, "up")

    def chromium_wrapper(self, folder: Path, chromium: str = CHROMIUM) -> Path:
        """chromium_wrapper writes folder/chromium-<ns>, a script that runs chromium in the patient
        namespace, for Playwright's executable_path; returns its path."""
        script = folder / f"chromium-{self.name}"
        script.write_text(f'#!/bin/sh\nexec ip netns exec {self.name} {chromium} "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return script

    def close(self) -> None:
        """close deletes the namespace (best effort); the pair goes with it once the processes
        in it have ended."""
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, check=False)


def patient_chromium_args(origin: str, base: Iterable[str], *, trusted: Iterable[Path] = ()) -> list[str]:
    """patient_chromium_args are base (tests/e2e/conftest.py's CHROMIUM_ARGS) without loopback
    candidates, plus what the patient's browser needs: origin (http://10.204.0.1:<port>)
    treated as a secure context, and the certificates in trusted (PEM files: the test relay's
    and proxy's self-signed ones) trusted by their public keys
    (``--ignore-certificate-errors-spki-list``, which Chromium applies to TURN over TLS as
    well as to pages; any other certificate is still refused)."""
    # The patient's browser is one on another machine: it has an address of its own (pt1's) and,
    # like every browser not told otherwise, offers no loopback candidates.
    args = [a for a in base if a != "--allow-loopback-in-peer-connection"]
    args.append(f"--unsafely-treat-insecure-origin-as-secure={origin}")
    keys = [spki_hash(path) for path in trusted]
    if keys:
        args.append(f"--ignore-certificate-errors-spki-list={','.join(keys)}")
    return args


def spki_hash(path: Path) -> str:
    """spki_hash is the base64 SHA-256 of the public key (SubjectPublicKeyInfo) of the first
    certificate in a PEM file, as Chromium's --ignore-certificate-errors-spki-list takes it."""
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    key = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(key).digest()).decode()


def free_udp_ports(count: int, *, low: int = 40000, high: int = 48000) -> tuple[int, int]:
    """free_udp_ports picks count consecutive UDP ports between low and high that are free on
    the clinic's side now (for a relay's port range; away from tests/machine.py's RTP blocks)."""
    for _ in range(50):
        start = random.randrange(low, high - count)
        if all(_udp_free(p) for p in range(start, start + count)):
            return start, start + count - 1
    raise FirewallError(f"no {count} free UDP ports in a row between {low} and {high}")


def free_port_pair() -> int:
    """free_port_pair is a port free for both TCP and UDP (a TURN listener takes both)."""
    for _ in range(50):
        port = free_tcp_port()
        if _udp_free(port):
            return port
    raise FirewallError("no port free for both TCP and UDP")


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def remove_stale() -> list[str]:
    """remove_stale deletes every vardmote-patient-<pid> namespace whose process is gone;
    returns their names."""
    removed: list[str] = []
    if not netns.NETNS_DIR.is_dir():
        return removed
    for entry in netns.NETNS_DIR.iterdir():
        suffix = entry.name.removeprefix(PREFIX)
        if entry.name == suffix or not suffix.isdigit():
            continue
        pid = int(suffix)
        if not _alive(pid):
            subprocess.run(["ip", "netns", "delete", entry.name], capture_output=True, check=False)
            removed.append(entry.name)
    return removed


def _has_link(name: str) -> bool:
    done = subprocess.run(["ip", "link", "show", name], capture_output=True, check=False)
    return done.returncode == 0


@contextmanager
def patient_network() -> Iterator[PatientNetwork]:
    """patient_network makes the patient namespace and its link to the clinic (see the module)
    for the block, with no firewall rules, and deletes it afterwards.

    Must be called in the test namespace (netns.enter_test_namespace): pt0 is made where the
    calling process is. One at a time per process.
    """
    netns.media_address()  # fails unless this process is in the test namespace
    remove_stale()
    network = PatientNetwork(f"{PREFIX}{os.getpid()}")
    network.close()  # a leftover of a block of this process that did not end
    if _has_link(CLINIC_END):  # the peer of a pair whose patient side was deleted just now
        subprocess.run(["ip", "link", "delete", CLINIC_END], capture_output=True, check=False)
    _run("ip", "netns", "add", network.name)
    try:
        _run("ip", "-n", network.name, "link", "set", "lo", "up")
        _run("ip", "link", "add", CLINIC_END, "type", "veth", "peer", "name", PATIENT_END)
        _run("ip", "link", "set", PATIENT_END, "netns", network.name)
        _run("ip", "addr", "add", f"{CLINIC_ADDRESS}/24", "dev", CLINIC_END)
        _run("ip", "link", "set", CLINIC_END, "up")
        _run("ip", "-n", network.name, "addr", "add", f"{PATIENT_ADDRESS}/24", "dev", PATIENT_END)
        _run("ip", "-n", network.name, "link", "set", PATIENT_END, "up")
        yield network
    finally:
        network.close()
        subprocess.run(["ip", "link", "delete", CLINIC_END], capture_output=True, check=False)
