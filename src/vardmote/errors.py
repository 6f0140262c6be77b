"""Errors that the service layer raises and the web layer turns into answers.

Hierarchy::

    VardmoteError                     message in Swedish for people, HTTP status
    ├── InvalidInput (422)            one or more fields are wrong; .fields names them
    │   ├── PersonalDataInInvitation  (invitations.guard) personal data in an invitation
    │   └── InvalidClient             (clients.service) a journal system's registration is wrong
    │       └── InvalidKeys           (clients.service) a journal system's new keys are wrong
    ├── NotSignedIn (401)
    ├── ClientUnauthenticated (401)   (clients.auth) a journal system's call without a usable token
    ├── Forbidden (403)
    │   ├── OmbudRefused              (inbox.service) not a guardian of a child under 13
    │   └── ScopeMissing              (clients.auth) the token lacks the scope the call needs
    ├── NotFound (404)
    ├── LinkGone (410)                a link that expired or was revoked
    ├── Conflict (409)
    │   └── UsernameTaken             (accounts.provisioning) an HSA-id's username is another account's
    ├── TooManyAttempts (429)         sign-in is slowed down; .retry_after seconds
    ├── SignInFailed (400)            (inbox.oidc) the e-identification did not go through
    ├── ProviderUnavailable (502)     (inbox.oidc) the identity provider does not answer
    ├── StaffSignInFailed (400/403/502) (accounts.staff_oidc) the staff sign-in with SITHS did not go through
    └── MailNotSent (502)             (invitations.mail) the SMTP server did not take a message

Errors that never reach a person as such (the web layer logs them and shows
a general text): ``SettingsError`` (settings, at start-up), ``JanusException``
and its subclasses (media.janus), ``EmbeddedJanusError`` (media.embedded),
``ProtocolError`` (rooms.errors, answered on the meeting WebSocket with its
code), ``InvalidPersonnummer`` (patients.personnummer, a ``ValueError``
that callers turn into ``InvalidInput``), ``SignInError`` with ``Refused`` and
``Unreachable`` (lib.oidc, which each sign-in turns into its own Swedish error),
``JwksError`` and ``ScopeError`` (clients.keys, clients.scopes: turned into
``InvalidClient``) and ``FhirError`` (fhir.outcome: answered as a FHIR
OperationOutcome, never as problem JSON).

Pages show ``message`` (and each field's message next to its field); the API
answers RFC 9457 problem JSON built from the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """FieldError is what is wrong with one field, in Swedish."""

    field: str
    message: str


class VardmoteError(Exception):
    """VardmoteError is the base of every error meant for the person who acted."""

    status = 400
    slug = "bad-request"
    title = "Felaktig begäran"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(VardmoteError):
    """InvalidInput says which fields are wrong; nothing has been saved."""

    status = 422
    slug = "invalid-input"
    title = "Uppgifterna behöver rättas"

    def __init__(self, fields: list[FieldError], message: str = "Rätta uppgifterna och försök igen.") -> None:
        super().__init__(message)
        self.fields = fields

    @classmethod
    def one(cls, field: str, message: str) -> InvalidInput:
        """one makes an InvalidInput for a single field."""
        return cls([FieldError(field, message)], message)


class NotSignedIn(VardmoteError):
    status = 401
    slug = "not-signed-in"
    title = "Inte inloggad"


class Forbidden(VardmoteError):
    status = 403
    slug = "forbidden"
    title = "Åtkomst nekad"


class NotFound(VardmoteError):
    status = 404
    slug = "not-found"
    title = "Hittades inte"


class LinkGone(VardmoteError):
    status = 410
    slug = "link-gone"
    title = "Länken gäller inte längre"


class Conflict(VardmoteError):
    status = 409
    slug = "conflict"
    title = "Konflikt"


class TooManyAttempts(VardmoteError):
    status = 429
    slug = "too-many-attempts"
    title = "För många försök"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
