"""The patient network of the TURN tests (tests/firewall.py) does what the tests rely on.

Each test sends real datagrams and opens real connections from the patient
namespace (a small Python run there with ``ip netns exec``) to sockets this
process holds on the clinic's address, with and without the rules: UDP
blocked lets TCP through and no UDP; "only TCP to a port" lets that port
through and nothing else; a cut link carries nothing until it is up again;
the Chromium wrapper runs its program in the patient namespace; stale
namespaces of killed runs are removed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import firewall
from firewall import (
    CLINIC_ADDRESS,
    PATIENT_ADDRESS,
    PatientNetwork,
    free_port_pair,
    only_tcp_rules,
    only_to_rules,
    patient_network,
)
from netns import NETNS_DIR

# Run in the patient namespace: sends one UDP datagram, or connects over TCP, to the clinic
# and prints "sent"/"connected" or the error's name.
PROBE = """
import socket, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "udp":
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(b"hej", (host, port))
            print("sent")
        except OSError as e:
            print(type(e).__name__)
else:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.5)
        try:
            s.connect((host, port))
            print("connected")
        except OSError as e:
            print(type(e).__name__)
"""


# Run in the patient namespace: waits (at most 3 s) for one UDP datagram on the given port and
# answers it, as a browser answers Janus's connectivity check; prints "answered" or "nothing".
ANSWER = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.bind((sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    s.settimeout(3)
    try:
        data, sender = s.recvfrom(64)
        s.sendto(data, sender)
        print("answered")
    except TimeoutError:
        print("nothing")
"""


@pytest.fixture(scope="module")
def network() -> Iterator[PatientNetwork]:
    with patient_network() as made:
        yield made


@pytest.fixture(autouse=True)
def no_rules(network: PatientNetwork) -> Iterator[None]:
    network.open()
    yield
    network.open()
    network.link_up()


class Clinic:
    """Clinic is a UDP and a TCP socket this process holds on the clinic's address."""

    def __init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((CLINIC_ADDRESS, 0))
        self.udp.settimeout(1.0)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind((CLINIC_ADDRESS, 0))
        self.tcp.listen(8)
        self.other_tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.other_tcp.bind((CLINIC_ADDRESS, 0))
        self.other_tcp.listen(8)

    def port(self, sock: socket.socket) -> int:
        port: int = sock.getsockname()[1]
        return port

    def datagram_arrived(self) -> bool:
        try:
            return self.udp.recv(64) == b"hej"
        except TimeoutError:
            return False

    def close(self) -> None:
        for sock in (self.udp, self.tcp, self.other_tcp):
            sock.close()


@pytest.fixture
def clinic(network: PatientNetwork) -> Iterator[Clinic]:
    made = Clinic()
    yield made
    made.close()


def _probe(network: PatientNetwork, kind: str, port: int) -> str:
    return network.run(sys.executable, "-c", PROBE, kind, CLINIC_ADDRESS, str(port)).strip()


def test_an_open_network_carries_udp_and_tcp(network: PatientNetwork, clinic: Clinic) -> None:
    assert _probe(network, "udp", clinic.port(clinic.udp)) == "sent"
    assert clinic.datagram_arrived()
    assert _probe(network, "tcp", clinic.port(clinic.tcp)) == "connected"


def test_udp_blocked_drops_every_datagram_and_lets_tcp_through(
    network: PatientNetwork, clinic: Clinic
) -> None:
    network.block_udp()
    assert "udp drop" in network.ruleset()
    _probe(network, "udp", clinic.port(clinic.udp))  # the kernel says "sent" or EPERM: either way
    assert not clinic.datagram_arrived()
    assert _probe(network, "tcp", clinic.port(clinic.tcp)) == "connected"
    network.open()
    _probe(network, "udp", clinic.port(clinic.udp))
    assert clinic.datagram_arrived()


