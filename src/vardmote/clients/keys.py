"""Keys: what a journal system's registered JWKS may hold, checked when the client is added. Pure.

A client registers its **public** keys as a JWKS (``{"keys": [...]}``) and signs its
assertions with the private halves, which never leave the journal system. A key is accepted
when it is

- RSA of at least 2048 bits, or EC on P-256 or P-384 (what RS256–RS512, PS256–PS512, ES256
  and ES384 need; SMART Backend Services asks for RS384 or ES384);
- without any private member (``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``, ``oth``): a JWKS
  with one is refused, and the page does not show the pasted text again;
- named by a ``kid`` of its own (the assertion's header names the key it was signed with);
- for signing, if it says (``use`` ``sig``, an ``alg`` among :data:`ALGORITHMS` that fits it).

Symmetric keys (``kty`` ``oct``) are secrets shared with the server and are refused, as are
the HS* and ``none`` algorithms (token.py). Only the public members are stored.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from joserfc.jwk import ECKey, KeySet, RSAKey

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
"""The signature algorithms a client assertion may use: never ``none`` nor HS*."""

CURVES = {"P-256": "ES256", "P-384": "ES384"}
"""The EC curves accepted, with the algorithm that signs on each."""

MIN_RSA_BITS = 2048
MAX_KEYS = 10
MAX_JWKS_CHARS = 20_000
MAX_KID = 100

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
"""The members of a JWK that are secret (RFC 7518 section 6): the private half of an RSA or EC
key, and ``k``, a symmetric key's whole secret."""

_PUBLIC_MEMBERS = {
    "RSA": ("kty", "kid", "use", "alg", "n", "e"),
    "EC": ("kty", "kid", "use", "alg", "crv", "x", "y"),
}

JWKS_HELP = (
    'Klistra in journalsystemets publika nycklar som en JWKS: {"keys": [{"kty": "RSA", "kid": "…", '
    '"n": "…", "e": "AQAB"}]}.'
)


