"""Events: the in-process domain event bus, by which a lower layer tells higher ones what happened.

A lower layer (meetings, links) publishes a *domain event*, a plain frozen dataclass such as
``MeetingCancelled(meeting_id, actor)``, inside the transaction that makes the change::

    ctx.events.publish(s, MeetingCancelled(meeting.id, actor))

The publisher knows nothing about who listens. A higher layer (invitations today, the live
rooms later) subscribes once, where the Context is built (`vardmote.wiring`), in one of two
ways:

- **in-transaction handlers** (`EventBus.handle`) are called synchronously by ``publish``, in
  the order they were added, with ``(ctx, session, event)``. They run inside the publisher's
  transaction: what they write is saved together with the change or not at all, and they may
  raise (e.g. InvalidInput) to refuse the change, which the caller then rolls back. Sending
  the invitations' updates and cancellations works this way, so that the personal-data guard
  can stop a change before it is saved.
- **after-commit subscribers** (`EventBus.subscribe`) are called with the event alone, only
  once the session's outermost transaction has committed, in the order of publishing.
  Nothing is delivered when the transaction rolls back, and events published inside a
  savepoint that is rolled back are dropped with it. A subscriber that raises is logged and
  the others still get the event: the change is saved by then and cannot be refused. This is
  for what lives outside the database (live rooms; a Redis bus when scaled out) and runs in
  the thread that committed.

Every event type is registered under a name (`event`) and can be written to and read from
JSON (`to_json`, `from_json`) with fields of plain JSON types, so the same events can travel
on Redis. Reading an unknown name raises `UnknownEvent`.

The bus and the registry live in ``lib`` because they know no domain: each layer defines the
events it publishes next to its own code (`vardmote.meetings.events`), and any layer may
publish without importing the layers above it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger("vardmote.events")


class DomainEvent:
    """DomainEvent is the base of every event type: a frozen dataclass registered by `event`."""

    name: ClassVar[str]
    """The event's registered name, e.g. ``meeting.cancelled``: what JSON carries."""


E = TypeVar("E", bound=DomainEvent)
C = TypeVar("C")

_REGISTRY: dict[str, type[DomainEvent]] = {}


class UnknownEvent(ValueError):
    """UnknownEvent is raised for JSON that names no registered event type, or does not fit it."""


def event(name: str) -> Callable[[type[E]], type[E]]:
    """event registers a frozen dataclass as the event type called name.

    Use it as a decorator on a ``@dataclass(frozen=True)`` subclass of DomainEvent; a name is
    registered once.
    """

    def register(cls: type[E]) -> type[E]:
        if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):
            raise TypeError(f"{cls.__name__} must be a frozen dataclass to be an event")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"the event name {name!r} is already registered to {_REGISTRY[name].__name__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return register


def registered() -> dict[str, type[DomainEvent]]:
    """registered is every registered event type by name (of the modules imported so far)."""
    return dict(_REGISTRY)


def to_json(domain_event: DomainEvent) -> str:
    """to_json writes an event as ``{"event": name, "data": {field: value}}``."""
    if type(domain_event) is not _REGISTRY.get(getattr(domain_event, "name", "")):
        raise UnknownEvent(f"{type(domain_event).__name__} is not a registered event type")
    data = dataclasses.asdict(domain_event)  # type: ignore[call-overload]
    return json.dumps({"event": domain_event.name, "data": data}, ensure_ascii=False, sort_keys=True)


def from_json(text: str) -> DomainEvent:
    """from_json reads an event written by to_json.

    Raises UnknownEvent when the name is not registered or the fields do not fit its type.
    """
    try:
        document = json.loads(text)
        name, data = document["event"], document["data"]
    except (ValueError, TypeError, KeyError):
        raise UnknownEvent('not an event: expected JSON {"event": name, "data": {...}}') from None
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownEvent(f"unknown event name {name!r}; the registered ones are: {known}")
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if not isinstance(data, dict) or set(data) != fields:
        raise UnknownEvent(f"the data of {name!r} must have exactly the fields {sorted(fields)}")
    return cls(**data)


@dataclass
class _Pending:
    bus: EventBus[Any]
    event: DomainEvent
    savepoint: SessionTransaction | None
    """The innermost savepoint open at publish: if it is rolled back, the event goes with it."""


_PENDING = "vardmote.events.pending"


class EventBus(Generic[C]):
    """EventBus delivers domain events to in-transaction handlers and after-commit subscribers.

    One bus belongs to one Context (C), which in-transaction handlers receive.
    """

    def __init__(self, context: C) -> None:
        self._context = context
        self._handlers: dict[type[DomainEvent], list[Callable[[C, Session, Any], None]]] = {}
        self._subscribers: dict[type[DomainEvent], list[Callable[[Any], None]]] = {}

    def handle(self, event_type: type[E], handler: Callable[[C, Session, E], None]) -> None:
        """handle adds an in-transaction handler of event_type: called at publish, in the
        publisher's transaction, with (ctx, session, event); it may raise to refuse the change."""
        self._handlers.setdefault(event_type, []).append(handler)

    def subscribe(self, event_type: type[E], subscriber: Callable[[E], None]) -> None:
        """subscribe adds an after-commit subscriber of event_type: called with the event once
        the publishing transaction has committed, never when it rolls back."""
        self._subscribers.setdefault(event_type, []).append(subscriber)

    def publish(self, s: Session, domain_event: DomainEvent) -> None:
        """publish runs the in-transaction handlers of the event now (their exceptions reach the
        publisher) and keeps it for the after-commit subscribers of s's transaction (begun here
        if none has been yet, so that the event is the transaction's)."""
        if not s.in_transaction():
            s.begin()
        for handler in self._handlers.get(type(domain_event), []):
            handler(self._context, s, domain_event)
        if self._subscribers.get(type(domain_event)):
            pending: list[_Pending] = s.info.setdefault(_PENDING, [])
            pending.append(_Pending(self, domain_event, s.get_nested_transaction()))

    def _deliver(self, domain_event: DomainEvent) -> None:
        for subscriber in self._subscribers.get(type(domain_event), []):
            try:
                subscriber(domain_event)
            except Exception:
                log.exception("an after-commit subscriber of %s failed", domain_event.name)


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


@sa_event.listens_for(Session, "after_commit")
def _after_commit(s: Session) -> None:
    if s.in_nested_transaction():
        return  # a savepoint was released: the outermost transaction has not committed yet
    for pending in s.info.pop(_PENDING, []):
        pending.bus._deliver(pending.event)


@sa_event.listens_for(Session, "after_soft_rollback")
def _after_rollback(s: Session, previous_transaction: SessionTransaction) -> None:
    pending: list[_Pending] = s.info.get(_PENDING, [])
    pending[:] = [p for p in pending if not _within(p.savepoint, previous_transaction)]


@sa_event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(s: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        s.info.pop(_PENDING, None)  # rolled back or closed without commit: delivered to no one
