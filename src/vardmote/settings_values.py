"""Settings values: reading one environment variable strictly.

The readers here know nothing of Vårdmöte's own settings: each takes the
environment and a variable's name without its ``VARDMOTE_`` prefix, returns the
value or the default when the variable is unset (an empty variable counts as
unset) and raises :class:`SettingsError` naming the variable and what was given
when the value is malformed. ``vardmote.settings`` puts them together into
``Settings`` and checks the settings that depend on each other.

Secrets are read as plain strings (``read_secret``, with its ``*_FILE``
variant); ``vardmote.settings`` wraps them in ``Secret``. Messages about a
secret never echo its value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
"""Network is an IP network (or one address as a /32 or /128) read from a setting."""

_TRUE = {"1", "true", "yes", "on", "ja"}
_FALSE = {"0", "false", "no", "off", "nej", ""}
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_Default = TypeVar("_Default", Path, Path | None)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def read(env: Mapping[str, str], name: str) -> str | None:
    """read returns VARDMOTE_<name> as given, or None when it is unset or empty."""
    # An empty variable counts as unset, as shells and service files often leave them.
    value = env.get(f"VARDMOTE_{name}")
    return value if value else None


def read_secret(env: Mapping[str, str], name: str, at_least: int = 0) -> str | None:
    """read_secret returns the secret VARDMOTE_<name>, or the stripped content of the file named
    by VARDMOTE_<name>_FILE (never both); a secret given shorter than at_least bytes is refused.

    The file variant keeps secrets out of the environment, where every child process and
    ``/proc`` can see them; an empty or unreadable file stops the start rather than leaving
    the secret silently unset."""
    direct = read(env, name)
    path = read(env, f"{name}_FILE")
    if direct is not None and path is not None:
        raise SettingsError(f"VARDMOTE_{name} and VARDMOTE_{name}_FILE are both set; give one")
    value = direct
    if path is not None:
        try:
            value = Path(path).read_text().strip()
        except OSError as e:
            raise SettingsError(f"VARDMOTE_{name}_FILE={path!r} cannot be read: {e}") from e
        if not value:
            raise SettingsError(f"VARDMOTE_{name}_FILE={path!r} is empty")
    if value and len(value.encode()) < at_least:
        raise SettingsError(f"VARDMOTE_{name} must be at least {at_least} bytes long")
    return value


def read_int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int = 10**9) -> int:
    """read_int reads a whole number from minimum to maximum."""
    raw = read(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"VARDMOTE_{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"VARDMOTE_{name} must be at least {minimum}, got {value}")
    if value > maximum:
        raise SettingsError(f"VARDMOTE_{name} must be at most {maximum}, got {value}")
    return value


def read_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """read_bool reads true (1, true, yes, on, ja) or false (0, false, no, off, nej), any case."""
    raw = read(env, name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"VARDMOTE_{name} must be true or false, got {raw!r}")


def read_port_range(env: Mapping[str, str], name: str, default: tuple[int, int]) -> tuple[int, int]:
    """read_port_range reads ``low-high``, unprivileged ports with low below high."""
    raw = read(env, name)
    if raw is None:
        return default
    low, _, high = raw.partition("-")
    if not (low.isdigit() and high.isdigit() and 1024 <= int(low) < int(high) <= 65535):
        raise SettingsError(
            f"VARDMOTE_{name} must be a range like 20000-20999 within 1024-65535, got {raw!r}"
        )
    return int(low), int(high)


def read_path(env: Mapping[str, str], name: str, default: _Default) -> Path | _Default:
    """read_path reads the path of a file or folder; one that does not exist is not an error here:
    each user of a setting decides (a folder is made, or a feature is turned off with a warning)."""
    raw = read(env, name)
    return Path(raw) if raw is not None else default


def read_time_zone(env: Mapping[str, str], name: str, default: str) -> str:
    """read_time_zone reads the name of a time zone the system's tz database knows."""
    timezone = read(env, name) or default
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except Exception:
        raise SettingsError(f"VARDMOTE_{name} is not a known time zone: {timezone!r}") from None
    return timezone


def read_email_address(env: Mapping[str, str], name: str) -> str:
    """read_email_address reads an e-mail address: an ``@`` and no spaces (empty when unset)."""
    value = read(env, name) or ""
    if value and ("@" not in value or any(c.isspace() for c in value)):
        raise SettingsError(f"VARDMOTE_{name} must be an e-mail address, got {value!r}")
    return value


def read_scopes(env: Mapping[str, str], name: str, default: str) -> str:
    """read_scopes reads a space-separated list of OAuth scopes, with ``openid`` put first if missing."""
    raw = read(env, name)
    if raw is None:
        return default
    scopes = raw.split()
    if any(not s.isprintable() or '"' in s or "\\" in s for s in scopes):
        raise SettingsError(f"VARDMOTE_{name} must be scopes separated by spaces, got {raw!r}")
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    return " ".join(dict.fromkeys(scopes))


