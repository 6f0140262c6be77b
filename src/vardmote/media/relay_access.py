"""Relay access: the TURN servers browsers are given, with short-lived credentials.

The relay is coturn with ``use-auth-secret`` (the "TURN REST API"): vardmote
and coturn share one secret, and vardmote makes each credential itself,
without asking coturn::

    username   = "<expires_at>:<holder>"           (expires_at: Unix seconds)
    credential = base64(HMAC-SHA1(secret, username))

coturn recomputes the credential from the username and refuses it once
expires_at has passed. holder is opaque (a participant id, never a name or a
personnummer): coturn logs usernames.

:meth:`RelayAccess.probe_servers` gives the same URLs with a credential that
never works: coturn answers it with 401, which is what the connection test
looks for in the browser's ``icecandidateerror`` (the relay answered on that
transport) without handing anything usable to someone not yet admitted.

This module is pure (no I/O); :mod:`vardmote.media.relay` runs the embedded
coturn and makes its secret, and :func:`relay_access_from_settings` chooses
the URLs for the configured mode.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from vardmote.settings import Secret, Settings, check_turn_url

PROBE_USERNAME = "0:vardmote-probe"
"""The probe's username: expired since 1970, so coturn refuses it whatever the credential."""

_HOLDER = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class RelayAccess:
    """RelayAccess is how browsers reach the relay: its URLs and the secret to make credentials."""

    urls: tuple[str, ...]
    """``turn:``/``turns:`` URLs given to browsers, e.g. ``turn:192.0.2.10:3478?transport=udp``."""

    secret: Secret
    """coturn's ``static-auth-secret``."""

    credential_seconds: int = 3600
    """Seconds a credential lasts beyond the meeting's links' expiry (its booked end plus
    VARDMOTE_LINK_GRACE_MINUTES), and at least from now."""

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("RelayAccess needs at least one turn: or turns: URL")
        for url in self.urls:
            check_turn_url(url, "RelayAccess.urls")
        if not self.secret.reveal():
            raise ValueError("RelayAccess needs a non-empty secret")
        if self.credential_seconds < 60:
            raise ValueError(
                f"RelayAccess.credential_seconds must be at least 60, got {self.credential_seconds}"
            )

    def expires_at(self, *, booked_end: int | None, now: int) -> int:
        """expires_at is when credentials given now expire (Unix seconds): booked_end, the
        meeting's links' expiry (its booked end plus the links' grace), plus credential_seconds,
        and never sooner than now plus credential_seconds."""
        soonest = now + self.credential_seconds
        if booked_end is None:
            return soonest
        return max(booked_end + self.credential_seconds, soonest)

    def credential(self, username: str) -> str:
        """credential is coturn's password for username: base64 of HMAC-SHA1 keyed with the secret."""
        digest = hmac.new(self.secret.reveal().encode(), username.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def ice_servers(self, holder: str, *, expires_at: int) -> list[dict[str, Any]]:
        """ice_servers is the RTCIceServer list for one participant: every URL with a username
        ``<expires_at>:<holder>`` and its credential. holder is opaque (letters, digits, ``-``
        and ``_``, at most 64): a participant id, never personal data, as coturn logs it."""
        if not _HOLDER.fullmatch(holder):
            raise ValueError(f"a relay credential's holder must be 1-64 of A-Z a-z 0-9 - _, got {holder!r}")
        if expires_at < 0:
            raise ValueError(f"expires_at must be Unix seconds, got {expires_at}")
        username = f"{int(expires_at)}:{holder}"
        return [{"urls": list(self.urls), "username": username, "credential": self.credential(username)}]

    def probe_servers(self) -> list[dict[str, Any]]:
        """probe_servers is the same URLs with a username and credential that never work: the
        relay answers 401, which proves it is reachable on that transport (the connection test)."""
        return [
            {"urls": list(self.urls), "username": PROBE_USERNAME, "credential": secrets.token_urlsafe(20)}
        ]


def embedded_urls(address: str, port: int, tls_port: int) -> tuple[str, ...]:
    """embedded_urls are the URLs of the embedded coturn: UDP and TCP on port, and TLS (``turns:``)
    on tls_port unless it is 0."""
    host = f"[{address}]" if ":" in address else address
    urls = [f"turn:{host}:{port}?transport=udp", f"turn:{host}:{port}?transport=tcp"]
    if tls_port:
        urls.append(f"turns:{host}:{tls_port}?transport=tcp")
    return tuple(urls)


def relay_access_from_settings(settings: Settings, secret: Secret | None = None) -> RelayAccess | None:
    """relay_access_from_settings is the relay browsers get: None when VARDMOTE_TURN is off (or
    media is off); for ``external`` the configured URLs and secret; for ``embedded`` the URLs of
    the embedded coturn, with secret (the one the embedded relay uses, see
    :meth:`vardmote.media.relay.EmbeddedRelay.secret`) unless VARDMOTE_TURN_SECRET is set."""
    if not settings.media or settings.turn == "off":
        return None
    if settings.turn == "external":
        return RelayAccess(settings.turn_urls, settings.turn_secret, settings.turn_credential_seconds)
    configured = settings.turn_secret if settings.turn_secret.reveal() else None
    chosen = configured or secret
    if chosen is None:
        raise ValueError(
            "the embedded relay's secret is needed (EmbeddedRelay.secret) when none is configured"
        )
    urls = settings.turn_urls or embedded_urls(
        settings.effective_turn_address, settings.turn_port, settings.turn_tls_port
    )
    return RelayAccess(urls, chosen, settings.turn_credential_seconds)
