"""Throttle: failed attempts counted per key, and the wait they impose, in the signin_throttle table.

A key is what is counted: ``user:<name>`` and ``addr:<ip>`` for the password sign-in
(:mod:`vardmote.accounts.service`), ``oidc:addr:<ip>`` for the sign-in with the region's
identity provider (:mod:`vardmote.web.signin_pages`) and ``oauth:addr:<ip>`` for the journal
systems' token endpoint (:mod:`vardmote.clients.token`). The rule is the same for every key:
past ``signin_max_failures`` failures in a streak each further failure blocks the key for
twice as long as the one before (1 s, 2 s, 4 s, …) up to :data:`MAX_BLOCK_SECONDS`; a streak
is forgotten after :data:`FAILURE_MEMORY` without a failure. A blocked key is answered 429 with
``Retry-After`` before any other work, and that answer is neither counted nor audited. Only
failures count. The retention purge (:mod:`vardmote.retention`) deletes the rows of every key
alike once their last failure is old and they block nothing.

:class:`AddressThrottle` is the per-address throttle of an endpoint that anyone may call and
whose refusals are audited. Every audit entry takes the log's one lock (the hash chain has one
writer at a time) and stays for good, so refusals audited without a bound would let anyone
slow down every audited change and grow the log for ever. Hence the rule for a refusal whose
sender is not known (nothing in it verified): it is audited only when it begins its address's
streak (:func:`worth_auditing`), at most once per address until an hour passes without a
failure; the later ones are counted, not audited. A refusal of someone verified (a journal
system's signed assertion, a person the identity provider signed in) is audited every time:
no one can send those in bulk without the keys or the sign-in.

Concurrency: the row is read ``FOR UPDATE`` (PostgreSQL) and a new one inserted in a
savepoint, so concurrent failures from one address are all counted and none of them fails on
the primary key; on SQLite every write transaction holds the database lock already.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vardmote.accounts.models import SigninThrottle
from vardmote.context import Context
from vardmote.errors import TooManyAttempts

MAX_BLOCK_SECONDS = 15 * 60
"""The longest a key is blocked after one more failure."""
FAILURE_MEMORY = dt.timedelta(hours=1)
"""Failed attempts further apart than this start the count again."""
MAX_ADDRESS = 100
"""The longest address kept in a key (the key column holds 128 characters)."""


def wait_seconds(s: Session, key: str, now: dt.datetime) -> int:
    """wait_seconds is how many whole seconds key stays blocked from now (0: not blocked)."""
    row = s.get(SigninThrottle, key)
    if row is None or row.blocked_until is None or row.blocked_until <= now:
        return 0
    return max(1, int((row.blocked_until - now).total_seconds() + 0.999))


def count_failure(ctx: Context, s: Session, key: str, now: dt.datetime) -> int:
    """count_failure counts a failure for key in s's transaction, blocks the key once the streak
    passes ``signin_max_failures``, and returns how many failures the streak now holds (1: this
    one began it)."""
    row = _locked(s, key)
    if row is None:
        try:
            with s.begin_nested():
                s.add(SigninThrottle(key=key, failures=0, last_failure_at=now))
        except IntegrityError:
            pass  # another transaction counted this key's first failure: its row is used below
        row = _locked(s, key)
        assert row is not None
    if row.failures and row.last_failure_at < now - FAILURE_MEMORY:
        row.failures = 0  # an old streak is forgotten, so one typo later blocks no one
    row.failures += 1
    row.last_failure_at = now
    excess = row.failures - ctx.settings.signin_max_failures
    if excess >= 0:
        row.blocked_until = now + dt.timedelta(seconds=min(MAX_BLOCK_SECONDS, 2 ** min(excess, 20)))
    s.flush()
    return row.failures


def _locked(s: Session, key: str) -> SigninThrottle | None:
    query = select(SigninThrottle).where(SigninThrottle.key == key).with_for_update()
    return s.scalar(query.execution_options(populate_existing=True))


def worth_auditing(failures: int) -> bool:
    """worth_auditing tells whether a refusal from an unknown sender, the failures-th of its
    address's streak, is audited: only the first is (see the module's note)."""
    return failures == 1


def too_many_attempts(wait: int) -> TooManyAttempts:
    """too_many_attempts is the refusal of a sign-in while its key must wait wait seconds."""
    return TooManyAttempts(
        f"För många misslyckade inloggningar. Vänta {wait} sekunder och försök igen.", wait
    )


@dataclass(frozen=True)
class AddressThrottle:
    """AddressThrottle counts one endpoint's failures per client address, under the keys
    ``<prefix>:addr:<address>``."""

    prefix: str
    """The endpoint's part of the key: ``oauth`` or ``oidc``."""

    def key(self, address: str) -> str:
        """key is the throttle key of address."""
        return f"{self.prefix}:addr:{address[:MAX_ADDRESS]}"

    def wait(self, s: Session, address: str, now: dt.datetime) -> int:
        """wait is how many seconds address must wait before it is heard again (0: not at all)."""
        return wait_seconds(s, self.key(address), now)

    def failed(self, ctx: Context, s: Session, address: str, now: dt.datetime) -> bool:
        """failed counts a failure from address and tells whether a refusal from an unknown
        sender is to be audited (:func:`worth_auditing`)."""
        return worth_auditing(count_failure(ctx, s, self.key(address), now))


TOKEN_ENDPOINT = AddressThrottle("oauth")
"""The throttle of the journal systems' token endpoint, ``/oauth/token``."""
STAFF_OIDC = AddressThrottle("oidc")
"""The throttle of the staff sign-in with the region's identity provider (``/logga-in/oidc/…``)."""
