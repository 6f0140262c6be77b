"""A real OpenID provider for the tests: panva's ``oidc-provider`` (npm, OpenID-certified) run by node
on 127.0.0.1, configured from here.

:func:`running_provider` writes the configuration (clients, accounts and their claims, which scope
releases which claims, the assurance levels, the signing keys made here with joserfc), starts
``node tests/oidc/provider.mjs`` and yields a :class:`Provider`. The provider behaves as the
standard says, not as this project would like: the authorization code flow with PKCE (S256, asked of
every client), the client secret checked as registered (``client_secret_basic``, form-encoded), the
scope claims at the userinfo endpoint and not in the ID token, RP-initiated logout with its confirm
page. What the tests add is the person at the keyboard and the faults:

- :meth:`Provider.next_sign_in` says who the next sign-ins are (an account, an assurance level) or
  that the person cancels; the provider's interaction then finishes at once, with no pages.
- :meth:`Provider.tamper_next` changes the next ID token (claims replaced or removed, signed again
  with the provider's key or another one); :meth:`Provider.tamper_next_userinfo` the next userinfo
  answer. So a test can show that Vårdmöte refuses a wrong audience, issuer, nonce, expiry or
  signature.
- :meth:`Provider.seen` tells what the authorization, token, userinfo and end-session endpoints
  were asked; :meth:`Provider.stop` and :meth:`Provider.start` take it away and back on the same
  port (an unreachable provider).
- :meth:`Provider.follow_sign_in` and :meth:`Provider.sign_out` play the browser at the provider
  (a cookie-keeping httpx client, :attr:`Provider.browser`) and hand back the address the provider
  sends the browser to, so that Vårdmöte may be a TestClient at http://vardmote.test.

The claims are those of a region's providers: a patient's e-identification releases
``personal_identity_number`` with the Swedish OpenID Connect profile's scope
``https://id.oidc.se/scope/naturalPersonNumber`` (the profile itself names the claim
``https://id.oidc.se/claim/personalIdentityNumber``; Vårdmöte reads the claim its setting names); the
staff's SITHS provider releases the HSA-id as ``employeeHsaId`` (the attribute's name in the Swedish
eID framework's "Natural Person Identity with HSA-ID") and the person's ``groups`` with ``profile``,
the scope Vårdmöte asks staff for by default. A provider that needs a scope of its own for them is
one ``scopes_claims`` away.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import secrets
import select
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
from joserfc.jwk import KeySet, RSAKey

from machine import free_tcp_port
from vardmote.settings import LOA3, Secret, Settings

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "tests" / "oidc" / "provider.mjs"
START_SECONDS = 20.0

LOA2 = "http://id.elegnamnden.se/loa/1.0/loa2"
LOA4 = "http://id.elegnamnden.se/loa/1.0/loa4"
ACR_VALUES = (LOA3, LOA4, LOA2)
"""The assurance levels the provider offers (``acr_values_supported``), Swedish LoA 2-4."""

NATURAL_PERSON_NUMBER = "https://id.oidc.se/scope/naturalPersonNumber"
STATE = "tillstand-" + "s" * 32
NONCE = "engangsord-" + "n" * 32
"""The state and nonce of :meth:`Provider.authorization_address`."""

SCOPES_CLAIMS: dict[str, list[str]] = {
    "openid": ["sub"],
    "profile": ["name", "given_name", "family_name", "employeeHsaId", "groups"],
    NATURAL_PERSON_NUMBER: ["personal_identity_number"],
}
"""Which claims each scope releases (at the userinfo endpoint, or in the ID token when the claims
parameter asks for them there)."""

PATIENT = "patient"
CLINICIAN = "clinician"
ADMINISTRATOR = "administrator"
NO_HSA_ID = "no-hsa-id"

ACCOUNTS: dict[str, dict[str, Any]] = {
    PATIENT: {
        "personal_identity_number": "199006022397",
        "name": "Petra Patient",
        "given_name": "Petra",
        "family_name": "Patient",
    },
    CLINICIAN: {
        "employeeHsaId": "SE2321000016-1003",
        "name": "Annika Läkare",
        "given_name": "Annika",
        "family_name": "Läkare",
        "groups": ["vardmote-personal"],
    },
    ADMINISTRATOR: {
        "employeeHsaId": "SE2321000016-1004",
        "name": "Åsa Administratör",
        "given_name": "Åsa",
        "family_name": "Administratör",
        "groups": ["vardmote-personal", "vardmote-admin"],
    },
    NO_HSA_ID: {
        "name": "Nils Utan-Hsa",
        "given_name": "Nils",
        "family_name": "Utan-Hsa",
    },
}
"""The people who can sign in, by account id (their ``sub``): a patient, a clinician, an
administrator and a person without an HSA-id. The first is who signs in unless a plan says."""


@dataclass(frozen=True)
class Client:
    """Client is a relying party registered at the provider; ``secret`` None makes it public
    (``token_endpoint_auth_method`` none), otherwise it authenticates with ``client_secret_basic``."""

    client_id: str
    secret: str | None
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()

    def registration(self) -> dict[str, Any]:
        """registration is the client's metadata as oidc-provider takes it."""
        metadata: dict[str, Any] = {
            "client_id": self.client_id,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        }
        if self.secret is None:
            metadata["token_endpoint_auth_method"] = "none"
        else:
            metadata["client_secret"] = self.secret
            metadata["token_endpoint_auth_method"] = "client_secret_basic"
        return metadata


