"""What the sign-ins write to the log, against the real provider (tests/oidc_provider.py): which
check failed, and never a token, an HSA-id, a personnummer or a name, whether the sign-in goes
through or is refused (the audit has the HSA-id; the log is read by more people)."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from staff_oidc_support import sign_in, staff_fixtures

from conftest import make_user
from oidc_provider import NO_HSA_ID, PATIENT, Provider, path_of, patients_sign_in_with
from vardmote.accounts.service import deactivate_user
from vardmote.app import create_app
from vardmote.context import Context

running, provider, settings = staff_fixtures()

NEVER = (
    "SE2321000016",  # HSA-ids, however written
    "se2321000016",
    "Annika",  # the clinician's name
    "Läkare",
    "Petra",  # the patient's name and number
    "199006022397",
    "19900602",
    "900602",
    "eyJ",  # a JWT (the ID token)
    "Bearer",
)


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """_logged is every record's message with its arguments filled in, and any exception text."""
    lines = []
    for record in caplog.records:
        lines.append(f"{record.name} {record.getMessage()}")
        if record.exc_text:
            lines.append(record.exc_text)
    return lines


def test_no_token_hsa_id_personnummer_or_name_reaches_the_log(
    ctx: Context, client: TestClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fresh = lambda: TestClient(client.app, base_url="http://vardmote.test")  # noqa: E731

    assert sign_in(client, provider).status_code == 303  # the first sign-in makes the account
    assert sign_in(fresh(), provider).status_code == 303  # a later one finds it
    provider.tamper_next(claims={"aud": "någon-annan"})
    assert sign_in(fresh(), provider).status_code == 400  # a token refused
    provider.tamper_next_userinfo(claims={"sub": "någon-annan"})
    assert sign_in(fresh(), provider).status_code == 400  # userinfo about someone else
    provider.put_accounts({NO_HSA_ID: {"employeeHsaId": "SE2321000016-2000"}})
    provider.next_sign_in(account=NO_HSA_ID)
    assert sign_in(fresh(), provider).status_code == 400  # no name: the HSA-id was known
    make_user(ctx, "se2321000016-2000")
    provider.put_accounts({NO_HSA_ID: {"employeeHsaId": "SE2321000016-2000", "name": "Annika Annan"}})
    assert sign_in(fresh(), provider).status_code == 403  # an unlinked account with that username
    provider.next_sign_in(account="clinician")
    with ctx.db.session() as s:
        deactivate_user(s, "se2321000016-1003")
        s.commit()
    assert sign_in(fresh(), provider).status_code == 403  # deactivated
    settings = patients_sign_in_with(ctx.settings, provider)
    with TestClient(create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test") as c:
        provider.next_sign_in(account=PATIENT)
        back = provider.follow_sign_in(c, "/inkorg/oidc/start")
        assert c.get(path_of(back), follow_redirects=False).status_code == 303  # a patient
        provider.tamper_next(claims={"nonce": "fel"})
        back = provider.follow_sign_in(c, "/inkorg/oidc/start")
        assert c.get(path_of(back), follow_redirects=False).status_code == 400  # and one refused

    logged = _logged(caplog)

    assert any("ID token refused: wrong_audience" in line for line in logged)  # the check is there
    assert any("set-hsa-id" in line for line in logged)
    found = {word: [line for line in logged if word in line] for word in NEVER}
    assert {word: lines for word, lines in found.items() if lines} == {}
