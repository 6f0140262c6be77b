"""Events: the domain event bus delivers in the transaction and after it commits, and events
travel as JSON."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vardmote.audit.log import record
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.errors import InvalidInput
from vardmote.invitations.events import HostAccountClosed, HostingWithdrawn, MailQueued
from vardmote.lib.events import DomainEvent, EventBus, UnknownEvent, from_json, registered, to_json
from vardmote.meetings.events import (
    LinkRevoked,
    MeetingCancelled,
    MeetingChanged,
    MeetingTypeChosen,
    MeetingTypeRemoved,
)

MEETING = "3f2b8c1e-0000-4000-8000-000000000001"
CANCELLED = MeetingCancelled(MEETING, "user:kliniker")
EXAMPLES: list[DomainEvent] = [
    MeetingChanged(MEETING, "user:kliniker"),
    MeetingTypeChosen(MEETING, "user:kliniker", None, "vardmote_patient"),
    MeetingTypeChosen(MEETING, "user:kliniker", "vardmote_patient", "internt"),
    MeetingTypeRemoved(MEETING, "user:kliniker"),
    CANCELLED,
    LinkRevoked(MEETING, 12, "user:kliniker"),
    HostingWithdrawn(MEETING, "bertil", "user:kliniker"),
    HostAccountClosed(MEETING, "bertil", "system:accounts"),
    MailQueued(MEETING),
]


def _saved(ctx: Context, action: str) -> int:
    with ctx.db.session() as s:
        return int(s.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == action)) or 0)


def _publish_in_a_failing_transaction(ctx: Context, bus: EventBus[Context], event: DomainEvent) -> None:
    with ctx.db.session() as s:
        bus.publish(s, event)
        raise RuntimeError("the change failed")


def _publish_in_a_failing_savepoint(s: Session, bus: EventBus[Context], event: DomainEvent) -> None:
    with s.begin_nested():
        bus.publish(s, event)
        raise RuntimeError("the change failed")


def _record_and_publish(ctx: Context, bus: EventBus[Context], action: str, event: DomainEvent) -> None:
    with ctx.db.session() as s:
        record(s, "user:kliniker", action)
        bus.publish(s, event)


def test_it_delivers_to_after_commit_subscribers_only_once_the_transaction_commits(ctx: Context) -> None:
    bus = EventBus(ctx)
    got: list[DomainEvent] = []
    bus.subscribe(MeetingCancelled, got.append)
    with ctx.db.session() as s:
        bus.publish(s, CANCELLED)
        record(s, "user:kliniker", "test.cancelled")
        s.flush()
        assert got == []
    assert got == [CANCELLED]


def test_it_delivers_nothing_when_the_transaction_rolls_back(ctx: Context) -> None:
    bus = EventBus(ctx)
    got: list[DomainEvent] = []
    bus.subscribe(MeetingCancelled, got.append)
    with pytest.raises(RuntimeError, match="the change failed"):
        _publish_in_a_failing_transaction(ctx, bus, CANCELLED)
    assert got == []


def test_a_rolled_back_event_is_not_delivered_by_the_next_commit_of_the_same_session(ctx: Context) -> None:
    bus = EventBus(ctx)
    got: list[DomainEvent] = []
    bus.subscribe(MeetingCancelled, got.append)
    bus.subscribe(MeetingChanged, got.append)
    changed = MeetingChanged(MEETING, "user:kliniker")
    with Session(ctx.db.engine) as s:
        bus.publish(s, CANCELLED)
        s.rollback()
        bus.publish(s, changed)
        s.commit()
    assert got == [changed]


def test_it_drops_the_events_of_a_savepoint_that_rolls_back(ctx: Context) -> None:
    bus = EventBus(ctx)
    got: list[DomainEvent] = []
    bus.subscribe(MeetingCancelled, got.append)
    bus.subscribe(MeetingChanged, got.append)
    changed = MeetingChanged(MEETING, "user:kliniker")
    with ctx.db.session() as s:
        record(s, "user:kliniker", "test.savepoint")
        bus.publish(s, changed)
        with pytest.raises(RuntimeError, match="the change failed"):
            _publish_in_a_failing_savepoint(s, bus, CANCELLED)
        with s.begin_nested():
            bus.publish(s, CANCELLED)
        assert got == [], "a released savepoint is not a commit"
    assert got == [changed, CANCELLED]


def test_in_transaction_handlers_get_the_context_and_session_and_write_with_the_change(ctx: Context) -> None:
    bus = EventBus(ctx)
    seen: list[tuple[Context, DomainEvent]] = []

    def handler(context: Context, s: Session, event: MeetingCancelled) -> None:
        seen.append((context, event))
        record(s, event.actor, "test.handled", event.meeting_id)

    bus.handle(MeetingCancelled, handler)
    with ctx.db.session() as s:
        bus.publish(s, CANCELLED)
        assert seen == [(ctx, CANCELLED)], "called at publish, not at commit"
    assert _saved(ctx, "test.handled") == 1


def test_an_in_transaction_refusal_rolls_the_change_back_and_delivers_nothing(ctx: Context) -> None:
    bus = EventBus(ctx)
    got: list[DomainEvent] = []

    def refuse(context: Context, s: Session, event: MeetingCancelled) -> None:
        raise InvalidInput.one("title", "Inga personuppgifter får förekomma i mötesinbjudan")

    bus.handle(MeetingCancelled, refuse)
    bus.subscribe(MeetingCancelled, got.append)
    with pytest.raises(InvalidInput):
        _record_and_publish(ctx, bus, "test.refused", CANCELLED)
    assert _saved(ctx, "test.refused") == 0
    assert got == []


def test_a_failing_after_commit_subscriber_is_logged_and_the_others_still_get_the_event(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus(ctx)
    got: list[DomainEvent] = []

    def broken(event: MeetingCancelled) -> None:
        raise RuntimeError("the live room is gone")

    bus.subscribe(MeetingCancelled, broken)
    bus.subscribe(MeetingCancelled, got.append)
    with caplog.at_level(logging.ERROR, logger="vardmote.events"), ctx.db.session() as s:
        record(s, "user:kliniker", "test.kept")
        bus.publish(s, CANCELLED)
    assert got == [CANCELLED]
    assert _saved(ctx, "test.kept") == 1
    assert "meeting.cancelled" in caplog.text


def test_it_delivers_an_event_only_to_the_subscribers_of_its_type(ctx: Context) -> None:
    bus = EventBus(ctx)
    got: list[DomainEvent] = []
    bus.subscribe(MeetingChanged, got.append)
    with ctx.db.session() as s:
        bus.publish(s, CANCELLED)
    assert got == []


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_type_survives_a_json_round_trip(event: DomainEvent) -> None:
    text = to_json(event)
    assert json.loads(text)["event"] == event.name
    assert from_json(text) == event


def test_every_registered_event_type_has_an_example_above() -> None:
    assert set(registered().values()) == {type(e) for e in EXAMPLES}


def test_it_refuses_an_unknown_event_name_with_a_clear_error() -> None:
    with pytest.raises(UnknownEvent, match=r"unknown event name 'meeting\.exploded'.*meeting\.cancelled"):
        from_json('{"event": "meeting.exploded", "data": {}}')


def test_it_refuses_data_that_does_not_fit_the_event_type() -> None:
    with pytest.raises(UnknownEvent, match=r"'meeting\.cancelled' must have exactly the fields"):
        from_json('{"event": "meeting.cancelled", "data": {"meeting_id": "x"}}')
    with pytest.raises(UnknownEvent, match="not an event"):
        from_json("[1, 2]")
