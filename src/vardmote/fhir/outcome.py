"""Outcome: a refused FHIR call as an OperationOutcome, in Swedish and English.

Every error of the FHIR endpoint is one :class:`FhirError`: the HTTP status, the issue type
(R4's IssueType value set), the Swedish text for people (``issue.details.text``, what a journal
system should show its user), the same in English for the integrator (``issue.diagnostics``)
and, where one field is to blame, its FHIRPath (``issue.expression``). The texts never repeat
a personnummer or a token.

Errors the service layer raises for everything else (:class:`~vardmote.errors.VardmoteError`,
e.g. a meeting rule or the bearer check) become one through :func:`from_vardmote_error`.
"""

from __future__ import annotations

from enum import StrEnum

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.operationoutcome import OperationOutcome, OperationOutcomeIssue

from vardmote.errors import Conflict, Forbidden, InvalidInput, NotFound, NotSignedIn, VardmoteError


class IssueType(StrEnum):
    """IssueType is the OperationOutcome issue code (http://hl7.org/fhir/issue-type) of an error."""

    STRUCTURE = "structure"
    """The body is not JSON, or not a resource at all."""
    INVALID = "invalid"
    """The resource does not follow the FHIR model (a wrong resourceType, a wrong field)."""
    REQUIRED = "required"
    """Something the booking needs is missing (the patient, the clinician, the times)."""
    VALUE = "value"
    """A value is not valid (a personnummer, an HSA-id)."""
    CODE_INVALID = "code-invalid"
    """An identifier system or a code is not one Vårdmöte knows."""
    BUSINESS_RULE = "business-rule"
    """The booking breaks a rule (a time in the past, the end before the start)."""
    CONFLICT = "conflict"
    """Another appointment overlaps, or the version the call was made against is not current."""
    NOT_FOUND = "not-found"
    """No such appointment (for this client), or no account for the clinician."""
    NOT_SUPPORTED = "not-supported"
    """An interaction, search parameter or format Vårdmöte does not offer."""
    LOGIN = "login"
    """No usable access token."""
    FORBIDDEN = "forbidden"
    """The token lacks the scope the call needs."""
    TOO_LONG = "too-long"
    """The body is larger than the service takes."""
    EXCEPTION = "exception"
    """An unexpected error; nothing was saved."""


class FhirError(Exception):
    """FhirError is a refused FHIR call: answered with its status and an OperationOutcome.

    Raised inside the call's transaction, it rolls everything back: nothing is half-made."""

    def __init__(
        self,
        status: int,
        code: IssueType,
        swedish: str,
        english: str,
        expression: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(english)
        self.status = status
        self.code = code
        self.swedish = swedish
        self.english = english
        self.expression = expression
        self.headers = headers or {}


def operation_outcome(error: FhirError) -> OperationOutcome:
    """operation_outcome is the OperationOutcome that answers error: one issue, severity error."""
    issue = OperationOutcomeIssue(
        severity="error",
        code=error.code.value,
        details=CodeableConcept(text=error.swedish),
        diagnostics=error.english,
        expression=[error.expression] if error.expression else None,
    )
    return OperationOutcome(issue=[issue])


_KINDS: list[tuple[type[VardmoteError], int, IssueType]] = [
    (InvalidInput, 422, IssueType.BUSINESS_RULE),
    (NotSignedIn, 401, IssueType.LOGIN),
    (Forbidden, 403, IssueType.FORBIDDEN),
    (NotFound, 404, IssueType.NOT_FOUND),
    (Conflict, 409, IssueType.CONFLICT),
]


def from_vardmote_error(error: VardmoteError) -> FhirError:
    """from_vardmote_error is a service-layer error as a FhirError: its Swedish message, and the
    English one where the error carries it (the bearer check's do), else a general English text
    that points at the Swedish one."""
    status, code = error.status, IssueType.BUSINESS_RULE
    for kind, kind_status, kind_code in _KINDS:
        if isinstance(error, kind):
            status, code = kind_status, kind_code
            break
    if error.status == 401:
        status, code = 401, IssueType.LOGIN
    english = getattr(error, "english", None)
    if not isinstance(english, str):
        english = f"Refused ({error.slug}); the reason is given in Swedish in issue.details.text."
    headers = getattr(error, "headers", None)
    return FhirError(
        status,
        code,
        error.message,
        english,
        headers=dict(headers) if isinstance(headers, dict) else None,
    )
