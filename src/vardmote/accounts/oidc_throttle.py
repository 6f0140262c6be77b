"""OIDC throttle: the staff sign-in with the identity provider under a flood of refusals.

Anyone can make ``/logga-in/oidc/klar`` refuse (no state cookie, a wrong state, a code the
provider does not know), and ``/logga-in/oidc/start`` refuses everyone while the provider is
down. The refusals are counted per address (``oidc:addr:<ip>``, the rule of
:mod:`vardmote.accounts.throttle`); past ``signin_max_failures`` the address must wait, and
both paths answer it with the sign-in page, 429 and ``Retry-After`` before anything else (no
call to the provider, nothing counted or audited).

Audit: a refusal before the provider's ID token has been verified comes from someone unknown
and is audited only when it begins its address's streak; the later ones are counted, not
audited. A refusal of a person the provider has signed in (:data:`VERIFIED_KINDS`, or any
refusal that names an HSA-id) is audited every time: no one sends those in bulk without
signing in at the provider each time.
"""

from __future__ import annotations

from vardmote.accounts.staff_oidc import (
    CONFLICT_KIND,
    DEACTIVATED_KIND,
    DEMO_KIND,
    NO_HSA_ID_KIND,
    NO_NAME_KIND,
    StaffSignInFailed,
    record_refusal,
)
from vardmote.accounts.throttle import STAFF_OIDC, too_many_attempts
from vardmote.context import Context
from vardmote.db import utcnow
from vardmote.lib import oidc

VERIFIED_KINDS = frozenset(
    {oidc.LOW_ASSURANCE, NO_HSA_ID_KIND, NO_NAME_KIND, DEACTIVATED_KIND, DEMO_KIND, CONFLICT_KIND}
)
"""The kinds of refusal that come after the provider's ID token has been verified."""


def wait(ctx: Context, address: str) -> int:
    """wait is how many seconds address must wait before its next sign-in is heard (0: none).
    Blocking (the database): call it in the thread pool."""
    with ctx.db.session() as s:
        return STAFF_OIDC.wait(s, address, utcnow())


def message(seconds: int) -> str:
    """message is the sign-in page's text while the address must wait seconds: the password
    sign-in's."""
    return too_many_attempts(seconds).message


def refused(ctx: Context, e: StaffSignInFailed, address: str) -> None:
    """refused counts a refused sign-in for address and audits it as the module says, in a
    transaction of its own. Blocking: call it in the thread pool."""
    with ctx.db.session() as s:
        first = STAFF_OIDC.failed(ctx, s, address, utcnow())
        if first or e.kind in VERIFIED_KINDS or e.hsa_id is not None:
            record_refusal(s, e, address)