def read_file_pair(env: Mapping[str, str], first: str, second: str) -> tuple[Path | None, Path | None]:
    """read_file_pair reads two paths that belong together (a certificate and its key): both or
    neither, each an existing file."""
    one, other = read(env, first), read(env, second)
    if (one is None) != (other is None):
        raise SettingsError(f"VARDMOTE_{first} and VARDMOTE_{second} must be given together")
    for name, value in ((first, one), (second, other)):
        if value is not None and not Path(value).is_file():
            raise SettingsError(f"VARDMOTE_{name}={value!r} is not a file")
    return (Path(one) if one else None), (Path(other) if other else None)


def is_one_host(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """is_one_host tells whether address names one host: not the unspecified address (0.0.0.0, ::),
    multicast or the broadcast address. coturn reads an unspecified address in
    ``allowed-peer-ip`` as every address there is."""
    return not (address.is_unspecified or address.is_multicast or address == _BROADCAST)


def _one_host(name: str, item: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if not is_one_host(address):
        raise SettingsError(
            f"VARDMOTE_{name} must name one host, not an unspecified, multicast or broadcast address, "
            f"got {item!r}"
        )
    return str(address)


def read_ipv4(env: Mapping[str, str], name: str) -> str:
    """read_ipv4 reads one IPv4 address of one host (empty when unset)."""
    raw = read(env, name)
    if raw is None:
        return ""
    try:
        address = ipaddress.IPv4Address(raw.strip())
    except ValueError:
        raise SettingsError(f"VARDMOTE_{name} must be an IPv4 address like 192.0.2.10, got {raw!r}") from None
    return _one_host(name, raw, address)


def read_addresses(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """read_addresses reads IP addresses of hosts separated by spaces or commas."""
    raw = read(env, name)
    if raw is None:
        return ()
    found: list[str] = []
    for item in raw.replace(",", " ").split():
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            raise SettingsError(
                f"VARDMOTE_{name} must hold IP addresses separated by spaces, got {item!r}"
            ) from None
        found.append(_one_host(name, item, address))
    return tuple(found)


def read_networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    """read_networks reads addresses or networks (CIDR), separated by spaces or commas."""
    raw = read(env, name)
    if raw is None:
        return ()
    networks: list[Network] = []
    for item in raw.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(
                f"VARDMOTE_{name} must hold IP addresses or networks like 10.0.0.0/8, got {item!r}"
            ) from None
    return tuple(networks)


def check_turn_url(url: str, variable: str) -> None:
    """check_turn_url raises SettingsError, naming variable, unless url is a TURN URL browsers
    take: ``turn:`` or ``turns:``, a host (name, IPv4 or [IPv6]), an optional port and an optional
    ``?transport=udp|tcp`` (``turns:`` only over TCP), nothing else."""
    scheme, colon, rest = url.partition(":")
    if not colon or scheme not in ("turn", "turns"):
        raise SettingsError(f"{variable} must hold turn: or turns: URLs, got {url!r}")
    where, question, query = rest.partition("?")
    if question:
        key, equals, transport = query.partition("=")
        if key != "transport" or not equals or transport not in ("udp", "tcp"):
            raise SettingsError(
                f"{variable}: only ?transport=udp or ?transport=tcp may follow the port, got {url!r}"
            )
        if scheme == "turns" and transport == "udp":
            raise SettingsError(f"{variable}: turns: (TLS) works over TCP only, got {url!r}")
    if where.startswith("["):
        host, bracket, port = where[1:].partition("]")
        if not bracket:
            raise SettingsError(f"{variable}: an IPv6 address needs its closing ], got {url!r}")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SettingsError(f"{variable}: {host!r} is not an IPv6 address, in {url!r}") from None
        if port and not port.startswith(":"):
            raise SettingsError(f"{variable}: a port follows the address after a colon, got {url!r}")
        port = port[1:] if port else ""
    else:
        host, _, port = where.partition(":")
        labels = host.split(".")
        if not host or any(
            not label or len(label) > 63 or not all(c.isalnum() or c == "-" for c in label)
            for label in labels
        ):
            raise SettingsError(f"{variable}: a host name or address must follow {scheme}:, got {url!r}")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise SettingsError(f"{variable}: the port must be 1-65535, got {url!r}")
    if where.endswith(":"):
        raise SettingsError(f"{variable}: the port is missing after the colon, got {url!r}")


def check_ports_apart(
    ranges: Sequence[tuple[str, tuple[int, int]]], ports: Sequence[tuple[str, int]]
) -> None:
    """check_ports_apart refuses port ranges (name, (low, high)) that meet one another and single
    ports (name, port; 0 is no port) inside any of the ranges, each error naming both variables:
    the processes that bind them on one machine would fail now and then, depending on which
    port the other took first."""
    for index, (name, (low, high)) in enumerate(ranges):
        for other, (other_low, other_high) in ranges[index + 1 :]:
            if low <= other_high and other_low <= high:
                raise SettingsError(
                    f"VARDMOTE_{name} ({low}-{high}) must not overlap "
                    f"VARDMOTE_{other} ({other_low}-{other_high})"
                )
    for name, port in ports:
        for other, (low, high) in ranges:
            if port and low <= port <= high:
                raise SettingsError(
                    f"VARDMOTE_{name} ({port}) must lie outside VARDMOTE_{other} ({low}-{high})"
                )