def test_only_tcp_to_a_port_lets_that_port_through_and_nothing_else(
    network: PatientNetwork, clinic: Clinic
) -> None:
    network.allow_only_tcp_to(clinic.port(clinic.tcp))
    assert _probe(network, "tcp", clinic.port(clinic.tcp)) == "connected"
    assert _probe(network, "tcp", clinic.port(clinic.other_tcp)) in {"TimeoutError", "PermissionError"}
    _probe(network, "udp", clinic.port(clinic.udp))
    assert not clinic.datagram_arrived()


def test_only_tcp_and_udp_to_given_ports_lets_those_through_and_nothing_else(
    network: PatientNetwork, clinic: Clinic
) -> None:
    network.allow_only(tcp=[clinic.port(clinic.tcp)], udp=[clinic.port(clinic.udp)])
    _probe(network, "udp", clinic.port(clinic.udp))
    assert clinic.datagram_arrived()
    assert _probe(network, "tcp", clinic.port(clinic.tcp)) == "connected"
    assert _probe(network, "tcp", clinic.port(clinic.other_tcp)) in {"TimeoutError", "PermissionError"}
    assert not _answered_from_outside(network, clinic)


def _answered_from_outside(network: PatientNetwork, clinic: Clinic) -> bool:
    """_answered_from_outside: the clinic sends a datagram to the patient first; does the
    patient's answer come back?"""
    port = free_port_pair()
    answering = subprocess.Popen(
        ["ip", "netns", "exec", network.name, sys.executable, "-c", ANSWER, PATIENT_ADDRESS, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert answering.stdout is not None
        assert answering.stdout.readline().strip() == "ready"
        clinic.udp.sendto(b"hej", (PATIENT_ADDRESS, port))
        return clinic.datagram_arrived()
    finally:
        answering.wait(timeout=5)


def test_only_tcp_lets_no_answer_to_udp_from_outside_through(network: PatientNetwork, clinic: Clinic) -> None:
    assert _answered_from_outside(network, clinic)
    network.allow_only_tcp_to(clinic.port(clinic.tcp))
    assert not _answered_from_outside(network, clinic)


@pytest.mark.parametrize(
    "ports",
    [pytest.param([], id="none"), pytest.param([0], id="zero"), pytest.param([65536], id="too-high")],
)
def test_only_tcp_rules_refuse_ports_that_are_no_ports(ports: list[int]) -> None:
    with pytest.raises(ValueError, match="only_tcp_rules needs ports between 1 and 65535"):
        only_tcp_rules(ports)
    with pytest.raises(ValueError, match="only_to_rules needs ports between 1 and 65535"):
        only_to_rules([80], ports or [0])


def test_a_cut_link_carries_nothing_until_it_is_up_again(network: PatientNetwork, clinic: Clinic) -> None:
    network.link_down()
    assert _probe(network, "tcp", clinic.port(clinic.tcp)) in {"OSError", "TimeoutError"}
    network.link_up()
    assert _probe(network, "tcp", clinic.port(clinic.tcp)) == "connected"


def test_the_chromium_wrapper_runs_its_program_in_the_patient_namespace(
    network: PatientNetwork, tmp_path: Path
) -> None:
    wrapper = network.chromium_wrapper(tmp_path, chromium="/usr/bin/readlink")
    done = subprocess.run([str(wrapper), "/proc/self/ns/net"], capture_output=True, text=True, check=True)
    patient_inode = os.stat(NETNS_DIR / network.name).st_ino
    assert done.stdout.strip() == f"net:[{patient_inode}]"
    assert os.readlink("/proc/self/ns/net") != done.stdout.strip()


def test_a_killed_runs_namespace_is_removed() -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()
    stale = f"{firewall.PREFIX}{ended.pid}"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        assert stale in firewall.remove_stale()
        assert not (NETNS_DIR / stale).exists()
    finally:
        subprocess.run(["ip", "netns", "delete", stale], capture_output=True, check=False)
