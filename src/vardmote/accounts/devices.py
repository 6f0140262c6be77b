"""Room devices: a clinic's registered room computers (Vårdrum), added, revoked and resolved.

A device's token is 256 random bits (:mod:`vardmote.lib.tokens`), shown once
when the device is added and kept only as its SHA-256 hash: unlike a guest
link, nobody needs to see it again, and a lost token is replaced by revoking
the device and adding it anew. A device's name is what the meeting shows, so
two active devices never share one; a revoked device's name is free again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vardmote.accounts.models import Clinic, RoomDevice
from vardmote.audit.log import record
from vardmote.db import utcnow
from vardmote.errors import Conflict, Forbidden, InvalidInput, NotFound
from vardmote.lib.text import has_control_characters
from vardmote.lib.tokens import hash_token, looks_like_token, new_token

MAX_NAME = 60
NAME_HELP = f"Ange enhetens namn med 1–{MAX_NAME} tecken, t.ex. 'Vårdrum 3, Allergimottagning'."
DEVICE_NOT_FOUND = (
    "Rumsenheten är inte registrerad. Kontrollera enhetens nyckel eller kontakta förvaltningen."
)
DEVICE_REVOKED = "Rumsenheten är avregistrerad och kan inte ansluta. Kontakta förvaltningen."


def _clean_name(name: str) -> str:
    label = " ".join(name.split())
    if not label or len(label) > MAX_NAME or has_control_characters(name):
        raise InvalidInput.one("name", NAME_HELP)
    return label


def add_device(
    s: Session, name: str, clinic_name: str | None = None, *, actor: str = "system"
) -> tuple[RoomDevice, str]:
    """add_device registers a room device and returns it with its token (shown once, never kept)."""
    label = _clean_name(name)
    clinic = None
    if clinic_name is not None:
        found = list(s.scalars(select(Clinic).where(Clinic.name == clinic_name.strip())))
        if len(found) != 1:
            raise InvalidInput.one("clinic", f"Det finns ingen mottagning som heter {clinic_name!r}.")
        clinic = found[0]
    taken = select(RoomDevice.id).where(RoomDevice.name == label, RoomDevice.active)
    if s.scalar(taken) is not None:
        raise Conflict(f"Det finns redan en aktiv rumsenhet som heter {label!r}.")
    token = new_token()
    device = RoomDevice(
        name=label,
        clinic_id=clinic.id if clinic else None,
        token_hash=hash_token(token),
        active=True,
        created_at=utcnow(),
    )
    s.add(device)
    s.flush()
    record(s, actor, "device.added", details={"device": device.id, "name": label, "clinic": device.clinic_id})
    return device, token


def revoke_device(s: Session, name: str, *, actor: str = "system") -> RoomDevice:
    """revoke_device deactivates the active device of that name: its token stops working at once."""
    label = " ".join(name.split())
    device = s.scalar(select(RoomDevice).where(RoomDevice.name == label, RoomDevice.active))
    if device is None:
        raise InvalidInput.one("name", f"Det finns ingen aktiv rumsenhet som heter {label!r}.")
    device.active = False
    record(s, actor, "device.revoked", details={"device": device.id, "name": device.name})
    return device


def resolve_device(s: Session, token: str) -> RoomDevice:
    """resolve_device returns the active device whose token this is.

    Raises NotFound for a token that matches no device, Forbidden for a revoked one.
    """
    found = looks_like_token(token)
    device = s.scalar(select(RoomDevice).where(RoomDevice.token_hash == hash_token(token))) if found else None
    if device is None:
        raise NotFound(DEVICE_NOT_FOUND)
    if not device.active:
        raise Forbidden(DEVICE_REVOKED)
    return device
