"""Staff sign-in with OpenID Connect: SITHS through the region's identity provider.

The flow is :mod:`vardmote.lib.oidc`'s, with the staff settings (``staff_oidc_*``): the
scopes asked for, the accepted assurance levels (``acr``), and the claims that say who the
person is. What is the staff's own is here:

- :func:`staff_claims`, a pure rule, turns the claims into :class:`StaffClaims` (HSA-id,
  name, administrator or not) or refuses with a Swedish reason: no valid HSA-id, no name.
- :func:`provision` finds the account by HSA-id, or makes it at the first sign-in
  (username the HSA-id lower-cased, no usable password, the role from the admin claim, no
  clinic); later sign-ins bring the name and the role up to date. An account deactivated
  here stays out whatever the provider says, and a demo account signs in only in demo mode.
  A username the new account would take that another account already has is refused, never
  taken over; an account made by hand before is linked by an administrator
  (``vardmote user set-hsa-id``, :func:`vardmote.accounts.service.set_hsa_id`).
- :func:`sign_in` starts the staff session (marked ``oidc``, so that signing out goes on to
  the provider: :func:`sign_out_address`).

Trade-offs: the provider decides who is staff, so anyone it signs in at the required
assurance level with an HSA-id gets an account (as clinician); restrict who may use
Vårdmöte at the provider (the client's access rules), not here. The role follows the
admin claim at every sign-in when ``staff_oidc_admin_claim`` is set, so an administrator
made by hand loses the role at the next sign-in unless the provider says so too; with no
admin claim set, roles are managed here and sign-in never changes them.

Everything is audited (:mod:`vardmote.audit.log`): ``user.signed_in`` (method, HSA-id,
assurance level), ``user.provisioned``, ``user.updated_from_claims`` and
``user.signin_refused`` with the kind of refusal and the check that failed; never a token
or a claim's value beyond the HSA-id.

Errors::

    VardmoteError
    └── StaffSignInFailed     .kind (the audit's key) and .reason; its status says which:
                              400 refused or cancelled, 403 deactivated, 502 provider unreachable
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from vardmote.accounts.hsa_id import normal_hsa_id
from vardmote.accounts.models import Role, SigninMethod, StaffSession, User
from vardmote.accounts.provisioning import UsernameTaken, find_by_hsa_id, make_from_hsa_id
from vardmote.accounts.service import start_session
from vardmote.audit.log import record
from vardmote.context import Context
from vardmote.errors import VardmoteError
from vardmote.lib import oidc
from vardmote.lib.text import without_control_characters
from vardmote.lib.tokens import new_token

log = logging.getLogger("vardmote.accounts.staff_oidc")

STATE_COOKIE = "vm_staff_oidc"
STATE_COOKIE_PATH = "/logga-in/oidc"
START_PATH = "/logga-in/oidc/start"
CALLBACK_PATH = "/logga-in/oidc/klar"
SIGNED_OUT_PATH = "/logga-in"
"""Where the provider sends the browser after signing out there; register ``<public url>/logga-in``
as the client's post-logout redirect URI."""
MAX_NEXT = 500
"""Longest "nasta" path kept through the sign-in (it travels sealed in the state cookie)."""

RESTART = "Inloggningen kunde inte slutföras. Börja om och logga in igen."
CANCELLED = "Inloggningen avbröts. Du kan försöka igen."
UNAVAILABLE = "Inloggningstjänsten svarar inte just nu. Försök igen om en stund."
LOW_ASSURANCE = (
    "Inloggningen gav inte den säkerhetsnivå som Vårdmöte kräver för vårdpersonal. Logga in "
    "med ditt SITHS-kort eller Mobilt SITHS och försök igen."
)
NO_HSA_ID = "Inloggningen gav inget giltigt HSA-id. Kontakta din administratör om felet finns kvar."
NO_NAME = "Inloggningen gav inget namn. Kontakta din administratör om felet finns kvar."
DEACTIVATED = "Ditt konto är inaktiverat. Kontakta din administratör."
DEMO_ACCOUNT = "Det här kontot finns bara i demoläget och kan inte logga in."
ACCOUNT_CONFLICT = "Det finns redan ett konto med ditt HSA-id som användarnamn. Kontakta din administratör."
UNLINKED_ACCOUNT = (
    "Det finns redan ett konto med ditt HSA-id som användarnamn, men det är inte kopplat till ditt "
    "HSA-id. Be din administratör koppla kontot till dig, om det är ditt, med kommandot: "
    "vardmote user set-hsa-id {username} {hsa_id}"
)