def patient_client(redirect_uris: Sequence[str] = ("http://vardmote.test/inkorg/oidc/klar",)) -> Client:
    """patient_client is the inbox's client. Its secret has characters that client_secret_basic must
    form-encode (RFC 6749 2.3.1: a space, ":", "&", "=", "+", "%"); only printable ASCII, as the RFC
    allows and oidc-provider insists."""
    return Client("vardmote-inkorg", "hemligt klientlosen:&=+%", tuple(redirect_uris))


def staff_client(base: str = "http://vardmote.test") -> Client:
    """staff_client is the staff sign-in's client for a Vårdmöte at ``base``."""
    return Client(
        "vardmote-personal",
        "personalens hemlighet+/%",
        (f"{base}/logga-in/oidc/klar",),
        (f"{base}/logga-in",),
    )


PATIENT_CLIENT = patient_client()
STAFF_CLIENT = staff_client()


@dataclass
class Seen:
    """Seen is what the provider was asked since it started or was reset, oldest first.

    ``authorization``: client_id, response_type, scope, redirect_uri, acr_values, claims (parsed),
    prompt, max_age, and whether state, nonce and code_challenge were there, code_challenge_method.
    ``token``: grant_type, client_auth_method (client_secret_basic, client_secret_post,
    client_assertion or none, from what was sent), client_id, client_id_in_body, redirect_uri,
    code_verifier (there or not), status, error.
    ``userinfo``: method, bearer (a Bearer token was sent), status, claims (names answered).
    ``end_session``: client_id, id_token_hint (there or not), post_logout_redirect_uri, state.
    ``signed_out``: the confirm form's posts: logout ("Yes, sign me out" or not), status.
    """

    authorization: list[dict[str, Any]] = field(default_factory=list)
    token: list[dict[str, Any]] = field(default_factory=list)
    userinfo: list[dict[str, Any]] = field(default_factory=list)
    end_session: list[dict[str, Any]] = field(default_factory=list)
    signed_out: list[dict[str, Any]] = field(default_factory=list)


_KEYS: dict[str, RSAKey] = {}


def _key(name: str) -> RSAKey:
    """_key makes an RSA key once per test run (2048 bits take a while); both carry the kid
    "test-1", so a token signed by the other one names the provider's key and fails its check."""
    if name not in _KEYS:
        _KEYS[name] = RSAKey.generate_key(2048, parameters={"kid": "test-1", "use": "sig", "alg": "RS256"})
    return _KEYS[name]


