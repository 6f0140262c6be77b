"""Capability: the CapabilityStatement at ``/fhir/r4/metadata`` and the SMART configuration. Pure.

The statement says what the endpoint offers and nothing more: Appointment read, search-type,
create and update (versioned, If-Match honoured, no update-as-create, no delete: a
cancellation is an update to ``status: cancelled``), its search parameters, JSON only, and the
security: OAuth 2.0 client credentials with a signed JWT client assertion, as SMART Backend
Services, whose token endpoint is named by the SMART ``oauth-uris`` extension and in
``.well-known/smart-configuration``.

The models are R4B's (``fhir.resources.R4B``), whose CapabilityStatement matches R4's for
everything used here; ``fhirVersion`` says 4.0.1, the version the endpoint speaks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fhir.resources.R4B.capabilitystatement import (
    CapabilityStatement,
    CapabilityStatementImplementation,
    CapabilityStatementRest,
    CapabilityStatementRestResource,
    CapabilityStatementRestResourceInteraction,
    CapabilityStatementRestResourceSearchParam,
    CapabilityStatementRestSecurity,
    CapabilityStatementSoftware,
)
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.extension import Extension

from vardmote.clients.keys import ALGORITHMS

FHIR_VERSION = "4.0.1"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

_SEARCH_PARAMETERS = [
    (
        "patient",
        "reference",
        "http://hl7.org/fhir/SearchParameter/Appointment-patient",
        "Med modifieraren :identifier: patient:identifier=<system>|<personnummer eller samordningsnummer>.",
    ),
    (
        "practitioner",
        "reference",
        "http://hl7.org/fhir/SearchParameter/Appointment-practitioner",
        "Med modifieraren :identifier: practitioner:identifier=urn:oid:1.2.752.29.4.19|<HSA-id>.",
    ),
    (
        "date",
        "date",
        "http://hl7.org/fhir/SearchParameter/Appointment-date",
        "Starttiden, med prefixen eq, ne, gt, ge, lt, le.",
    ),
    (
        "status",
        "token",
        "http://hl7.org/fhir/SearchParameter/Appointment-status",
        "booked eller cancelled.",
    ),
]


def capability_statement(
    base_url: str, token_url: str, version: str, published: dt.datetime
) -> CapabilityStatement:
    """capability_statement describes the endpoint at base_url (``…/fhir/r4``)."""
    appointment = CapabilityStatementRestResource(
        type="Appointment",
        interaction=[
            CapabilityStatementRestResourceInteraction(code=code)
            for code in ("read", "vread", "search-type", "create", "update")
        ],
        versioning="versioned-update",
        readHistory=False,
        updateCreate=False,
        conditionalCreate=False,
        conditionalUpdate=False,
        conditionalDelete="not-supported",
        searchParam=[
            CapabilityStatementRestResourceSearchParam(
                name=name, type=kind, definition=definition, documentation=documentation
            )
            for name, kind, definition, documentation in _SEARCH_PARAMETERS
        ],
        documentation=(
            "Ett digitalt vårdmöte: patienten anges med personnummer eller samordningsnummer, "
            "vårdpersonalen med HSA-id. Avboka med status cancelled (update)."
        ),
    )
    security = CapabilityStatementRestSecurity(
        cors=False,
        service=[
            CodeableConcept(
                coding=[
                    Coding(
                        system="http://terminology.hl7.org/CodeSystem/restful-security-service",
                        code="SMART-on-FHIR",
                    )
                ],
                text="OAuth 2.0 client credentials med private_key_jwt (SMART Backend Services)",
            )
        ],
        description=(
            f"Hämta ett åtkomsttoken på {token_url} med en signerad JWT (private_key_jwt) och skicka "
            "det som Authorization: Bearer. Behörigheter: system/Appointment.cruds."
        ),
        extension=[Extension(url=OAUTH_URIS, extension=[Extension(url="token", valueUri=token_url)])],
    )
    return CapabilityStatement(
        status="active",
        date=published,
        publisher="Vårdmöte",
        kind="instance",
        software=CapabilityStatementSoftware(name="Vårdmöte", version=version),
        implementation=CapabilityStatementImplementation(
            description="Vårdmöte: journalsystem bokar digitala vårdmöten", url=base_url
        ),
        fhirVersion=FHIR_VERSION,
        format=["application/fhir+json", "json"],
        rest=[CapabilityStatementRest(mode="server", security=security, resource=[appointment])],
    )


def smart_configuration(token_url: str) -> dict[str, Any]:
    """smart_configuration is ``.well-known/smart-configuration`` for SMART Backend Services
    (a plain JSON document, not a FHIR resource)."""
    return {
        "token_endpoint": token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": [
            "system/Appointment.cruds",
            "system/Appointment.read",
            "system/Appointment.write",
        ],
        "capabilities": ["client-confidential-asymmetric"],
    }
