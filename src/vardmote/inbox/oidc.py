"""OpenID Connect sign-in to the inbox: the region's e-identification names the patient.

The flow itself (discovery, state, nonce and PKCE in a sealed cookie, the token request,
the ID token's signature and claims, the assurance level, claims from userinfo) is
:mod:`vardmote.lib.oidc`, shared with the staff sign-in. What is the inbox's own is here:
its settings (``patient_oidc_*``: the scopes asked for, the assurance level ``acr``,
Swedish LoA3 unless set otherwise), the personnummer read from the claim
``patient_oidc_personnummer_claim`` (from the ID token, or from userinfo when the token
lacks it), and the Swedish texts.

Errors::

    VardmoteError
    ├── SignInFailed (400)         the redirect or the ID token is not acceptable
    └── ProviderUnavailable (502)  the provider did not answer as it should

Neither message repeats what the provider sent; the log gets the reason, never the number.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from vardmote.context import Context
from vardmote.errors import VardmoteError
from vardmote.lib import oidc
from vardmote.patients.personnummer import InvalidPersonnummer, Personnummer, parse

log = logging.getLogger("vardmote.inbox.oidc")

STATE_COOKIE = "vm_patient_oidc"
STATE_COOKIE_PATH = "/inkorg/oidc"
CALLBACK_PATH = "/inkorg/oidc/klar"


class SignInFailed(VardmoteError):
    status = 400
    slug = "sign-in-failed"
    title = "Inloggningen misslyckades"


class ProviderUnavailable(VardmoteError):
    status = 502
    slug = "provider-unavailable"
    title = "E-legitimationen svarar inte"


RESTART = "Inloggningen kunde inte slutföras. Börja om och logga in igen."
CANCELLED = "Inloggningen avbröts. Du kan försöka igen."
NO_NUMBER = "Inloggningen gav inget giltigt personnummer. Kontakta din mottagning om felet finns kvar."
UNAVAILABLE = "E-legitimationen svarar inte just nu. Försök igen om en stund."
LOW_ASSURANCE = (
    "Inloggningen gav inte den säkerhetsnivå som inkorgen kräver. Logga in med en "
    "e-legitimation med högre säkerhetsnivå, till exempel BankID, och försök igen."
)
_MESSAGES = {oidc.CANCELLED: CANCELLED, oidc.LOW_ASSURANCE: LOW_ASSURANCE}
"""The message for each kind of refusal; any other kind means starting again."""


def enabled(ctx: Context) -> bool:
    """enabled tells whether sign-in by OpenID Connect is configured."""
    return bool(ctx.settings.patient_oidc_issuer and ctx.settings.patient_oidc_client_id)


def client(ctx: Context) -> oidc.Client:
    """client is the inbox's registration at the e-identification provider, from the settings."""
    settings = ctx.settings
    return oidc.Client(
        issuer=settings.patient_oidc_issuer,
        client_id=settings.patient_oidc_client_id,
        client_secret=settings.patient_oidc_client_secret,
        scopes=settings.patient_oidc_scopes,
        acr_values=settings.patient_oidc_acr,
        callback_path=CALLBACK_PATH,
        cookie_name=STATE_COOKIE,
        cookie_path=STATE_COOKIE_PATH,
        purpose="patient",
    )


def redirect_uri(ctx: Context) -> str:
    """redirect_uri is where the provider sends the browser back; register it with the provider."""
    return oidc.redirect_uri(ctx, client(ctx))


def begin(ctx: Context) -> tuple[str, str]:
    """begin returns the provider's authorization address and the sealed state cookie's value."""
    try:
        return oidc.begin(ctx, client(ctx))
    except oidc.Unreachable:
        raise ProviderUnavailable(UNAVAILABLE) from None


def finish(
    ctx: Context,
    params: Mapping[str, str],
    cookie: str | None,
    today: dt.date,
) -> Personnummer:
    """finish completes the sign-in from the provider's redirect and returns the person's number."""
    claim = ctx.settings.patient_oidc_personnummer_claim
    try:
        signed_in = oidc.finish(ctx, client(ctx), params, cookie, wanted=(claim,))
    except oidc.Unreachable:
        raise ProviderUnavailable(UNAVAILABLE) from None
    except oidc.Refused as e:
        raise SignInFailed(_MESSAGES.get(e.kind, RESTART)) from None
    value = signed_in.claims.get(claim)
    if not isinstance(value, str):
        log.warning("e-identification provider: no personnummer claim in the ID token or userinfo")
        raise SignInFailed(NO_NUMBER)
    try:
        return parse(value, today)
    except InvalidPersonnummer:
        log.warning("e-identification provider: the personnummer claim is not a valid number")
        raise SignInFailed(NO_NUMBER) from None