class _Forms(HTMLParser):
    """_Forms collects the forms of a page: action, method and the hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


class Provider:
    """Provider is a running oidc-provider, its knobs and the browser that visits it.

    Not thread-safe; one test at a time uses it (a module-scoped one is reset between tests)."""

    def __init__(
        self,
        *,
        clients: Sequence[Client],
        accounts: Mapping[str, Mapping[str, Any]],
        acr_values: Sequence[str],
        scopes_claims: Mapping[str, Sequence[str]],
        port: int | None = None,
    ) -> None:
        self.port = port or free_tcp_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.clients = tuple(clients)
        self._initial_accounts = {k: dict(v) for k, v in accounts.items()}
        self.accounts = {k: dict(v) for k, v in accounts.items()}
        """The accounts now (ids and claims), as given and as put_accounts changed them."""
        self.keys = KeySet([_key("own")])
        """The provider's signing keys, private: a test may sign tokens as the provider would."""
        self.other_key = _key("other")
        """The key of ``tamper_next(key="other")``: same kid, not the provider's."""
        self._config = {
            "port": self.port,
            "clients": [c.registration() for c in self.clients],
            "accounts": self._initial_accounts,
            "claims": {scope: list(names) for scope, names in scopes_claims.items()},
            "acr_values": list(acr_values),
            "jwks": self.keys.as_dict(private=True),
            "other_jwk": self.other_key.as_dict(private=True),
            "cookie_keys": [secrets.token_urlsafe(24)],
        }
        self._dir = tempfile.TemporaryDirectory(prefix="oidc-provider-")
        self._config_path = Path(self._dir.name) / "config.json"
        self._config_path.write_text(json.dumps(self._config), encoding="utf-8")
        self._log_path = Path(self._dir.name) / "node.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.browser = httpx.Client(timeout=10)
        """The browser at the provider: keeps the provider's cookies (its session) between calls."""

    # The process.

    def start(self) -> None:
        """start runs node with the provider on its port and waits until it says it listens."""
        if self._process is not None:
            raise RuntimeError("the test OpenID provider is already running")
        node = shutil.which("node")
        if node is None:
            raise RuntimeError(
                "node is not installed: `make test` installs Node.js (scripts/install-system-packages)"
            )
        if not (ROOT / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError("node_modules/oidc-provider is missing: run `npm ci` in the repository")
        log = self._log_path.open("ab")
        process = subprocess.Popen(
            [node, str(PROGRAM), str(self._config_path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, "NODE_ENV": "test"},
        )
        log.close()
        self._process = process
        assert process.stdout is not None
        # node prints nothing else on stdout; one that dies closes it, and readline returns.
        ready, _, _ = select.select([process.stdout], [], [], START_SECONDS)
        line = process.stdout.readline() if ready else b""
        if line.strip() != f"ready {self.port}".encode():
            self.stop()
            raise RuntimeError(f"the test OpenID provider did not start: {self.log()}")

    def stop(self) -> None:
        """stop ends node (SIGTERM, then SIGKILL); the port stops answering. The browser forgets
        the provider's cookies, as a provider that lost its sessions would."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        self.browser.cookies.clear()

    def fresh(self) -> Provider:
        """fresh is this provider running (started again if a test stopped it) and reset: what a
        module-scoped provider gives each test."""
        if not self.running:
            self.stop()
            self.start()
        self.reset()
        return self

    def close(self) -> None:
        """close stops the provider and removes its files."""
        self.stop()
        self.browser.close()
        self._dir.cleanup()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """log is what node wrote on stderr (oidc-provider's warnings and errors)."""
        return self._log_path.read_text(encoding="utf-8", errors="replace")

    # The knobs.

    def _control(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        url = f"{self.issuer}/_test/{path}"
        if body is None:
            response = httpx.get(url, timeout=10)
        else:
            response = httpx.post(url, json=dict(body), timeout=10)
        response.raise_for_status()
        return response.json()

    def next_sign_in(self, account: str | None = None, acr: str | None = None, deny: bool = False) -> None:
        """next_sign_in sets who the next sign-ins are (until changed): ``account`` (default the first
        account), signed in at ``acr`` (default the first of the ``acr_values`` asked for; "" gives
        no acr claim), or with ``deny`` a person who cancels (the client gets ``access_denied``).
        The browser forgets its session at the provider, so that the plan applies at once."""
        if account is not None and account not in self.accounts:
            raise ValueError(f"no such test account: {account!r}")
        self._control("next", {"account": account, "acr": acr, "deny": deny})
        self.browser.cookies.clear()

    def tamper_next(
        self,
        claims: Mapping[str, Any] | None = None,
        remove: Sequence[str] = (),
        key: str | None = None,
    ) -> None:
        """tamper_next changes the next ID token the token endpoint gives: ``claims`` replaced or
        added, ``remove`` taken out, signed again with the provider's key, or with ``key="other"``
        with another key under the same kid (a wrong signature). Expired: ``{"exp": ..., "iat": ...}``
        in the past."""
        if key not in (None, "own", "other"):
            raise ValueError(f"key is 'own' or 'other', not {key!r}")
        self._control("tamper", {"claims": dict(claims or {}), "remove": list(remove), "key": key or "own"})

    def tamper_next_userinfo(
        self, claims: Mapping[str, Any] | None = None, remove: Sequence[str] = ()
    ) -> None:
        """tamper_next_userinfo changes the next userinfo answer: ``claims`` replaced or added,
        ``remove`` taken out (e.g. another ``sub`` than the ID token's)."""
        self._control("tamper", {"userinfo": True, "claims": dict(claims or {}), "remove": list(remove)})

    def put_accounts(self, accounts: Mapping[str, Mapping[str, Any] | None]) -> None:
        """put_accounts adds or replaces accounts (their claims) until reset; None removes one."""
        self._control("accounts", {k: (dict(v) if v is not None else None) for k, v in accounts.items()})
        for name, claims in accounts.items():
            if claims is None:
                self.accounts.pop(name, None)
            else:
                self.accounts[name] = dict(claims)

    def seen(self) -> Seen:
        """seen is what the provider was asked since it started or was reset."""
        return Seen(**self._control("seen"))

    def reset(self) -> None:
        """reset forgets the plan, the tampering, changed accounts, what was seen and the browser's
        session at the provider."""
        self._control("reset", {})
        self.accounts = {k: dict(v) for k, v in self._initial_accounts.items()}
        self.browser.cookies.clear()

    # The endpoints and the browser.

    def discovery(self) -> dict[str, Any]:
        """discovery is the provider's /.well-known/openid-configuration."""
        response = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    def authorization_address(self, client: Client, scope: str, **extra: str) -> tuple[str, str]:
        """authorization_address is an authorization request as a client makes it (code flow, a
        fixed state and nonce, PKCE S256) for tests that play the client themselves, with the
        PKCE verifier for the token request. ``extra`` adds parameters (acr_values, claims...)."""
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        query = {
            "client_id": client.client_id,
            "response_type": "code",
            "scope": scope,
            "redirect_uri": client.redirect_uris[0],
            "state": STATE,
            "nonce": NONCE,
            "code_challenge": base64.urlsafe_b64encode(digest).decode().rstrip("="),
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{self.issuer}/auth?{urlencode(query)}", verifier

    def at_provider(self, address: str) -> str:
        """at_provider opens ``address`` (the provider's authorization or end-session address) in
        the browser and follows the provider's own redirects; it returns the first address outside
        the provider (the client's callback, with code or error), which it does not open."""
        response = self.browser.get(address, follow_redirects=False)
        for _ in range(10):
            if response.status_code not in (302, 303):
                raise AssertionError(
                    f"the provider answered {response.status_code} at {response.url}: {response.text[:500]}"
                )
            target = urljoin(str(response.url), response.headers["location"])
            if not target.startswith(self.issuer + "/"):
                return target
            response = self.browser.get(target, follow_redirects=False)
        raise AssertionError("the provider redirected more than ten times")

    def follow_sign_in(self, vardmote: httpx.Client, start: str) -> str:
        """follow_sign_in starts a sign-in at Vårdmöte (``start``, e.g. "/logga-in/oidc/start", on
        its client, a TestClient is fine), goes through the provider and returns the callback
        address with the code (or the error), for the caller to open on Vårdmöte's client."""
        response = vardmote.get(start, follow_redirects=False)
        if response.status_code not in (302, 303, 307):
            raise AssertionError(f"{start} answered {response.status_code}: {response.text[:500]}")
        address = response.headers["location"]
        if not address.startswith(self.issuer + "/"):
            raise AssertionError(f"{start} sent the browser to {address}, not to {self.issuer}")
        return self.at_provider(address)

    def sign_out(self, address: str, confirm: bool = True) -> str:
        """sign_out opens the provider's end-session ``address`` (RP-initiated logout), answers its
        form ("Yes, sign me out", or with ``confirm`` False "No, stay signed in") and returns where
        the provider then sends the browser (the client's post-logout address, or its own page)."""
        response = self.browser.get(address, follow_redirects=False)
        if response.status_code != 200:
            raise AssertionError(
                f"the end-session page answered {response.status_code}: {response.text[:500]}"
            )
        parser = _Forms()
        parser.feed(response.text)
        if not parser.forms:
            raise AssertionError(f"no form on the end-session page: {response.text[:500]}")
        form = parser.forms[0]
        fields = dict(form["fields"])
        if confirm:
            fields["logout"] = "yes"
        else:
            fields.pop("logout", None)
        action = urljoin(str(response.url), form["action"])
        posted = self.browser.post(action, data=fields, follow_redirects=False)
        if posted.status_code not in (302, 303):
            raise AssertionError(f"the sign-out answered {posted.status_code}: {posted.text[:500]}")
        return urljoin(action, posted.headers["location"])

    def signed_in_at_provider(self) -> bool:
        """signed_in_at_provider tells whether the browser holds a session cookie of the provider."""
        return any(c.name == "_session" for c in self.browser.cookies.jar)


def patients_sign_in_with(
    settings: Settings, provider: Provider, client: Client = PATIENT_CLIENT
) -> Settings:
    """patients_sign_in_with is settings with provider as the patients' e-identification: this
    client, the personnummer asked for with the Swedish profile's scope."""
    assert client.secret is not None
    return dataclasses.replace(
        settings,
        patient_oidc_issuer=provider.issuer,
        patient_oidc_client_id=client.client_id,
        patient_oidc_client_secret=Secret(client.secret),
        patient_oidc_scopes=f"openid {NATURAL_PERSON_NUMBER}",
    )


def staff_sign_in_with(settings: Settings, provider: Provider, client: Client = STAFF_CLIENT) -> Settings:
    """staff_sign_in_with is settings with provider as the staff's SITHS provider: this client,
    ``openid profile`` (which releases ``employeeHsaId`` and ``groups`` here), administrators by
    the group ``vardmote-admin``."""
    assert client.secret is not None
    return dataclasses.replace(
        settings,
        staff_oidc_issuer=provider.issuer,
        staff_oidc_client_id=client.client_id,
        staff_oidc_client_secret=Secret(client.secret),
        staff_oidc_scopes="openid profile",
        staff_oidc_admin_claim="groups=vardmote-admin",
    )


def path_of(address: str) -> str:
    """path_of is an address without scheme and host (what a TestClient opens)."""
    parts = urlsplit(address)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@contextmanager
def running_provider(
    clients: Sequence[Client] = (PATIENT_CLIENT, STAFF_CLIENT),
    accounts: Mapping[str, Mapping[str, Any]] = ACCOUNTS,
    acr_values: Sequence[str] = ACR_VALUES,
    scopes_claims: Mapping[str, Sequence[str]] = SCOPES_CLAIMS,
) -> Iterator[Provider]:
    """running_provider runs a provider on a free loopback port until the block ends."""
    provider = Provider(
        clients=clients, accounts=accounts, acr_values=acr_values, scopes_claims=scopes_claims
    )
    try:
        provider.start()
        yield provider
    finally:
        provider.close()
