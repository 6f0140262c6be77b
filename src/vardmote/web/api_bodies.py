"""The JSON API's request and answer bodies (pydantic), shared by its routes
(:mod:`vardmote.web.api`) and the week view (:mod:`vardmote.web.week`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

_Text = Annotated[str, Field(max_length=4000)]


class Problem(BaseModel):
    """Problem is an RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


class Input(BaseModel):
    """Input is the base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class SignIn(Input):
    username: Annotated[str, Field(max_length=200)]
    password: Annotated[str, Field(max_length=1000)]


class UserOut(BaseModel):
    username: str
    display_name: str
    role: str


class SessionOut(BaseModel):
    token: str
    """Send as ``Authorization: Bearer <token>``."""
    csrf_token: str
    """Needed in ``X-CSRF-Token`` only when signed in by cookie."""
    expires_at: dt.datetime
    user: UserOut


class RecurrenceIn(Input):
    frequency: Annotated[str, Field(max_length=20, description="daily or weekly")]
    until: Annotated[str | None, Field(max_length=20, description="last day, YYYY-MM-DD")] = None
    count: int | None = None


class MeetingIn(Input):
    title: _Text
    start: Annotated[str, Field(max_length=40, examples=["2026-12-01T09:00"])]
    end: Annotated[str, Field(max_length=40, examples=["2026-12-01T09:30"])]
    required: Annotated[list[_Text], Field(max_length=200)] = []
    optional: Annotated[list[_Text], Field(max_length=200)] = []
    type_key: Annotated[str | None, Field(max_length=100)] = None
    recurrence: RecurrenceIn | None = None


class MeetingChange(Input):
    title: _Text
    start: Annotated[str, Field(max_length=40)]
    end: Annotated[str, Field(max_length=40)]
    required: Annotated[list[_Text], Field(max_length=200)] = []
    optional: Annotated[list[_Text], Field(max_length=200)] = []


class TypeChoice(Input):
    type_key: Annotated[str, Field(max_length=100)]


class LimitChange(Input):
    participant_limit: int


class ParticipantOut(BaseModel):
    address: str
    required: bool


class LinkOut(BaseModel):
    id: int
    kind: str
    recipient: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    active: bool
    url: str | None


class MeetingOut(BaseModel):
    id: str
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    starts_local: str
    ends_local: str
    type_key: str | None
    type_label: str | None
    location: str
    series_id: int | None
    cancelled: bool
    sequence: int
    participants: list[ParticipantOut]
    page_url: str
    host_url: str
    guest_url: str | None


class MeetingTypeOut(BaseModel):
    key: str
    label: str
    description: list[str]
    participant_limit: int | None
    limit_text: str | None
    limit_configurable: bool
    lobby_rule: str
    who_may_join: str
    has_guest_link: bool
    anonymous: bool
    content_sharing: str
    booked_from: str


class FeedOut(BaseModel):
    url: str | None


class AuditVerdictOut(BaseModel):
    intact: bool
    entries: int
    first_bad_id: int | None
    message: str
