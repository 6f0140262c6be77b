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

import re

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

_M_LINE = re.compile(r"^m=(\S+) ", re.MULTILINE)


def media_kinds(sdp: str) -> list[str]:
    """media_kinds lists the kind of every m-line of a session description, in order
    (``audio``, ``video``, ``application`` for a data channel)."""
    return _M_LINE.findall(sdp)


def is_data_channel_only(sdp: str) -> bool:
    """is_data_channel_only tells whether an offer has m-lines and every one is a data channel:
    the connection test never carries sound or picture."""
    kinds = media_kinds(sdp)
    return bool(kinds) and all(kind == "application" for kind in kinds)


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
