"""VideoRoom: the requests of Janus's VideoRoom plugin that vardmote uses, typed.

Janus 1.x, multistream, with ``string_ids = true`` in the plugin's
configuration: rooms and participants are named by strings, and a room is
named by its meeting's id.

Two kinds of request:

- room control (:class:`RoomControl`): create, destroy, exists,
  listparticipants, kick, moderate. Janus answers them at once. Creating a
  room needs the plugin's ``admin_key``; destroying it, kicking and
  moderating need the room's ``secret``.
- a participant's own requests on its handles: join as publisher, publish or
  configure with an offer, unpublish, leave; join as subscriber with a list
  of streams, start with the answer, update the subscription. Janus answers
  them later, in an event (see :mod:`vardmote.media.janus`).

Room secrets are not stored: each is derived from the admin key and the room
id (HMAC-SHA256), so that any vardmote process that knows the admin key can
control any room it placed, with no shared store. Trade-off: whoever holds
the admin key holds every room's secret; both are vardmote's alone anyway,
and Janus's API is never exposed to browsers.

Errors: a refused request raises :class:`~vardmote.media.janus.JanusError`
with the plugin's code (constants below).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vardmote.media.janus import JanusError, JanusHandle, Jsep, Json
from vardmote.settings import Secret

PLUGIN = "janus.plugin.videoroom"

# The plugin's error codes (janus_videoroom.c) that vardmote reacts to.
NO_SUCH_ROOM = 426
ROOM_EXISTS = 427
NO_SUCH_FEED = 428
MISSING_ELEMENT = 429
PUBLISHERS_FULL = 432
UNAUTHORIZED = 433
ALREADY_PUBLISHED = 434


@dataclass(frozen=True)
class RoomOptions:
    """RoomOptions are the settings of a new room."""

    publishers: int = 6
    """Most participants who may send media at the same time (Janus's own limit)."""

    bitrate: int = 1_024_000
    """Cap on each publisher's video bitrate, in bits per second, sent back by REMB."""

    is_private: bool = True
    """Keep the room out of the plugin's ``list``."""

    require_pvtid: bool = True
    """Subscriptions must name a joined participant's private_id, so that no
    anonymous handle can receive the room's media."""

    audiolevel_event: bool = False
    """Tell participants who is talking (``talking``/``stopped-talking`` events)."""

    description: str = ""
    """Name shown in Janus's own tools; empty means the room id."""

    def __post_init__(self) -> None:
        if self.publishers < 1:
            raise ValueError(f"publishers must be at least 1, got {self.publishers}")
        if self.bitrate < 0:
            raise ValueError(f"bitrate must not be negative, got {self.bitrate}")


@dataclass(frozen=True)
class FeedStream:
    """FeedStream is one stream a publisher sends (audio, video or data)."""

    mid: str
    type: str
    codec: str | None
    description: str | None
    disabled: bool
    moderated: bool
    """The room's moderator muted this stream (``moderate``)."""

    @classmethod
    def from_janus(cls, data: Json) -> FeedStream:
        return cls(
            mid=str(data.get("mid", "")),
            type=str(data.get("type", "")),
            codec=data.get("codec"),
            description=data.get("description"),
            disabled=bool(data.get("disabled", False)),
            moderated=bool(data.get("moderated", False)),
        )


@dataclass(frozen=True)
class Feed:
    """Feed is a participant who publishes media, as others see them."""

    id: str
    display: str | None
    streams: tuple[FeedStream, ...]

    @classmethod
    def from_janus(cls, data: Json) -> Feed:
        streams = tuple(FeedStream.from_janus(s) for s in data.get("streams") or ())
        return cls(id=str(data["id"]), display=data.get("display"), streams=streams)

    def mid_of(self, kind: str) -> str | None:
        """mid_of returns the mid of the feed's first enabled stream of kind (audio, video)."""
        return next((s.mid for s in self.streams if s.type == kind and not s.disabled), None)


@dataclass(frozen=True)
class Participant:
    """Participant is one joined participant as ``listparticipants`` reports them."""

    id: str
    display: str | None
    publisher: bool
    """Whether they send media now."""
    talking: bool | None


@dataclass(frozen=True)
class Joined:
    """Joined is the plugin's answer to a publisher's join."""

    room: str
    id: str
    private_id: int
    """Secret to this participant; their subscriptions must name it (require_pvtid)."""
    feeds: tuple[Feed, ...]
    """Who publishes in the room now."""


@dataclass(frozen=True)
class SubscribeTo:
    """SubscribeTo names streams to receive: all of a feed's, or one by its mid."""

    feed: str
    mid: str | None = None

    def to_janus(self) -> Json:
        body: Json = {"feed": self.feed}
        if self.mid is not None:
            body["mid"] = self.mid
        return body


@dataclass(frozen=True)
class UnsubscribeFrom:
    """UnsubscribeFrom names received streams to drop: by feed (and mid), or by sub_mid."""

    feed: str | None = None
    mid: str | None = None
    sub_mid: str | None = None
    """The mid in the subscriber's own PeerConnection."""

    def __post_init__(self) -> None:
        if self.feed is None and self.sub_mid is None:
            raise ValueError("UnsubscribeFrom needs a feed or a sub_mid")

    def to_janus(self) -> Json:
        return {k: v for k, v in (("feed", self.feed), ("mid", self.mid), ("sub_mid", self.sub_mid)) if v}


@dataclass(frozen=True)
class SubscribedStream:
    """SubscribedStream is one m-line of a subscriber's PeerConnection."""

    mid: str
    type: str
    feed_id: str | None
    feed_mid: str | None
    feed_display: str | None
    active: bool

    @classmethod
    def from_janus(cls, data: Json) -> SubscribedStream:
        feed_id = data.get("feed_id")
        return cls(
            mid=str(data.get("mid", "")),
            type=str(data.get("type", "")),
            feed_id=None if feed_id is None else str(feed_id),
            feed_mid=data.get("feed_mid"),
            feed_display=data.get("feed_display"),
            active=bool(data.get("active", True)),
        )


@dataclass(frozen=True)
class Subscription:
    """Subscription is the state of a subscriber's PeerConnection after a change.

    offer is Janus's new offer, to be answered with :func:`start`; it is None when
    the change needed no renegotiation or Janus postponed it (``updating``).
    """

    streams: tuple[SubscribedStream, ...]
    offer: Jsep | None
    listed: bool = True
    """Whether Janus listed the streams (its answer to a restart, and some events, need not):
    when False, streams is empty and says nothing."""


def room_secret(admin_key: Secret, room: str) -> Secret:
    """room_secret derives the secret of one room from the admin key (see the module)."""
    digest = hmac.new(admin_key.reveal().encode(), b"vardmote room secret\0" + room.encode(), hashlib.sha256)
    return Secret(digest.hexdigest())


class RoomControl:
    """RoomControl makes and governs rooms on one Janus node, over any VideoRoom handle.

    The handle need not join anything: these requests are answered at once.
    """

    def __init__(self, handle: JanusHandle, admin_key: Secret) -> None:
        if handle.plugin != PLUGIN:
            raise ValueError(f"RoomControl needs a {PLUGIN} handle, got {handle.plugin!r}")
        self._handle = handle
        self._admin_key = admin_key

    def _secret(self, room: str) -> str:
        return room_secret(self._admin_key, room).reveal()

    async def _request(self, body: Json) -> Json:
        data, _ = await self._handle.message(body)
        return data

    async def create(self, room: str, options: RoomOptions | None = None) -> None:
        """create makes the room, never recorded and never saved to Janus's configuration.

        A room that exists already raises JanusError(ROOM_EXISTS).
        """
        options = options or RoomOptions()
        await self._request(
            {
                "request": "create",
                "room": room,
                "admin_key": self._admin_key.reveal(),
                "secret": self._secret(room),
                "description": options.description or room,
                "publishers": options.publishers,
                "bitrate": options.bitrate,
                "is_private": options.is_private,
                "require_pvtid": options.require_pvtid,
                "audiolevel_event": options.audiolevel_event,
                "record": False,
                "lock_record": True,
                "permanent": False,
            }
        )

    async def destroy(self, room: str) -> None:
        """destroy ends the room; everyone in it is hung up. A missing room is fine."""
        try:
            await self._request({"request": "destroy", "room": room, "secret": self._secret(room)})
        except JanusError as e:
            if e.code != NO_SUCH_ROOM:
                raise

    async def exists(self, room: str) -> bool:
        """exists tells whether the room exists on this node."""
        data = await self._request({"request": "exists", "room": room})
        return bool(data.get("exists"))

    async def participants(self, room: str) -> list[Participant]:
        """participants lists who joined the room (``listparticipants``)."""
        data = await self._request({"request": "listparticipants", "room": room})
        return [
            Participant(str(p["id"]), p.get("display"), bool(p.get("publisher")), p.get("talking"))
            for p in data.get("participants") or ()
        ]

    async def kick(self, room: str, participant: str) -> None:
        """kick removes a participant: their PeerConnections are hung up."""
        await self._request(
            {"request": "kick", "room": room, "secret": self._secret(room), "id": participant}
        )

    async def moderate(self, room: str, participant: str, mid: str, *, mute: bool) -> None:
        """moderate mutes (or releases) one stream a participant publishes, by its mid.

        Releasing does not unmute a participant who muted themselves.
        """
        await self._request(
            {
                "request": "moderate",
                "room": room,
                "secret": self._secret(room),
                "id": participant,
                "mid": mid,
                "mute": mute,
            }
        )


async def join_as_publisher(
    handle: JanusHandle, room: str, display: str, *, participant: str | None = None
) -> Joined:
    """join_as_publisher enters the room on handle, sending nothing yet.

    participant is the id to take (vardmote's own), or None for one Janus picks.
    """
    body: Json = {"request": "join", "ptype": "publisher", "room": room, "display": display}
    if participant is not None:
        body["id"] = participant
    data, _ = await handle.message(body)
    return Joined(
        room=str(data["room"]),
        id=str(data["id"]),
        private_id=int(data["private_id"]),
        feeds=tuple(Feed.from_janus(p) for p in data.get("publishers") or ()),
    )


def _descriptions(descriptions: dict[str, str] | None) -> list[Json]:
    return [{"mid": mid, "description": text} for mid, text in (descriptions or {}).items()]


async def publish(
    handle: JanusHandle,
    offer: Jsep,
    *,
    descriptions: dict[str, str] | None = None,
    bitrate: int | None = None,
) -> Jsep:
    """publish starts sending media from a joined publisher and returns Janus's answer.

    descriptions names streams by mid (e.g. ``{"1": "skärmdelning"}``).
    """
    body: Json = {"request": "publish"}
    if descriptions:
        body["descriptions"] = _descriptions(descriptions)
    if bitrate is not None:
        body["bitrate"] = bitrate
    data, answer = await handle.message(body, offer)
    if answer is None:
        raise JanusError(0, f"Janus answered publish without a session description: {data}")
    return answer


async def configure(
    handle: JanusHandle,
    *,
    offer: Jsep | None = None,
    mid: str | None = None,
    send: bool | None = None,
    bitrate: int | None = None,
    display: str | None = None,
    descriptions: dict[str, str] | None = None,
) -> Jsep | None:
    """configure changes a publisher: a renegotiation (offer), stopping or resuming
    one stream (mid, send), its bitrate or display name. Returns Janus's answer
    to an offer, else None."""
    body: Json = {"request": "configure"}
    optional: dict[str, Any] = {"mid": mid, "send": send, "bitrate": bitrate, "display": display}
    body.update({k: v for k, v in optional.items() if v is not None})
    if descriptions:
        body["descriptions"] = _descriptions(descriptions)
    _, answer = await handle.message(body, offer)
    return answer


async def unpublish(handle: JanusHandle) -> None:
    """unpublish stops sending media; the participant stays in the room."""
    await handle.message({"request": "unpublish"})


async def leave(handle: JanusHandle) -> None:
    """leave leaves the room (a publisher) or ends the subscription (a subscriber)."""
    await handle.message({"request": "leave"})


def _subscription(data: Json, offer: Jsep | None) -> Subscription:
    streams = data.get("streams")
    if not isinstance(streams, list):
        return Subscription((), offer, listed=False)
    return Subscription(tuple(SubscribedStream.from_janus(s) for s in streams), offer)


async def join_as_subscriber(
    handle: JanusHandle, room: str, streams: Sequence[SubscribeTo], *, private_id: int | None
) -> Subscription:
    """join_as_subscriber subscribes handle to streams; answer Janus's offer with start().

    private_id is the subscribing participant's (from their Joined), which rooms
    with require_pvtid demand.
    """
    if not streams:
        raise ValueError("join_as_subscriber needs at least one stream")
    body: Json = {
        "request": "join",
        "ptype": "subscriber",
        "room": room,
        "streams": [s.to_janus() for s in streams],
    }
    if private_id is not None:
        body["private_id"] = private_id
    data, offer = await handle.message(body)
    return _subscription(data, offer)


async def start(handle: JanusHandle, answer: Jsep) -> None:
    """start gives Janus the subscriber's answer; media flows once ICE and DTLS are up."""
    await handle.message({"request": "start"}, answer)


async def update(
    handle: JanusHandle,
    *,
    subscribe: Iterable[SubscribeTo] = (),
    unsubscribe: Iterable[UnsubscribeFrom] = (),
) -> Subscription:
    """update adds and drops streams of a subscription in one renegotiation."""
    body: Json = {"request": "update"}
    add = [s.to_janus() for s in subscribe]
    drop = [s.to_janus() for s in unsubscribe]
    if not add and not drop:
        raise ValueError("update needs streams to subscribe to or to unsubscribe from")
    if add:
        body["subscribe"] = add
    if drop:
        body["unsubscribe"] = drop
    data, offer = await handle.message(body)
    return _subscription(data, offer)


async def restart_subscription(handle: JanusHandle) -> Subscription:
    """restart_subscription asks Janus for a new offer on a subscriber that restarts ICE
    (``configure`` with ``restart``): new ICE credentials, the same streams. Answer it with
    :func:`start`, as any subscriber offer. Janus lists the streams in its answer when it has
    them; otherwise (``listed`` False) the subscription's streams are as they were."""
    data, offer = await handle.message({"request": "configure", "restart": True})
    if offer is None:
        raise JanusError(0, f"Janus answered an ICE restart without an offer: {data}")
    return _subscription(data, offer)
