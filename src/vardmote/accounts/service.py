"""Accounts service: staff accounts, sign-in with throttling, and sessions.

Sign-in gives one message for an unknown user and a wrong password, so the
page reveals nothing about which accounts exist. Failed attempts are counted
per account name and per address; past ``signin_max_failures`` each further
attempt must wait, doubling up to :data:`MAX_BLOCK_SECONDS`. A success clears
the account's counter (not the address's: one address trying many accounts
stays slowed down). A streak of failures is forgotten after
:data:`FAILURE_MEMORY` without another failure.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vardmote.accounts import throttle
from vardmote.accounts.hsa_id import normal_hsa_id
from vardmote.accounts.models import Role, SigninMethod, SigninThrottle, StaffSession, User
from vardmote.accounts.passwords import MIN_LENGTH, hash_password, verify_password
from vardmote.audit.log import record
from vardmote.context import Context
from vardmote.db import Base, UtcDateTime, utcnow
from vardmote.errors import Conflict, FieldError, InvalidInput, NotSignedIn
from vardmote.lib.text import without_control_characters
from vardmote.lib.tokens import hash_token, looks_like_token, new_token

log = logging.getLogger("vardmote.accounts")

WRONG_CREDENTIALS = "Fel användarnamn eller lösenord."
SIGN_IN_FIRST = "Du behöver logga in."
MAX_BLOCK_SECONDS = throttle.MAX_BLOCK_SECONDS
FAILURE_MEMORY = throttle.FAILURE_MEMORY
_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
_SESSION_REFRESH = dt.timedelta(minutes=1)


def add_user(
    ctx: Context,
    s: Session,
    username: str,
    display_name: str,
    password: str,
    role: str = Role.CLINICIAN.value,
    *,
    is_demo: bool = False,
    clinic_id: int | None = None,
    hsa_id: str | None = None,
    actor: str = "system",
) -> User:
    """add_user creates a staff account after checking every field; with hsa_id it is the account
    the person's sign-in with the region's identity provider finds (accounts.staff_oidc)."""
    errors: list[FieldError] = []
    hsa = normal_hsa_id(hsa_id) if hsa_id is not None else None
    if hsa_id is not None and hsa is None:
        errors.append(_invalid_hsa_id(hsa_id))
    if not _USERNAME.match(username):
        errors.append(
            FieldError(
                "username",
                "Användarnamnet ska vara 2–64 tecken: små bokstäver "
                "a–z, siffror, punkt, bindestreck eller understreck, och börja "
                "med en bokstav.",
            )
        )
    if not display_name.strip() or len(display_name) > 200:
        errors.append(FieldError("display_name", "Ange ett namn på högst 200 tecken."))
    if len(password) < MIN_LENGTH and not is_demo:
        errors.append(FieldError("password", f"Lösenordet ska vara minst {MIN_LENGTH} tecken."))
    if role not in {r.value for r in Role}:
        errors.append(FieldError("role", f"Okänd roll {role!r}; välj clinician eller admin."))
    if errors:
        raise InvalidInput(errors)
    if s.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"Det finns redan ett konto med användarnamnet {username}.")
    if hsa is not None and s.scalar(select(User.id).where(User.hsa_id == hsa)) is not None:
        raise Conflict(f"Det finns redan ett konto med HSA-id {hsa}.")
    user = User(
        username=username,
        display_name=display_name.strip(),
        role=role,
        password_hash=hash_password(password),
        is_demo=is_demo,
        clinic_id=clinic_id,
        hsa_id=hsa,
    )
    s.add(user)
    s.flush()
    details = {"username": username, "role": role} | ({"hsa_id": hsa} if hsa else {})
    record(s, actor, "user.added", details=details)
    return user


def _invalid_hsa_id(given: str) -> FieldError:
    return FieldError(
        "hsa_id",
        "HSA-id ska vara SE, organisationsnumret (10 siffror, eller 12 med 16 först), "
        "bindestreck och bokstäver eller siffror, högst "
        f"31 tecken (t.ex. SE2321000016-1003); fick {given[:40]!r}.",
    )


def set_hsa_id(s: Session, username: str, hsa_id: str | None, *, actor: str = "system") -> User:
    """set_hsa_id gives an existing account the person's HSA-id (upper-cased, checked), or with
    None takes it away, and audits it (``user.hsa_id_set``).

    Why: the sign-in with the region's identity provider finds an account by HSA-id alone
    (accounts.staff_oidc); an account made before that sign-in was switched on has none, and
    the person's first sign-in would make a second, empty account beside it. An HSA-id is
    unique: one that another account has is refused (Conflict), naming that account, so that
    an administrator who means it takes it away there first. Giving the account the HSA-id it
    already has changes nothing."""
    hsa = normal_hsa_id(hsa_id) if hsa_id is not None else None
    if hsa_id is not None and hsa is None:
        raise InvalidInput([_invalid_hsa_id(hsa_id)])
    user = _account(s, username)
    if user.hsa_id == hsa:
        return user
    if hsa is not None:
        other = s.scalar(select(User.username).where(User.hsa_id == hsa))
        if other is not None:
            raise Conflict(_hsa_id_taken(hsa, other))
    previous, user.hsa_id = user.hsa_id, hsa
    try:
        with s.begin_nested():
            s.flush()
    except IntegrityError:  # given to another account at the same moment
        raise Conflict(_hsa_id_taken(hsa or "", None)) from None
    record(
        s, actor, "user.hsa_id_set", details={"username": user.username, "hsa_id": hsa, "previous": previous}
    )
    return user


def _hsa_id_taken(hsa: str, other: str | None) -> str:
    if other is None:
        return f"Ett annat konto har redan HSA-id {hsa}."
    return (
        f"Kontot {other} har redan HSA-id {hsa}. Ta bort det där först om det är fel: "
        f"vardmote user set-hsa-id {other} --clear"
    )


def deactivate_user(s: Session, username: str, *, actor: str = "system") -> User:
    """deactivate_user closes a staff account: it is signed out everywhere at once (its
    sessions are deleted) and can sign in no more; nothing it booked is changed. The live
    meetings it is in let it go within seconds (web/live_booking.py's account watch).
    Deactivating an account that is not active changes nothing."""
    user = _account(s, username)
    if user.active:
        user.active = False
        s.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
        record(s, actor, "user.deactivated", details={"username": user.username})
    return user


def activate_user(s: Session, username: str, *, actor: str = "system") -> User:
    """activate_user opens a deactivated staff account again: it may sign in as before."""
    user = _account(s, username)
    if not user.active:
        user.active = True
        record(s, actor, "user.activated", details={"username": user.username})
    return user


def _account(s: Session, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise InvalidInput.one("username", f"Det finns inget konto med användarnamnet {username!r}.")
    return user


def closed_accounts(ctx: Context, s: Session, usernames: set[str]) -> set[str]:
    """closed_accounts are those of usernames whose account may not be used now: deactivated,
    gone, or a demo account outside demo mode (as for signing in)."""
    usable = s.scalars(
        select(User.username).where(
            User.username.in_(usernames), User.active, *(() if ctx.settings.demo else (~User.is_demo,))
        )
    )
    return usernames - set(usable)


def _account_name(username: str) -> str:
    # The one normal form of a typed name, for the lookup and the throttle alike.
    return without_control_characters(username).strip().lower()


def check_not_throttled(ctx: Context, s: Session, username: str, address: str) -> None:
    """check_not_throttled raises TooManyAttempts while the account or address must wait."""
    now = utcnow()
    wait = max(
        throttle.wait_seconds(s, f"user:{_account_name(username)[:100]}", now),
        throttle.wait_seconds(s, f"addr:{address[:100]}", now),
    )
    if wait:
        raise throttle.too_many_attempts(wait)


def password_allowed(ctx: Context, name: str) -> bool:
    """password_allowed tells whether the account name may sign in with a password: anyone while
    local sign-in is on, only the break-glass administrator while it is off (the account must
    also be an administrator, see :func:`authenticate`)."""
    if ctx.settings.local_signin:
        return True
    glass = _account_name(ctx.settings.break_glass_admin)
    return bool(glass) and name == glass


def local_signin_off(ctx: Context) -> str:
    """local_signin_off is the refusal of a password while local sign-in is off: one answer for a
    wrong name, a wrong password and an account that may not use a password here."""
    return (
        "Fel användarnamn eller lösenord. Med lösenord loggar bara reservkontot för administratör "
        f"in; välj ”{ctx.settings.staff_oidc_label}” i stället."
    )


def _refuse(
    ctx: Context,
    s: Session,
    name: str,
    user: User | None,
    address: str,
    message: str,
    reason: str = "",
) -> NoReturn:
    """_refuse counts a failed password sign-in for the account name and the address, audits it
    and raises NotSignedIn with message."""
    now = utcnow()
    throttle.count_failure(ctx, s, f"user:{name[:100]}", now)
    throttle.count_failure(ctx, s, f"addr:{address[:100]}", now)
    details = {"account": user.username if user else "okänt konto", "address": address}
    if reason:
        details["reason"] = reason
    record(s, "anonym", "signin.failed", details=details)
    raise NotSignedIn(message)


def authenticate(ctx: Context, s: Session, username: str, password: str, address: str) -> User:
    """authenticate returns the user whose credentials these are, or raises.

    The caller commits the session even when this raises NotSignedIn, so that
    the failure is counted and audited (see :func:`sign_in`).

    While local sign-in is off (``local_signin``, off by default when staff sign in with the
    region's identity provider) only the break-glass administrator (``break_glass_admin``)
    may sign in with a password. Everyone else gets the same answer as a wrong password
    (:func:`local_signin_off`), after the same password check, so the answer does not tell
    which name is the break-glass account; it counts toward the throttle like any failure.
    The break-glass administrator's own sign-in is audited with ``break_glass`` and warned of
    in the log (without the name), so that it stands out from the everyday sign-ins.
    """
    check_not_throttled(ctx, s, username, address)
    name = _account_name(username)
    user = s.scalar(select(User).where(User.username == name)) if len(name) <= 64 else None
    ok = verify_password(user.password_hash if user else None, password)
    usable = user is not None and user.active and (ctx.settings.demo or not user.is_demo)
    if ctx.settings.local_signin:
        if not ok or not usable or user is None:
            _refuse(ctx, s, name, user, address, WRONG_CREDENTIALS)
    elif not ok or not usable or user is None or not password_allowed(ctx, name) or not user.is_admin:
        reason = "local_signin_off" if ok and usable and user is not None else ""
        _refuse(ctx, s, name, user, address, local_signin_off(ctx), reason)
    assert user is not None
    s.execute(delete(SigninThrottle).where(SigninThrottle.key == f"user:{name}"))
    details: dict[str, str | bool] = {"address": address}
    if not ctx.settings.local_signin:
        # Only the break-glass administrator gets this far: worth a look every time.
        details["break_glass"] = True
        log.warning("break-glass sign-in: the reserve administrator signed in with a password")
    record(s, f"user:{user.username}", "signin", details=details)
    return user


def start_session(
    ctx: Context, s: Session, user: User, method: SigninMethod = SigninMethod.PASSWORD
) -> tuple[str, StaffSession]:
    """start_session creates a server-side session and returns its token (shown once); method
    is how the user signed in (signing out of an OIDC session goes on to the provider)."""
    token = new_token()
    now = utcnow()
    row = StaffSession(
        token_hash=hash_token(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + dt.timedelta(hours=ctx.settings.session_hours),
        signed_in_with=method.value,
    )
    s.add(row)
    s.flush()
    return token, row


def resolve_session(ctx: Context, s: Session, token: str | None) -> StaffSession | None:
    """resolve_session returns the live session for token and extends it, or None."""
    if not token or not looks_like_token(token):
        return None
    row = s.get(StaffSession, hash_token(token))
    now = utcnow()
    if row is None or not _live(ctx, row.expires_at, row.user.active, row.user.is_demo, now):
        return None
    fresh = _extended(ctx, row.expires_at, now)
    if fresh is not None:
        row.expires_at = fresh
    return row


def _live(ctx: Context, expires_at: dt.datetime, active: bool, is_demo: bool, now: dt.datetime) -> bool:
    # A session counts until it expires, while its account is active (a demo account only in demo mode).
    return expires_at > now and active and (not is_demo or ctx.settings.demo)


def _extended(ctx: Context, expires_at: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    # The new end of a session in use, or None while the last extension is under a minute old.
    fresh = now + dt.timedelta(hours=ctx.settings.session_hours)
    return fresh if fresh - expires_at > _SESSION_REFRESH else None


_sessions = Base.metadata.tables[StaffSession.__tablename__]
_users = Base.metadata.tables[User.__tablename__]
_SESSION_USER = (
    select(
        _sessions.c.expires_at,
        _users.c.id,
        _users.c.active,
        _users.c.is_demo,
        _users.c.username,
        _users.c.display_name,
        _users.c.role,
    )
    .select_from(_sessions)
    .join(_users, _users.c.id == _sessions.c.user_id)
    .where(_sessions.c.token_hash == bindparam("token_hash"))
)
_EXTEND = (
    update(_sessions)
    .where(_sessions.c.token_hash == bindparam("session"))
    .values(expires_at=bindparam("fresh", type_=UtcDateTime()))
)


@dataclass(frozen=True, slots=True)
class SessionUser:
    """SessionUser is what the lightest routes need of a signed-in session's user."""

    id: int
    username: str
    display_name: str
    role: str


def resolve_session_user(ctx: Context, s: Session | Connection, token: str | None) -> SessionUser | None:
    """resolve_session_user is :func:`resolve_session` for a caller that needs only the
    user's id, username, display_name and role: the same checks and the same
    extension (written in s's transaction), with one plain query and no session or user
    object (the sign-in check of the week view and of /me). s may be a Core connection."""
    if not token or not looks_like_token(token):
        return None
    token_hash = hash_token(token)
    conn = s.connection() if isinstance(s, Session) else s
    row = conn.execute(_SESSION_USER, {"token_hash": token_hash}).first()
    now = utcnow()
    if row is None or not _live(ctx, row.expires_at, row.active, row.is_demo, now):
        return None
    fresh = _extended(ctx, row.expires_at, now)
    if fresh is not None:
        conn.execute(_EXTEND, {"session": token_hash, "fresh": fresh})
    return SessionUser(row.id, row.username, row.display_name, row.role)


def resolve_session_user_id(ctx: Context, s: Session, token: str | None) -> int | None:
    """resolve_session_user_id is :func:`resolve_session_user`'s user id."""
    row = resolve_session_user(ctx, s, token)
    if row is None:
        return None
    return row.id


def end_session(ctx: Context, s: Session, row: StaffSession) -> None:
    """end_session signs out: the session row is deleted."""
    record(s, f"user:{row.user.username}", "signout")
    s.delete(row)


def require_session(ctx: Context, s: Session, token: str | None) -> StaffSession:
    """require_session is resolve_session that raises NotSignedIn."""
    row = resolve_session(ctx, s, token)
    if row is None:
        raise NotSignedIn(SIGN_IN_FIRST)
    return row


def require_session_user_id(ctx: Context, s: Session, token: str | None) -> int:
    """require_session_user_id is resolve_session_user_id that raises NotSignedIn."""
    user_id = resolve_session_user_id(ctx, s, token)
    if user_id is None:
        raise NotSignedIn(SIGN_IN_FIRST)
    return user_id


def require_session_user(ctx: Context, s: Session, token: str | None) -> SessionUser:
    """require_session_user is resolve_session_user that raises NotSignedIn."""
    row = resolve_session_user(ctx, s, token)
    if row is None:
        raise NotSignedIn(SIGN_IN_FIRST)
    return row
