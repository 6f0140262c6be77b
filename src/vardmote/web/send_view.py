"""What the meeting page shows of "Skicka anslutningslänk": recipients, choices and errors."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from vardmote.context import Context
from vardmote.errors import InvalidInput
from vardmote.invitations import sending, templates
from vardmote.invitations.guard import PersonalDataInInvitation
from vardmote.invitations.models import MeetingRecipient
from vardmote.invitations.outbox import MailStates, mail_states
from vardmote.meetings import links
from vardmote.meetings.models import Meeting
from vardmote.patients.registry import number_of

CHANNELS = {sending.INBOX: "Meddelande i inkorgen", sending.CALENDAR: "Kalenderinbjudan"}


@dataclass(frozen=True)
class ShownRecipient:
    """ShownRecipient is one row of "Skickat till": never a name, a number only masked."""

    id: int
    label: str
    channel: str
    to: str
    sent: str
    active: bool
    calendar: bool
    mail_state: str = ""
    """For a calendar invitation whose e-mail failed: "Inte skickad – försöker igen" or
    "Kunde inte skickas" (`vardmote.invitations.outbox`); empty otherwise."""


@dataclass
class SendView:
    """SendView is the "Skicka anslutningslänk" section of the meeting page."""

    recipients: list[ShownRecipient]
    templates: list[tuple[str, str]]
    default_template: str
    interpreter_address: str
    inbox_kinds: list[tuple[str, str]]
    calendar_kinds: list[tuple[str, str]]
    form: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    details: list[str] = field(default_factory=list)


def _shown(ctx: Context, r: MeetingRecipient, states: MailStates) -> ShownRecipient:
    if r.patient is not None:
        to = number_of(r.patient).masked()
    elif r.kind == sending.RecipientKind.INTERPRETER:
        to = f"tolkservice, {r.address}"
    else:
        to = r.address or ""
    label = (
        r.link.recipient
        if r.link is not None and r.link.recipient
        else sending.LABELS[sending.RecipientKind(r.kind)]
    )
    link_works = r.link is None or links.is_active(ctx, r.link)
    return ShownRecipient(
        id=r.id,
        label=label or "",
        channel=CHANNELS.get(r.channel, r.channel),
        to=to,
        sent=r.created_at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M"),
        active=r.removed_at is None and link_works,
        calendar=r.channel == sending.CALENDAR,
        mail_state=states.of(r.id),
    )


def send_view(ctx: Context, s: Session, meeting: Meeting) -> SendView:
    """send_view is the section as it is now, without errors."""
    kinds = sending.RecipientKind
    states = mail_states(s, meeting.id)
    return SendView(
        recipients=[_shown(ctx, r, states) for r in sending.recipients_of(s, meeting)],
        templates=[(t.key, t.internal_name) for t in templates.current_templates(s)],
        default_template=templates.default_for(meeting.type_key),
        interpreter_address=ctx.settings.interpreter_service_address,
        inbox_kinds=[(k.value, sending.LABELS[k]) for k in (kinds.PATIENT, kinds.GUARDIAN, kinds.RELATIVE)],
        calendar_kinds=[
            (k.value, sending.LABELS[k]) for k in (kinds.EXTERNAL, kinds.INTERPRETER, kinds.STAFF)
        ],
    )


def with_error(view: SendView, error: InvalidInput, form: dict[str, str]) -> SendView:
    """with_error is view showing what was wrong, with what was typed kept."""
    view.form = form
    view.errors = {f.field: f.message for f in error.fields}
    if isinstance(error, PersonalDataInInvitation):
        view.summary = error.message
        view.details = [f.message for f in error.fields]
    else:
        view.summary = "Länken skickades inte. " + " ".join(f.message for f in error.fields)
    return view
