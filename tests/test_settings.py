"""Settings: environment variables read strictly, secrets from files, never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from vardmote.settings import Secret, Settings, SettingsError, load_settings


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"VARDMOTE_PORT": "abc"},
            "VARDMOTE_PORT must be a whole number, got 'abc'",
            id="port-not-a-number",
        ),
        pytest.param({"VARDMOTE_PORT": "0"}, "VARDMOTE_PORT must be at least 1, got 0", id="port-zero"),
        pytest.param(
            {"VARDMOTE_PORT": "65536"}, "VARDMOTE_PORT must be at most 65535, got 65536", id="port-too-high"
        ),
        pytest.param(
            {"VARDMOTE_SECRET_KEY": "kort-nyckel"},
            "VARDMOTE_SECRET_KEY must be at least 16 bytes long",
            id="secret-key-too-short",
        ),
        pytest.param(
            {"VARDMOTE_SESSION_HOURS": "-1"},
            "VARDMOTE_SESSION_HOURS must be at least 1, got -1",
            id="session-hours-negative",
        ),
        pytest.param(
            {"VARDMOTE_DEMO": "kanske"}, "VARDMOTE_DEMO must be true or false, got 'kanske'", id="bool-kanske"
        ),
        pytest.param(
            {"VARDMOTE_COOKIE_SECURE": "2"},
            "VARDMOTE_COOKIE_SECURE must be true or false, got '2'",
            id="bool-two",
        ),
        pytest.param(
            {"VARDMOTE_TIMEZONE": "Mars/Olympus"},
            "VARDMOTE_TIMEZONE is not a known time zone: 'Mars/Olympus'",
            id="unknown-timezone",
        ),
        pytest.param(
            {"VARDMOTE_PUBLIC_URL": "ftp://x"},
            "VARDMOTE_PUBLIC_URL must start with http:// or https://, got 'ftp://x'",
            id="public-url-ftp",
        ),
        pytest.param(
            {"VARDMOTE_SECRET_KEY": "a", "VARDMOTE_SECRET_KEY_FILE": "/nonexistent"},
            "VARDMOTE_SECRET_KEY and VARDMOTE_SECRET_KEY_FILE are both set; give one",
            id="secret-key-twice",
        ),
        pytest.param(
            {"VARDMOTE_DATABASE_URL": "sqlite://", "VARDMOTE_DATABASE_URL_FILE": "/nonexistent"},
            "VARDMOTE_DATABASE_URL and VARDMOTE_DATABASE_URL_FILE are both set; give one",
            id="database-url-twice",
        ),
        pytest.param(
            {"VARDMOTE_SMTP_PORT": "smtp"},
            "VARDMOTE_SMTP_PORT must be a whole number, got 'smtp'",
            id="smtp-port-not-a-number",
        ),
        pytest.param(
            {"VARDMOTE_SMTP_USERNAME": "vardmote"},
            "VARDMOTE_SMTP_USERNAME and VARDMOTE_SMTP_PASSWORD must be given together",
            id="smtp-username-without-password",
        ),
        pytest.param(
            {
                "VARDMOTE_SMTP_USERNAME": "vardmote",
                "VARDMOTE_SMTP_PASSWORD": "x",
                "VARDMOTE_SMTP_STARTTLS": "nej",
            },
            "VARDMOTE_SMTP_USERNAME needs VARDMOTE_SMTP_STARTTLS on",
            id="smtp-login-in-clear-text",
        ),
        pytest.param(
            {"VARDMOTE_SMTP_PASSWORD": "x", "VARDMOTE_SMTP_PASSWORD_FILE": "/nonexistent"},
            "VARDMOTE_SMTP_PASSWORD and VARDMOTE_SMTP_PASSWORD_FILE are both set; give one",
            id="smtp-password-twice",
        ),
        pytest.param(
            {"VARDMOTE_MAIL_FROM": "vardmote"},
            "VARDMOTE_MAIL_FROM must be an e-mail address, got 'vardmote'",
            id="mail-from-not-an-address",
        ),
    ],
)
def test_a_malformed_value_is_refused_with_a_message_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert str(caught.value) == message


def test_an_unreadable_secret_file_is_refused_naming_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(SettingsError, match=r"^VARDMOTE_SECRET_KEY_FILE=.*missing.* cannot be read"):
        load_settings({"VARDMOTE_SECRET_KEY_FILE": str(missing)})


def test_an_empty_secret_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "secret_key"
    empty.write_text("\n")
    with pytest.raises(SettingsError) as caught:
        load_settings({"VARDMOTE_SECRET_KEY_FILE": str(empty)})
    assert str(caught.value) == f"VARDMOTE_SECRET_KEY_FILE={str(empty)!r} is empty"


def test_empty_variables_count_as_unset() -> None:
    settings = load_settings(
        {"VARDMOTE_PORT": "", "VARDMOTE_DEMO": "", "VARDMOTE_TIMEZONE": "", "VARDMOTE_SECRET_KEY": ""}
    )
    assert (settings.port, settings.demo, settings.timezone) == (8000, False, "Europe/Stockholm")


def test_no_variables_give_the_defaults() -> None:
    settings = load_settings({})
    assert settings == Settings(
        secret_key=settings.secret_key,
        smtp_password=settings.smtp_password,
        patient_oidc_client_secret=settings.patient_oidc_client_secret,
        staff_oidc_client_secret=settings.staff_oidc_client_secret,
        audit_key=settings.audit_key,
        turn_secret=settings.turn_secret,
    )
    assert settings.secret_key.reveal() == ""
    assert settings.smtp_password.reveal() == ""
    assert settings.port == 8000
    assert settings.demo is False
    assert settings.signin_max_failures == 5
    assert settings.effective_public_url == "http://127.0.0.1:8000"
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == ("", 587, True)
    assert settings.effective_outbox_dir == Path("var/outbox")
    assert settings.effective_mail_from == "vardmote@127.0.0.1"


def test_every_variable_is_read() -> None:
    settings = load_settings(
        {
            "VARDMOTE_VAR_DIR": "/srv/vardmote",
            "VARDMOTE_DATABASE_URL": "postgresql://db/vardmote",
            "VARDMOTE_HOST": "0.0.0.0",
            "VARDMOTE_PORT": "8443",
            "VARDMOTE_PUBLIC_URL": "https://vardmote.example.se/",
            "VARDMOTE_ORGANISATION": "Region Uppsala",
            "VARDMOTE_SECRET_KEY": "nyckel-på-minst-16-byte",
            "VARDMOTE_LINK_GRACE_MINUTES": "0",
            "VARDMOTE_SESSION_HOURS": "2",
            "VARDMOTE_DEMO": "ja",
            "VARDMOTE_SIGNIN_MAX_FAILURES": "3",
            "VARDMOTE_TIMEZONE": "Europe/Helsinki",
        }
    )
    assert settings.var_dir == Path("/srv/vardmote")
    assert settings.database_url == "postgresql://db/vardmote"
    assert settings.host == "0.0.0.0"
    assert settings.port == 8443
    assert settings.effective_public_url == "https://vardmote.example.se"
    assert settings.organisation == "Region Uppsala"
    assert settings.secret_key.reveal() == "nyckel-på-minst-16-byte"
    assert settings.link_grace_minutes == 0
    assert settings.session_hours == 2
    assert settings.demo is True
    assert settings.cookie_secure is True, "an https public URL turns on secure cookies"
    assert settings.signin_max_failures == 3
    assert settings.timezone == "Europe/Helsinki"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("1", True, id="one"),
        pytest.param("TRUE", True, id="upper-true"),
        pytest.param("Ja", True, id="ja"),
        pytest.param("off", False, id="off"),
        pytest.param("nej", False, id="nej"),
        pytest.param("", False, id="empty"),
    ],
)
def test_booleans_are_read_in_english_and_swedish(raw: str, expected: bool) -> None:
    assert load_settings({"VARDMOTE_DEMO": raw}).demo is expected


def test_a_secret_is_read_from_its_file(tmp_path: Path) -> None:
    key_file = tmp_path / "secret_key"
    key_file.write_text("nyckel-från-fil\n")
    url_file = tmp_path / "database_url"
    url_file.write_text("postgresql://vardmote:hemligt@db/vardmote\n")
    settings = load_settings(
        {"VARDMOTE_SECRET_KEY_FILE": str(key_file), "VARDMOTE_DATABASE_URL_FILE": str(url_file)}
    )
    assert settings.secret_key.reveal() == "nyckel-från-fil"
    assert settings.database_url == "postgresql://vardmote:hemligt@db/vardmote"


def test_a_secret_never_shows_its_value() -> None:
    secret = Secret("hemligt-värde")
    assert "hemligt" not in repr(secret)
    assert "hemligt" not in str(secret)
    assert "hemligt" not in f"{secret}"
    assert secret.reveal() == "hemligt-värde"


def test_settings_never_show_the_secret_key() -> None:
    settings = load_settings({"VARDMOTE_SECRET_KEY": "hemligt-värde-långt-nog"})
    assert "hemligt" not in repr(settings)


def test_without_a_configured_key_one_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var")
    first = settings.effective_secret_key()
    assert len(first) >= 32
    assert settings.effective_secret_key() == first
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_the_smtp_variables_are_read(tmp_path: Path) -> None:
    password_file = tmp_path / "smtp_password"
    password_file.write_text("hemligt-lösen\n")
    settings = load_settings(
        {
            "VARDMOTE_PUBLIC_URL": "https://vardmote.example.se",
            "VARDMOTE_SMTP_HOST": "smtp.regionvastmanland.example.se",
            "VARDMOTE_SMTP_PORT": "25",
            "VARDMOTE_SMTP_USERNAME": "vardmote",
            "VARDMOTE_SMTP_PASSWORD_FILE": str(password_file),
            "VARDMOTE_SMTP_STARTTLS": "ja",
            "VARDMOTE_MAIL_FROM": "noreply@regionvastmanland.example.se",
            "VARDMOTE_OUTBOX_DIR": "/var/spool/vardmote",
        }
    )
    assert settings.smtp_host == "smtp.regionvastmanland.example.se"
    assert settings.smtp_port == 25
    assert settings.smtp_username == "vardmote"
    assert settings.smtp_password.reveal() == "hemligt-lösen"
    assert "hemligt" not in repr(settings)
    assert settings.smtp_starttls is True
    assert settings.effective_mail_from == "noreply@regionvastmanland.example.se"
    assert settings.effective_outbox_dir == Path("/var/spool/vardmote")


def test_without_a_sender_invitations_come_from_the_public_host() -> None:
    settings = load_settings(
        {"VARDMOTE_PUBLIC_URL": "https://vardmote.example.se/", "VARDMOTE_VAR_DIR": "/srv/vm"}
    )
    assert settings.effective_mail_from == "vardmote@vardmote.example.se"
    assert settings.effective_outbox_dir == Path("/srv/vm/outbox")


def test_an_internal_relay_without_tls_or_login_is_allowed_when_chosen() -> None:
    settings = load_settings(
        {
            "VARDMOTE_SMTP_HOST": "relay.region.example.se",
            "VARDMOTE_SMTP_PORT": "25",
            "VARDMOTE_SMTP_STARTTLS": "nej",
        }
    )
    assert (settings.smtp_port, settings.smtp_starttls, settings.smtp_username) == (25, False, "")


def test_the_interpreter_service_and_the_patients_e_identification_are_read(tmp_path: Path) -> None:
    secret_file = tmp_path / "oidc_secret"
    secret_file.write_text("klienthemlighet\n")
    settings = load_settings(
        {
            "VARDMOTE_INTERPRETER_SERVICE_ADDRESS": "tolkservice@regionvastmanland.example.se",
            "VARDMOTE_PATIENT_OIDC_ISSUER": "https://eid.example.se/oidc",
            "VARDMOTE_PATIENT_OIDC_CLIENT_ID": "vardmote",
            "VARDMOTE_PATIENT_OIDC_CLIENT_SECRET_FILE": str(secret_file),
            "VARDMOTE_PATIENT_OIDC_PERSONNUMMER_CLAIM": "ssn",
        }
    )
    assert settings.interpreter_service_address == "tolkservice@regionvastmanland.example.se"
    assert settings.patient_oidc_issuer == "https://eid.example.se/oidc"
    assert settings.patient_oidc_client_id == "vardmote"
    assert settings.patient_oidc_client_secret.reveal() == "klienthemlighet"
    assert "klienthemlighet" not in repr(settings)
    assert settings.patient_oidc_personnummer_claim == "ssn"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        pytest.param(
            {"VARDMOTE_INTERPRETER_SERVICE_ADDRESS": "tolkservice"},
            "INTERPRETER_SERVICE_ADDRESS",
            id="address",
        ),
        pytest.param({"VARDMOTE_PATIENT_OIDC_ISSUER": "eid.example.se"}, "PATIENT_OIDC_ISSUER", id="issuer"),
        pytest.param(
            {
                "VARDMOTE_PATIENT_OIDC_ISSUER": "https://eid.example.se",
                "VARDMOTE_PATIENT_OIDC_CLIENT_ID": "x",
            },
            "PATIENT_OIDC_CLIENT_SECRET",
            id="no-secret",
        ),
    ],
)
def test_a_wrong_interpreter_address_or_e_identification_stops_the_start(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env)


def test_the_staff_identity_provider_is_read_and_turns_local_passwords_off(tmp_path: Path) -> None:
    secret_file = tmp_path / "staff_secret"
    secret_file.write_text("personalhemlighet\n")
    settings = load_settings(
        {
            "VARDMOTE_STAFF_OIDC_ISSUER": "https://idp.region.example.se",
            "VARDMOTE_STAFF_OIDC_CLIENT_ID": "vardmote-personal",
            "VARDMOTE_STAFF_OIDC_CLIENT_SECRET_FILE": str(secret_file),
            "VARDMOTE_STAFF_OIDC_SCOPES": "profile https://id.oidc.se/scope/naturalPersonNumber profile",
            "VARDMOTE_STAFF_OIDC_HSA_ID_CLAIM": "hsa",
            "VARDMOTE_STAFF_OIDC_ADMIN_CLAIM": "groups=vardmote-admin",
            "VARDMOTE_STAFF_OIDC_LABEL": "Logga in med SITHS eID",
            "VARDMOTE_BREAK_GLASS_ADMIN": "reserv",
        }
    )
    assert settings.staff_oidc_issuer == "https://idp.region.example.se"
    assert settings.staff_oidc_client_secret.reveal() == "personalhemlighet"
    assert "personalhemlighet" not in repr(settings)
    assert settings.staff_oidc_scopes == "openid profile https://id.oidc.se/scope/naturalPersonNumber"
    assert (settings.staff_oidc_hsa_id_claim, settings.staff_oidc_admin_claim) == (
        "hsa",
        "groups=vardmote-admin",
    )
    assert settings.staff_oidc_label == "Logga in med SITHS eID"
    assert settings.staff_oidc_acr == "http://id.elegnamnden.se/loa/1.0/loa3"
    assert (settings.local_signin, settings.break_glass_admin) == (False, "reserv")


@pytest.mark.parametrize(
    ("env", "local_signin"),
    [
        pytest.param({}, True, id="no-provider"),
        pytest.param({"VARDMOTE_LOCAL_SIGNIN": "nej"}, False, id="switched-off"),
        pytest.param(
            {"VARDMOTE_STAFF_OIDC_ISSUER": "https://idp.example.se", "VARDMOTE_STAFF_OIDC_CLIENT_ID": "x"},
            False,
            id="provider",
        ),
        pytest.param(
            {
                "VARDMOTE_STAFF_OIDC_ISSUER": "https://idp.example.se",
                "VARDMOTE_STAFF_OIDC_CLIENT_ID": "x",
                "VARDMOTE_LOCAL_SIGNIN": "ja",
            },
            True,
            id="provider-and-kept-on",
        ),
    ],
)
def test_local_passwords_are_on_unless_a_staff_provider_is_configured(
    env: dict[str, str], local_signin: bool
) -> None:
    assert load_settings(env).local_signin is local_signin


def test_the_patient_scopes_always_hold_openid() -> None:
    assert load_settings({}).patient_oidc_scopes == "openid"
    scopes = load_settings({"VARDMOTE_PATIENT_OIDC_SCOPES": "https://id.oidc.se/scope/naturalPersonNumber"})
    assert scopes.patient_oidc_scopes == "openid https://id.oidc.se/scope/naturalPersonNumber"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        pytest.param({"VARDMOTE_STAFF_OIDC_ISSUER": "idp.example.se"}, "STAFF_OIDC_ISSUER", id="issuer"),
        pytest.param(
            {"VARDMOTE_STAFF_OIDC_ISSUER": "https://idp.example.se"}, "STAFF_OIDC_CLIENT_ID", id="no-client"
        ),
        pytest.param({"VARDMOTE_STAFF_OIDC_SCOPES": 'openid "profile"'}, "STAFF_OIDC_SCOPES", id="scopes"),
        pytest.param({"VARDMOTE_OAUTH_TOKEN_SECONDS": "5"}, "OAUTH_TOKEN_SECONDS", id="token-seconds"),
        pytest.param(
            {"VARDMOTE_FHIR_PROVISION_CLINICIANS": "kanske"}, "FHIR_PROVISION_CLINICIANS", id="bool"
        ),
    ],
)
def test_a_wrong_staff_provider_or_journal_setting_stops_the_start(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env)


def test_redis_is_read_and_needs_the_shared_secret_key() -> None:
    url = "redis://:lösen@redis.region.internal:6379/0"
    settings = load_settings({"VARDMOTE_REDIS_URL": url, "VARDMOTE_SECRET_KEY": "nyckel-på-minst-16-byte"})
    assert settings.redis_url == url
    with pytest.raises(SettingsError, match="the same on every process"):
        load_settings({"VARDMOTE_REDIS_URL": url})


def test_a_redis_url_of_another_kind_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"VARDMOTE_REDIS_URL": "http://:lösen@redis", "VARDMOTE_SECRET_KEY": "x" * 16})
    assert "lösen" not in str(caught.value)


# --- the relay (TURN) and Janus's network settings ----------------------------------------------

TURN_SECRET = "delad-hemlighet-för-coturn"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"VARDMOTE_TURN": "inbyggd"},
            "VARDMOTE_TURN must be embedded, external or off, got 'inbyggd'",
            id="turn-unknown-mode",
        ),
        pytest.param(
            {"VARDMOTE_TURN": "external"},
            "VARDMOTE_TURN=external needs VARDMOTE_TURN_URLS and VARDMOTE_TURN_SECRET",
            id="external-without-urls-or-secret",
        ),
        pytest.param(
            {"VARDMOTE_TURN": "external", "VARDMOTE_TURN_URLS": "turn:turn.region.example.se:3478"},
            "VARDMOTE_TURN=external needs VARDMOTE_TURN_URLS and VARDMOTE_TURN_SECRET",
            id="external-without-secret",
        ),
        pytest.param(
            {"VARDMOTE_TURN_SECRET": "kort"},
            "VARDMOTE_TURN_SECRET must be at least 16 bytes long",
            id="secret-too-short",
        ),
        pytest.param(
            {"VARDMOTE_TURN_SECRET": TURN_SECRET, "VARDMOTE_TURN_SECRET_FILE": "/nonexistent"},
            "VARDMOTE_TURN_SECRET and VARDMOTE_TURN_SECRET_FILE are both set; give one",
            id="secret-twice",
        ),
        pytest.param(
            {"VARDMOTE_TURN_URLS": "stun:stun.region.example.se:3478"},
            "VARDMOTE_TURN_URLS must hold turn: or turns: URLs, got 'stun:stun.region.example.se:3478'",
            id="url-stun",
        ),
        pytest.param(
            {"VARDMOTE_TURN_URLS": "https://turn.region.example.se"},
            "VARDMOTE_TURN_URLS must hold turn: or turns: URLs, got 'https://turn.region.example.se'",
            id="url-https",
        ),
        pytest.param(
            {"VARDMOTE_TURN_URLS": "turn:"},
            "VARDMOTE_TURN_URLS: a host name or address must follow turn:, got 'turn:'",
            id="url-no-host",
        ),
        pytest.param(
            {"VARDMOTE_TURN_URLS": "turn:user@turn.region.example.se"},
            "VARDMOTE_TURN_URLS: a host name or address must follow turn:, "
            "got 'turn:user@turn.region.example.se'",
            id="url-user-part",
        ),
        pytest.param(
            {"VARDMOTE_TURN_URLS": "turn:turn.region.example.se:99999"},
            "VARDMOTE_TURN_URLS: the port must be 1-65535, got 'turn:turn.region.example.se:99999'",
            id="url-port-too-high",
        ),
        pytest.param(
            {"VARDMOTE_TURN_URLS": "turn:turn.region.example.se:"},
            "VARDMOTE_TURN_URLS: the port is missing after the colon, got 'turn:turn.region.example.se:'",
            id="url-empty-port",
        ),
        pytest.param(
            {"VARDMOTE_TURN_URLS": "turn:turn.region.example.se:3478?transport=tls"},
            "VARDMOTE_TURN_URLS: only ?transport=udp or ?transport=tcp may follow the port, "
            "got 'turn:turn.region.example.se:3478?transport=tls'",
            id="url-transport-tls",
        ),
        pytest.param(
            {"VARDMOTE_TURN_URLS": "turns:turn.region.example.se:443?transport=udp"},
            "VARDMOTE_TURN_URLS: turns: (TLS) works over TCP only, "
            "got 'turns:turn.region.example.se:443?transport=udp'",
            id="url-turns-over-udp",
        ),
        pytest.param(
            {"VARDMOTE_TURN_URLS": "turn:[2001:db8::1:3478"},
            "VARDMOTE_TURN_URLS: an IPv6 address needs its closing ], got 'turn:[2001:db8::1:3478'",
            id="url-ipv6-unclosed",
        ),
        pytest.param(
            {"VARDMOTE_TURN_URLS": "turn:[vardmote]:3478"},
            "VARDMOTE_TURN_URLS: 'vardmote' is not an IPv6 address, in 'turn:[vardmote]:3478'",
            id="url-ipv6-not-an-address",
        ),
        pytest.param(
            {"VARDMOTE_TURN_ADDRESS": "turn.region.example.se"},
            "VARDMOTE_TURN_ADDRESS must be an IPv4 address like 192.0.2.10, got 'turn.region.example.se'",
            id="address-a-name",
        ),
        pytest.param(
            {"VARDMOTE_TURN_ADDRESS": "2001:db8::1"},
            "VARDMOTE_TURN_ADDRESS must be an IPv4 address like 192.0.2.10, got '2001:db8::1'",
            id="address-ipv6",
        ),
        pytest.param(
            {"VARDMOTE_TURN_PORT": "70000"},
            "VARDMOTE_TURN_PORT must be at most 65535, got 70000",
            id="port-too-high",
        ),
        pytest.param(
            {"VARDMOTE_TURN_TLS_PORT": "-1"},
            "VARDMOTE_TURN_TLS_PORT must be at least 0, got -1",
            id="tls-port-negative",
        ),
        pytest.param(
            {"VARDMOTE_TURN_PORT": "443", "VARDMOTE_TURN_TLS_PORT": "443"},
            "VARDMOTE_TURN_TLS_PORT must differ from VARDMOTE_TURN_PORT (443)",
            id="tls-port-same-as-port",
        ),
        pytest.param(
            {"VARDMOTE_TURN_RELAY_PORTS": "49999-49160"},
            "VARDMOTE_TURN_RELAY_PORTS must be a range like 20000-20999 within 1024-65535, got '49999-49160'",
            id="relay-ports-backwards",
        ),
        pytest.param(
            {"VARDMOTE_TURN_TLS_CERT": "/etc/ssl/turn.pem"},
            "VARDMOTE_TURN_TLS_CERT and VARDMOTE_TURN_TLS_KEY must be given together",
            id="cert-without-key",
        ),
        pytest.param(
            {
                "VARDMOTE_TURN_TLS_CERT": "/nonexistent/turn.pem",
                "VARDMOTE_TURN_TLS_KEY": "/nonexistent/turn.key",
            },
            "VARDMOTE_TURN_TLS_CERT='/nonexistent/turn.pem' is not a file",
            id="cert-missing",
        ),
        pytest.param(
            {"VARDMOTE_TURN_ALLOWED_PEERS": "10.1.2.3 janus.region.internal"},
            "VARDMOTE_TURN_ALLOWED_PEERS must hold IP addresses separated by spaces, "
            "got 'janus.region.internal'",
            id="allowed-peer-a-name",
        ),
        pytest.param(
            {"VARDMOTE_TURN_ALLOWED_PEERS": "10.0.0.0/8"},
            "VARDMOTE_TURN_ALLOWED_PEERS must hold IP addresses separated by spaces, got '10.0.0.0/8'",
            id="allowed-peer-a-network",
        ),
        pytest.param(
            {"VARDMOTE_TURN_ALLOWED_PEERS": "10.1.2.3 0.0.0.0"},
            "VARDMOTE_TURN_ALLOWED_PEERS must name one host, not an unspecified, multicast or broadcast "
            "address, got '0.0.0.0'",
            id="allowed-peer-unspecified-ipv4",
        ),
        pytest.param(
            {"VARDMOTE_TURN_ALLOWED_PEERS": "::"},
            "VARDMOTE_TURN_ALLOWED_PEERS must name one host, not an unspecified, multicast or broadcast "
            "address, got '::'",
            id="allowed-peer-unspecified-ipv6",
        ),
        pytest.param(
            {"VARDMOTE_TURN_ALLOWED_PEERS": "224.0.0.1"},
            "VARDMOTE_TURN_ALLOWED_PEERS must name one host, not an unspecified, multicast or broadcast "
            "address, got '224.0.0.1'",
            id="allowed-peer-multicast",
        ),
        pytest.param(
            {"VARDMOTE_TURN_ALLOWED_PEERS": "ff02::1"},
            "VARDMOTE_TURN_ALLOWED_PEERS must name one host, not an unspecified, multicast or broadcast "
            "address, got 'ff02::1'",
            id="allowed-peer-multicast-ipv6",
        ),
        pytest.param(
            {"VARDMOTE_TURN_ALLOWED_PEERS": "255.255.255.255"},
            "VARDMOTE_TURN_ALLOWED_PEERS must name one host, not an unspecified, multicast or broadcast "
            "address, got '255.255.255.255'",
            id="allowed-peer-broadcast",
        ),
        pytest.param(
            {"VARDMOTE_TURN_ADDRESS": "0.0.0.0"},
            "VARDMOTE_TURN_ADDRESS must name one host, not an unspecified, multicast or broadcast "
            "address, got '0.0.0.0'",
            id="address-unspecified",
        ),
        pytest.param(
            {"VARDMOTE_TURN_ADDRESS": "239.1.2.3"},
            "VARDMOTE_TURN_ADDRESS must name one host, not an unspecified, multicast or broadcast "
            "address, got '239.1.2.3'",
            id="address-multicast",
        ),
        pytest.param(
            {"VARDMOTE_JANUS_NAT_1_1": "0.0.0.0"},
            "VARDMOTE_JANUS_NAT_1_1 must name one host, not an unspecified, multicast or broadcast "
            "address, got '0.0.0.0'",
            id="nat-unspecified",
        ),
        pytest.param(
            {"VARDMOTE_TURN_RELAY_PORTS": "20500-21500"},
            "VARDMOTE_TURN_RELAY_PORTS (20500-21500) must not overlap VARDMOTE_JANUS_RTP_PORTS (20000-20999)",
            id="relay-ports-overlap-janus",
        ),
        pytest.param(
            {"VARDMOTE_JANUS_RTP_PORTS": "49000-49160"},
            "VARDMOTE_TURN_RELAY_PORTS (49160-49999) must not overlap VARDMOTE_JANUS_RTP_PORTS (49000-49160)",
            id="janus-ports-overlap-relay",
        ),
        pytest.param(
            {"VARDMOTE_TURN_PORT": "49500"},
            "VARDMOTE_TURN_PORT (49500) must lie outside VARDMOTE_TURN_RELAY_PORTS (49160-49999)",
            id="port-in-relay-range",
        ),
        pytest.param(
            {"VARDMOTE_TURN_TLS_PORT": "20443"},
            "VARDMOTE_TURN_TLS_PORT (20443) must lie outside VARDMOTE_JANUS_RTP_PORTS (20000-20999)",
            id="tls-port-in-janus-range",
        ),
        pytest.param(
            {"VARDMOTE_TURN_CREDENTIAL_SECONDS": "30"},
            "VARDMOTE_TURN_CREDENTIAL_SECONDS must be at least 60, got 30",
            id="credential-seconds-too-short",
        ),
        pytest.param(
            {"VARDMOTE_JANUS_NAT_1_1": "vardmote.region.example.se"},
            "VARDMOTE_JANUS_NAT_1_1 must hold IP addresses separated by spaces, "
            "got 'vardmote.region.example.se'",
            id="nat-a-name",
        ),
        pytest.param(
            {"VARDMOTE_JANUS_ICE_TCP": "kanske"},
            "VARDMOTE_JANUS_ICE_TCP must be true or false, got 'kanske'",
            id="ice-tcp-kanske",
        ),
    ],
)
def test_a_malformed_relay_or_janus_network_value_is_refused_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "secret",
    [
        "hemlig#del-efter-brädgården",
        "hemlig del med mellanslag",
        "hemlig\tdel-med-tabb",
        "hemlig\x7fdel-med-DEL",
    ],
    ids=["hash", "space", "tab", "del"],
)
def test_a_relay_secret_coturn_would_cut_short_is_refused_without_showing_it(secret: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"VARDMOTE_TURN_SECRET": secret})
    assert str(caught.value) == (
        "VARDMOTE_TURN_SECRET may not hold '#', spaces, line breaks or other control characters"
    )
    assert "hemlig" not in str(caught.value)


def test_a_secret_file_with_a_line_break_inside_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "turn_secret"
    path.write_text("första-raden-av-hemligheten\nandra-raden\n")
    with pytest.raises(SettingsError, match="may not hold '#', spaces, line breaks"):
        load_settings({"VARDMOTE_TURN_SECRET_FILE": str(path)})


def test_ports_are_checked_only_against_what_runs_on_this_machine() -> None:
    overlapping = {"VARDMOTE_TURN_RELAY_PORTS": "20000-20999"}
    assert load_settings({**overlapping, "VARDMOTE_TURN": "off"}).turn_relay_ports == (20000, 20999)
    assert load_settings({**overlapping, "VARDMOTE_MEDIA": "false"}).turn == "embedded"
    external_janus = {
        "VARDMOTE_JANUS_URLS": "ws://10.1.2.3:8188",
        "VARDMOTE_JANUS_API_SECRET": "api-hemlighet",
        "VARDMOTE_JANUS_ADMIN_KEY": "admin-nyckel",
    }
    assert load_settings({**overlapping, **external_janus}).turn_relay_ports == (20000, 20999)


def test_an_unspecified_or_multicast_ice_address_is_never_the_relays_address_or_peer() -> None:
    settings = load_settings(
        {"VARDMOTE_JANUS_ICE_INTERFACES": "0.0.0.0,224.0.0.5,255.255.255.255,10.20.30.40"}
    )
    assert settings.janus_ice_addresses == ("10.20.30.40",)
    assert settings.effective_turn_address == "10.20.30.40"
    assert settings.effective_turn_allowed_peers == ("10.20.30.40",)
    alone = load_settings({"VARDMOTE_JANUS_ICE_INTERFACES": "0.0.0.0"})
    assert (alone.effective_turn_address, alone.effective_turn_allowed_peers) == ("127.0.0.1", ("127.0.0.1",))


def test_the_relay_is_embedded_by_default_on_the_janus_ice_address() -> None:
    settings = load_settings({"VARDMOTE_JANUS_ICE_INTERFACES": "eth0,10.20.30.40"})
    assert settings.turn == "embedded"
    assert (settings.turn_port, settings.turn_tls_port, settings.turn_relay_ports) == (
        3478,
        5349,
        (49160, 49999),
    )
    assert settings.turn_credential_seconds == 3600
    assert settings.turn_binary == "turnserver"
    assert settings.effective_turn_address == "10.20.30.40"
    assert settings.effective_turn_allowed_peers == ("10.20.30.40",)
    assert (settings.janus_nat_1_1, settings.janus_ice_tcp) == ((), False)


def test_without_an_ipv4_ice_address_the_relay_is_on_loopback() -> None:
    for interfaces in ("", "eth0", "192.168."):
        settings = load_settings({"VARDMOTE_JANUS_ICE_INTERFACES": interfaces})
        assert settings.effective_turn_address == "127.0.0.1", interfaces
        assert settings.effective_turn_allowed_peers == ("127.0.0.1",), interfaces


def test_every_relay_and_janus_network_variable_is_read(tmp_path: Path) -> None:
    cert, key = tmp_path / "turn.pem", tmp_path / "turn.key"
    cert.write_text("cert")
    key.write_text("key")
    secret_file = tmp_path / "turn_secret"
    secret_file.write_text(TURN_SECRET + "\n")
    settings = load_settings(
        {
            "VARDMOTE_TURN": "External",
            "VARDMOTE_TURN_URLS": "turn:turn.region.example.se:3478?transport=udp "
            "turns:turn.region.example.se:443?transport=tcp turn:[2001:db8::7]:3478",
            "VARDMOTE_TURN_SECRET_FILE": str(secret_file),
            "VARDMOTE_TURN_ADDRESS": "192.0.2.10",
            "VARDMOTE_TURN_PORT": "3479",
            "VARDMOTE_TURN_TLS_PORT": "0",
            "VARDMOTE_TURN_RELAY_PORTS": "40000-40999",
            "VARDMOTE_TURN_TLS_CERT": str(cert),
            "VARDMOTE_TURN_TLS_KEY": str(key),
            "VARDMOTE_TURN_ALLOWED_PEERS": "10.1.2.3, 10.1.2.4 2001:db8::9",
            "VARDMOTE_TURN_CREDENTIAL_SECONDS": "7200",
            "VARDMOTE_TURN_BINARY": "/opt/coturn/bin/turnserver",
            "VARDMOTE_JANUS_NAT_1_1": "198.51.100.20 2001:db8::20",
            "VARDMOTE_JANUS_ICE_TCP": "ja",
        }
    )
    assert settings.turn == "external"
    assert settings.turn_urls == (
        "turn:turn.region.example.se:3478?transport=udp",
        "turns:turn.region.example.se:443?transport=tcp",
        "turn:[2001:db8::7]:3478",
    )
    assert settings.turn_secret.reveal() == TURN_SECRET
    assert "hemlighet" not in repr(settings)
    assert settings.effective_turn_address == "192.0.2.10"
    assert (settings.turn_port, settings.turn_tls_port, settings.turn_relay_ports) == (
        3479,
        0,
        (40000, 40999),
    )
    assert (settings.turn_tls_cert, settings.turn_tls_key) == (cert, key)
    assert settings.effective_turn_allowed_peers == ("10.1.2.3", "10.1.2.4", "2001:db8::9")
    assert settings.turn_credential_seconds == 7200
    assert settings.turn_binary == "/opt/coturn/bin/turnserver"
    assert settings.janus_nat_1_1 == ("198.51.100.20", "2001:db8::20")
    assert settings.janus_ice_tcp is True


def test_the_relay_can_be_turned_off() -> None:
    assert load_settings({"VARDMOTE_TURN": "off"}).turn == "off"
