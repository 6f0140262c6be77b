"""EchoTest: the requests of Janus's EchoTest plugin that the connection test uses, typed.

"Testa anslutningen" (vardmote.web.connection_test) must show, before anyone
joins, whether media can reach the very Janus the meeting would be on, without
a room and without sending media to anyone. Janus's EchoTest plugin
(``janus.plugin.echotest``) sends back to its one peer whatever that peer
sends; here the peer offers a data channel and nothing else, so what goes
back and forth is a few bytes of its own:

- binary messages come back as they were sent;
- text messages come back with the plugin's prefix ("Janus EchoTest here! You
  wrote: "), so a browser that wants its bytes back unchanged sends binary.

The request is the plugin's single unnamed one, ``{"audio": false, "video":
false, "data": true}``, with the browser's offer; Janus answers later, in an
event with its answer (see :mod:`vardmote.media.janus`). The browser gathers
every candidate before it offers (no trickle), so :func:`answer_offer` tells
Janus so at once (``trickle`` with ``completed``), and Janus's answer carries
its own candidates.

Errors: a refused offer raises :class:`~vardmote.media.janus.JanusError` with
the plugin's or Janus's code (constants below).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from vardmote.media.janus import JanusError, JanusHandle

PLUGIN = "janus.plugin.echotest"

# The codes Janus answers an unusable offer with (janus_echotest.c, apierror.h).
NO_MESSAGE = 411
INVALID_JSON = 412
INVALID_ELEMENT = 413
INVALID_SDP = 414
JSEP_INVALID_SDP = 465
"""Janus core: the session description could not be parsed."""
UNUSABLE_OFFER = frozenset({NO_MESSAGE, INVALID_JSON, INVALID_ELEMENT, INVALID_SDP, JSEP_INVALID_SDP})
"""Codes that mean the offer itself is at fault (the browser's), not Janus."""

MAX_CANDIDATES = 30
"""Candidates an offer may carry: a browser gathers a handful per network interface; Janus
sends connectivity checks to every one, so hundreds would have it knock on hundreds of
addresses."""


def _lines(sdp: str) -> list[str]:
    """_lines splits a session description at every line break any parser might see (CRLF, LF,
    a bare CR, and the rest that str.splitlines knows), so that no m-line or candidate can
    hide behind an unusual one."""
    return sdp.splitlines()


def media_kinds(sdp: str) -> list[str]:
    """media_kinds lists the kind of every m-line of a session description, in order
    (``audio``, ``video``, ``application`` for a data channel)."""
    stripped = (line.lstrip() for line in _lines(sdp))
    return [line[2:].split(" ", 1)[0] for line in stripped if line.startswith("m=")]


def is_data_channel_only(sdp: str) -> bool:
    """is_data_channel_only tells whether an offer has m-lines and every one is a data channel:
    the connection test never carries sound or picture. A line that starts ``m=`` after
    blanks counts as an m-line too (and is no data channel)."""
    lines = _lines(sdp)
    kinds = [line.split(" ", 1)[0] for line in lines if line.startswith("m=")]
    hidden = any(line != line.lstrip() and line.lstrip().startswith("m=") for line in lines)
    return bool(kinds) and not hidden and all(kind == "m=application" for kind in kinds)


@dataclass(frozen=True)
class Candidate:
    """Candidate is one ``a=candidate`` line's connection address."""

    address: str
    """An IP address, or an mDNS name (``….local``) a browser hides its host address behind."""
    port: int


def candidates(sdp: str) -> list[Candidate]:
    """candidates reads the address and port of every ``a=candidate`` line (RFC 8839:
    foundation, component, transport, priority, address, port, ``typ``, type). ValueError for
    a line that cannot be read."""
    found = []
    for line in _lines(sdp):
        if not line.lower().startswith("a=candidate"):
            continue
        fields = line.split()
        if len(fields) < 8 or fields[6] != "typ" or not fields[5].isdigit():
            raise ValueError("a candidate line that cannot be read")
        port = int(fields[5])
        if not 0 < port < 65536:
            raise ValueError("a candidate's port is out of range")
        found.append(Candidate(fields[4], port))
    return found


def unusable_address(address: str) -> bool:
    """unusable_address tells whether Janus must not send connectivity checks to a candidate's
    address: the loopback (Janus's own machine), link-local, multicast, unspecified or
    broadcast addresses (also written as IPv4 in IPv6), or a name other than an mDNS one.
    Private ranges are usable: a patient on a LAN, a clinic's own network."""
    if address.lower().endswith(".local") and "/" not in address:
        return False  # the browser's mDNS name for its host address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return True  # a DNS name Janus would look up: it could name anything
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address) and (
        ip in _THIS_NETWORK or ip == ipaddress.IPv4Address("255.255.255.255")
    ):
        return True
    return ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified


_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


async def answer_offer(handle: JanusHandle, offer_sdp: str) -> str:
    """answer_offer gives the EchoTest on handle a data-channel-only offer (every candidate in
    it) and returns Janus's answer, its candidates in it. Raises ValueError for an offer that
    carries media (it is never sent), JanusError when Janus refuses it."""
    if not is_data_channel_only(offer_sdp):
        raise ValueError("the connection test's offer must have data channels only, no audio or video")
    data, answer = await handle.message(
        {"audio": False, "video": False, "data": True}, {"type": "offer", "sdp": offer_sdp}
    )
    if answer is None:
        raise JanusError(0, f"the EchoTest answered without a session description: {data}")
    await handle.trickle(None)  # every candidate of the browser's was in its offer
    return answer["sdp"]
