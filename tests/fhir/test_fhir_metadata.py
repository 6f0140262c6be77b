"""What the endpoint says about itself: the CapabilityStatement, the SMART configuration, and an
OperationOutcome for every path or method it does not offer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir_helpers import FHIR_JSON, outcome

from vardmote.context import Context


def test_metadata_is_a_capability_statement_for_r4_without_a_token(client: TestClient) -> None:
    response = client.get("/fhir/r4/metadata")

    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON
    statement = CapabilityStatement.model_validate_json(response.content)
    assert (statement.fhirVersion, statement.kind, statement.status) == ("4.0.1", "instance", "active")
    assert statement.implementation is not None
    assert statement.implementation.url == "http://vardmote.test/fhir/r4"
    (rest,) = statement.rest or []
    (resource,) = rest.resource or []
    assert resource.type == "Appointment"
    interactions = [i.code for i in resource.interaction or []]
    assert interactions == ["read", "vread", "search-type", "create", "update"]
    assert (resource.versioning, resource.updateCreate) == ("versioned-update", False)
    assert [(p.name, p.type) for p in resource.searchParam or []] == [
        ("patient", "reference"),
        ("practitioner", "reference"),
        ("date", "date"),
        ("status", "token"),
    ]
    assert rest.security is not None
    (oauth,) = rest.security.extension or []
    assert oauth.url == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    assert [(e.url, e.valueUri) for e in oauth.extension or []] == [
        ("token", "http://vardmote.test/oauth/token")
    ]


def test_the_smart_configuration_names_the_token_endpoint_and_private_key_jwt(client: TestClient) -> None:
    response = client.get("/fhir/r4/.well-known/smart-configuration")
    assert response.status_code == 200
    config = response.json()
    assert config["token_endpoint"] == "http://vardmote.test/oauth/token"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert config["grant_types_supported"] == ["client_credentials"]
    assert {"RS384", "ES384"} <= set(config["token_endpoint_auth_signing_alg_values_supported"])
    assert "HS256" not in config["token_endpoint_auth_signing_alg_values_supported"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param(
            "DELETE", "/fhir/r4/Appointment/7d3f0b7e-58a4-4c84-8f0e-1f4f3e0c9a11", "GET, PUT", id="delete"
        ),
        pytest.param(
            "PATCH", "/fhir/r4/Appointment/7d3f0b7e-58a4-4c84-8f0e-1f4f3e0c9a11", "GET, PUT", id="patch"
        ),
        pytest.param("PUT", "/fhir/r4/Appointment", "GET, POST", id="put-on-the-type"),
        pytest.param("POST", "/fhir/r4/metadata", "GET", id="post-metadata"),
    ],
)
def test_a_method_a_path_does_not_take_is_405_with_allow(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    code, swedish, _, _ = outcome(response)
    assert code == "not-supported"
    assert swedish == f"Metoden stöds inte här. Tillåtna: {allow}. Avboka med PUT och status cancelled."


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/fhir/r4/Patient", id="another-resource"),
        pytest.param("/fhir/r4/Appointment/7d3f0b7e-58a4-4c84-8f0e-1f4f3e0c9a11/_history", id="history"),
        pytest.param("/fhir/r4", id="the-base"),
    ],
)
def test_a_path_that_does_not_exist_is_404_as_an_operation_outcome(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert outcome(response)[:2] == (
        "not-supported",
        "Det finns inget sådant här. Vårdmöte erbjuder bara Appointment (och metadata).",
    )


def test_fhir_answers_carry_the_security_headers_and_are_not_cached(ctx: Context, client: TestClient) -> None:
    for path in ("/fhir/r4/metadata", "/fhir/r4/Appointment/x", "/fhir/r4/Patient"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in response.headers["content-security-policy"]