class JwksError(ValueError):
    """JwksError says in Swedish why a JWKS cannot be registered."""

    def __init__(self, message: str, *, private: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.private = private
        """True when the text held a private key: it must not be shown again."""


def public_jwks(text: str) -> str:
    """public_jwks checks a pasted JWKS and returns it as the JSON text to store: its keys'
    public members only. Raises JwksError with what is wrong."""
    if len(text) > MAX_JWKS_CHARS:
        raise JwksError(f"Nyckeltexten är för lång (högst {MAX_JWKS_CHARS} tecken).")
    try:
        parsed = json.loads(text)
    except ValueError:
        raise JwksError(f"Nycklarna är inte giltig JSON. {JWKS_HELP}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("keys"), list):
        if isinstance(parsed, dict) and "kty" in parsed:
            if _private_members(parsed):
                raise JwksError(_private_message(parsed.get("kid"), 0), private=True)
            raise JwksError(f"Det är en enskild nyckel, inte en nyckeluppsättning. {JWKS_HELP}")
        raise JwksError(f"Nycklarna ska vara ett JSON-objekt med listan keys. {JWKS_HELP}")
    keys: list[Any] = parsed["keys"]
    # Every key is looked at for private parts first, so that the page never shows such a text again.
    for index, key in enumerate(keys):
        if isinstance(key, dict) and _private_members(key):
            raise JwksError(_private_message(key.get("kid"), index), private=True)
    if not keys:
        raise JwksError(f"Nyckeluppsättningen är tom. {JWKS_HELP}")
    if len(keys) > MAX_KEYS:
        raise JwksError(f"Ange högst {MAX_KEYS} nycklar.")
    checked = [_public_key(key, index) for index, key in enumerate(keys)]
    kids = [key["kid"] for key in checked]
    for kid in kids:
        if kids.count(kid) > 1:
            raise JwksError(f"Två nycklar har samma kid {kid!r}. Varje nyckel ska ha ett eget kid.")
    return json.dumps({"keys": checked}, separators=(",", ":"), sort_keys=True)


def key_set(stored: str) -> KeySet:
    """key_set is a stored JWKS (made by :func:`public_jwks`) as joserfc keys."""
    return KeySet.import_key_set(json.loads(stored))


def key_ids(stored: str) -> list[str]:
    """key_ids are the kid of each key in a stored JWKS (made by :func:`public_jwks`)."""
    return [str(key["kid"]) for key in json.loads(stored)["keys"]]


def _modulus_bits(n: str) -> int | None:
    """_modulus_bits is the size of an RSA modulus given in base64url, or None if it is not
    base64url (the import then says the key is broken). Measured before the import, which
    warns about a short key."""
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except ValueError:
        return None
    return int.from_bytes(raw, "big").bit_length() or None


def _private_members(key: dict[str, Any]) -> list[str]:
    return [name for name in PRIVATE_MEMBERS if name in key]


def _named(kid: object, index: int) -> str:
    if isinstance(kid, str) and kid and len(kid) <= MAX_KID:
        return f"Nyckeln {kid!r}"
    return f"Nyckel {index + 1}"


def _private_message(kid: object, index: int) -> str:
    return (
        f"{_named(kid, index)} innehåller en privat del. Klistra bara in den publika nyckeln: den "
        "privata ska aldrig lämna journalsystemet. Den inklistrade texten visas inte igen; ta fram "
        "ett nytt nyckelpar om den privata nyckeln kan ha kommit i orätta händer."
    )


def _public_key(key: object, index: int) -> dict[str, str]:
    """_public_key checks one JWK and returns its public members."""
    if not isinstance(key, dict):
        raise JwksError(f"Nyckel {index + 1} är inte ett JSON-objekt. {JWKS_HELP}")
    name = _named(key.get("kid"), index)
    kid = key.get("kid")
    if not isinstance(kid, str) or not kid.strip() or len(kid) > MAX_KID:
        raise JwksError(
            f"{name} saknar kid (nyckelns namn, 1–{MAX_KID} tecken), som assertionens huvud anger."
        )
    kty = key.get("kty")
    if kty == "oct":
        raise JwksError(
            f"{name} är en symmetrisk nyckel (kty oct), alltså en delad hemlighet. Ange journalsystemets "
            "publika RSA- eller EC-nyckel."
        )
    if kty not in _PUBLIC_MEMBERS:
        raise JwksError(
            f"{name} har nyckeltypen {kty!r}. Bara RSA (minst {MIN_RSA_BITS} bitar) och EC "
            "(P-256 eller P-384) tas emot."
        )
    use = key.get("use")
    if use is not None and use != "sig":
        raise JwksError(f"{name} är till för {use!r}, inte för signaturer (use ska vara sig).")
    members = {m: key[m] for m in _PUBLIC_MEMBERS[kty] if m in key}
    if not all(isinstance(v, str) for v in members.values()):
        raise JwksError(f"{name} har ett fält som inte är text. {JWKS_HELP}")
    alg = members.get("alg")
    if kty == "RSA":
        size = _modulus_bits(members.get("n", ""))
        if size is not None and size < MIN_RSA_BITS:
            raise JwksError(
                f"{name} är för kort: {size} bitar. En RSA-nyckel ska ha minst {MIN_RSA_BITS} bitar."
            )
        if alg is not None and not (alg.startswith(("RS", "PS")) and alg in ALGORITHMS):
            raise JwksError(
                f"{name} anger algoritmen {alg!r}, som inte passar en RSA-nyckel här "
                "(RS256, RS384, RS512, PS256, PS384 eller PS512)."
            )
        try:
            RSAKey.import_key(members)
        except Exception:  # joserfc and cryptography raise several kinds for a broken key
            raise JwksError(f"{name} är ingen giltig RSA-nyckel (n och e).") from None
    else:
        curve = members.get("crv")
        if curve not in CURVES:
            raise JwksError(f"{name} ligger på kurvan {curve!r}. Bara P-256 och P-384 tas emot.")
        try:
            ECKey.import_key(members)
        except Exception:  # a point off the curve, or members that are not base64url
            raise JwksError(
                f"{name} är ingen giltig EC-nyckel (x och y ligger inte på kurvan {curve})."
            ) from None
        if alg is not None and alg != CURVES[curve]:
            raise JwksError(f"{name} anger algoritmen {alg!r}; på kurvan {curve} signerar {CURVES[curve]}.")
    return members