NO_HSA_ID_KIND = "no_hsa_id"
NO_NAME_KIND = "no_name"
DEACTIVATED_KIND = "deactivated"
DEMO_KIND = "demo_account"
CONFLICT_KIND = "account_conflict"

_FLOW_REFUSALS = {
    oidc.STATE_MISMATCH: (RESTART, 400),
    oidc.CANCELLED: (CANCELLED, 400),
    oidc.TOKEN_REFUSED: (RESTART, 400),
    oidc.LOW_ASSURANCE: (LOW_ASSURANCE, 400),
    oidc.PROVIDER_UNAVAILABLE: (UNAVAILABLE, 502),
}
"""The message and status for each kind of refusal from the flow."""


class StaffSignInFailed(VardmoteError):
    """StaffSignInFailed is a staff sign-in by the identity provider that did not go through."""

    slug = "sign-in-failed"
    title = "Inloggningen misslyckades"

    def __init__(
        self, message: str, kind: str, reason: str = "", status: int = 400, hsa_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        """What kind of refusal, the audit's key: token_refused, low_assurance, no_hsa_id, …"""
        self.reason = reason or kind
        """Which check failed, finer than kind: wrong_audience, expired, bad_signature, …"""
        self.status = status
        self.hsa_id = hsa_id
        """The HSA-id of whoever was refused, once known (for the audit)."""


# --- the claims (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class AdminRule:
    """AdminRule is what makes someone an administrator: the claim equals value or is a list
    holding it, or, with value None, the claim is true."""

    claim: str
    value: str | None

    @classmethod
    def parse(cls, setting: str) -> AdminRule | None:
        """parse reads ``staff_oidc_admin_claim``: "claim=value", a bare "claim", or "" for none."""
        claim, equals, value = setting.strip().partition("=")
        if not claim.strip():
            return None
        return cls(claim.strip(), value.strip() if equals else None)

    def holds(self, claims: Mapping[str, Any]) -> bool:
        """holds tells whether claims make the person an administrator."""
        found = claims.get(self.claim)
        if self.value is None:
            return found is True or found == "true"
        if isinstance(found, list):
            return self.value in found
        return found == self.value


@dataclass(frozen=True)
class StaffClaims:
    """StaffClaims is who the identity provider says signed in."""

    hsa_id: str
    """Upper-cased (:func:`vardmote.accounts.hsa_id.normal_hsa_id`)."""
    display_name: str
    is_admin: bool | None
    """Whether the admin claim makes them an administrator; None when no admin claim is set
    (sign-in then leaves the role alone)."""


def _name(claims: Mapping[str, Any], name_claim: str) -> str:
    name = claims.get(name_claim)
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return " ".join(without_control_characters(name).split())[:200]


def staff_claims(
    claims: Mapping[str, Any], *, hsa_id_claim: str, name_claim: str, admin: AdminRule | None
) -> StaffClaims:
    """staff_claims reads who signed in from claims, or raises StaffSignInFailed (no_hsa_id,
    no_name, the latter with the HSA-id for the audit): the HSA-id must be valid
    (:mod:`vardmote.accounts.hsa_id`) and a name must be there (name_claim, or else given_name
    and family_name)."""
    hsa_id = normal_hsa_id(claims.get(hsa_id_claim))
    if hsa_id is None:
        raise StaffSignInFailed(NO_HSA_ID, NO_HSA_ID_KIND)
    name = _name(claims, name_claim)
    if not name:
        raise StaffSignInFailed(NO_NAME, NO_NAME_KIND, hsa_id=hsa_id)
    return StaffClaims(hsa_id, name, admin.holds(claims) if admin is not None else None)


# --- the flow ------------------------------------------------------------------------------


def enabled(ctx: Context) -> bool:
    """enabled tells whether staff may sign in with the region's identity provider."""
    return bool(ctx.settings.staff_oidc_issuer and ctx.settings.staff_oidc_client_id)


def client(ctx: Context) -> oidc.Client:
    """client is Vårdmöte's registration at the staff identity provider, from the settings."""
    settings = ctx.settings
    return oidc.Client(
        issuer=settings.staff_oidc_issuer,
        client_id=settings.staff_oidc_client_id,
        client_secret=settings.staff_oidc_client_secret,
        scopes=settings.staff_oidc_scopes,
        acr_values=settings.staff_oidc_acr,
        callback_path=CALLBACK_PATH,
        cookie_name=STATE_COOKIE,
        cookie_path=STATE_COOKIE_PATH,
        purpose="staff",
    )


def _wanted(ctx: Context) -> tuple[str, ...]:
    """_wanted are the claims to read from userinfo when the ID token lacks them."""
    settings = ctx.settings
    rule = AdminRule.parse(settings.staff_oidc_admin_claim)
    names = [settings.staff_oidc_hsa_id_claim, settings.staff_oidc_name_claim]
    if rule is not None:
        names.append(rule.claim)
    return tuple(dict.fromkeys(names))


def _failed(e: oidc.SignInError) -> StaffSignInFailed:
    message, status = _FLOW_REFUSALS.get(e.kind, (RESTART, 400))
    return StaffSignInFailed(message, e.kind, e.reason, status)


def begin(ctx: Context, nasta: str) -> tuple[str, str]:
    """begin returns the provider's authorization address and the state cookie's value; nasta
    (already checked to be our own path) comes back from :func:`finish`. Blocking."""
    try:
        return oidc.begin(ctx, client(ctx), {"nasta": nasta if len(nasta) <= MAX_NEXT else "/kalender"})
    except oidc.SignInError as e:
        raise _failed(e) from None


def next_page(ctx: Context, cookie: str | None) -> str:
    """next_page is where the person was going when the sign-in began ("nasta", kept in the state
    cookie), or the calendar: a refused sign-in's page passes it on, so that trying again still
    ends there. The caller checks it is our own path (web.deps.safe_next)."""
    return oidc.kept(ctx, client(ctx), cookie).get("nasta", "/kalender")


def finish(ctx: Context, params: Mapping[str, str], cookie: str | None) -> oidc.SignedIn:
    """finish checks the provider's redirect and returns the claims (userinfo completing the ID
    token where it lacks the HSA-id, name or admin claim). Blocking."""
    try:
        return oidc.finish(ctx, client(ctx), params, cookie, wanted=_wanted(ctx))
    except oidc.SignInError as e:
        raise _failed(e) from None


# --- the account ---------------------------------------------------------------------------


def _make(s: Session, staff: StaffClaims) -> User:
    """_make is the account made at a first sign-in (accounts.provisioning: one account however
    many first sign-ins come at once). An account not linked to this HSA-id that already has the
    name is not taken over by the name alone (that would let whoever made it decide who gets in):
    the sign-in is refused, and when that account has no HSA-id the message tells the
    administrator how to link it (accounts.service.set_hsa_id)."""
    role = Role.ADMIN if staff.is_admin else Role.CLINICIAN
    try:
        return make_from_hsa_id(s, staff.hsa_id, staff.display_name, role, "system:oidc", by="oidc")
    except UsernameTaken as e:
        if e.holder_hsa_id is None:
            log.warning(
                "staff sign-in refused: an account has the HSA-id's username but no HSA-id; "
                "link it with vardmote user set-hsa-id (audit: user.signin_refused, unlinked_account)"
            )
            message = UNLINKED_ACCOUNT.format(username=e.username, hsa_id=staff.hsa_id)
            reason = "unlinked_account"
        else:
            message, reason = ACCOUNT_CONFLICT, "username_taken"
        raise StaffSignInFailed(message, CONFLICT_KIND, reason, status=403, hsa_id=staff.hsa_id) from None


def provision(ctx: Context, s: Session, staff: StaffClaims) -> User:
    """provision is the account of whoever signed in: found by HSA-id and brought up to date
    (name, and role when the admin claim decides it), or made at the first sign-in.

    Raises StaffSignInFailed (403) for a deactivated account, a demo account outside demo
    mode, and a new HSA-id whose username another account already has. Two first sign-ins
    at once make one account: the second finds the first's."""
    user = find_by_hsa_id(s, staff.hsa_id)
    if user is None:
        user = _make(s, staff)
    if not user.active:
        raise StaffSignInFailed(DEACTIVATED, DEACTIVATED_KIND, status=403, hsa_id=staff.hsa_id)
    if user.is_demo and not ctx.settings.demo:
        raise StaffSignInFailed(DEMO_ACCOUNT, DEMO_KIND, status=403, hsa_id=staff.hsa_id)
    changed: list[str] = []
    if user.display_name != staff.display_name:
        user.display_name = staff.display_name
        changed.append("display_name")
    if staff.is_admin is not None:
        role = Role.ADMIN.value if staff.is_admin else Role.CLINICIAN.value
        if user.role != role:
            user.role = role
            changed.append("role")
    if changed:
        record(
            s,
            "system:oidc",
            "user.updated_from_claims",
            details={"username": user.username, "changed": changed, "role": user.role},
        )
    return user


def sign_in(
    ctx: Context, s: Session, signed_in: oidc.SignedIn, address: str
) -> tuple[str, StaffSession, User]:
    """sign_in turns a finished sign-in into a staff session: the claims read, the account found
    or made, the session started (marked oidc) and audited. Raises StaffSignInFailed; the caller
    audits that with :func:`record_refusal`."""
    settings = ctx.settings
    staff = staff_claims(
        signed_in.claims,
        hsa_id_claim=settings.staff_oidc_hsa_id_claim,
        name_claim=settings.staff_oidc_name_claim,
        admin=AdminRule.parse(settings.staff_oidc_admin_claim),
    )
    user = provision(ctx, s, staff)
    token, row = start_session(ctx, s, user, SigninMethod.OIDC)
    record(
        s,
        f"user:{user.username}",
        "user.signed_in",
        details={"method": "oidc", "hsa_id": staff.hsa_id, "acr": signed_in.acr[:200], "address": address},
    )
    return token, row, user


def record_refusal(s: Session, e: StaffSignInFailed, address: str) -> None:
    """record_refusal writes a refused staff sign-in to the audit: the kind, the check that
    failed, the HSA-id when it was known, the address; commit s afterwards."""
    details: dict[str, str] = {"method": "oidc", "kind": e.kind, "reason": e.reason, "address": address}
    if e.hsa_id is not None:
        details["hsa_id"] = e.hsa_id
    record(s, "anonym", "user.signin_refused", details=details)


def sign_out_address(ctx: Context, signed_in_with: str) -> str | None:
    """sign_out_address is where to send the browser after signing a session out here: for a
    session signed in with the provider (signed_in_with ``oidc``) the provider's end-session
    address, so that its session ends too; otherwise, or when the provider offers none, None
    (then the sign-in page). Blocking (discovery)."""
    if signed_in_with != SigninMethod.OIDC.value or not enabled(ctx):
        return None
    return oidc.logout_url(ctx, client(ctx), ctx.url(SIGNED_OUT_PATH), new_token())
