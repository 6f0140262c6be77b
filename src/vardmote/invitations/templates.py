"""Central templates ("centrala mallar"): the text of a patient's message about a meeting.

A template body is plain text an administrator can edit: paragraphs are separated
by a blank line, a paragraph of one line starting with ``## `` is a heading, and
these placeholders are filled in when a message is shown:

- ``{datum}`` the meeting's date ("2024-05-15"), ``{tid}`` its start ("08:40"),
- ``{mottagning}`` the sending clinic, ``{organisation}`` the organisation,
- ``{anslutningslank}`` the join link, shown as "» Anslut till videomötet" (exactly once),
- ``{anslut_tillsammans}`` where the "Anslut tillsammans" paragraph goes when staff add it,
- ``{personuppgifter}`` a link "» Så behandlar vi dina personuppgifter".

Versions are never changed: saving makes the next version, and a message keeps the
version it was sent with. The three seed templates are the seed document's.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vardmote.audit.log import record
from vardmote.db import utcnow
from vardmote.errors import FieldError, InvalidInput, NotFound
from vardmote.invitations.guard import find_personal_data
from vardmote.invitations.models import MessageTemplate
from vardmote.lib.text import has_control_characters

CARE_MEETING = "skyddat-digitalt-vardmote"
GROUP_MEETING = "skyddat-digitalt-vardmote-i-grupp"
ANONYMOUS_INFORMATION = "skyddat-digitalt-informationsmote-anonymt"

JOIN_LINK_TEXT = "» Anslut till videomötet"
PRIVACY_LINK_TEXT = "» Så behandlar vi dina personuppgifter"
PLACEHOLDERS = (
    "datum",
    "tid",
    "mottagning",
    "organisation",
    "anslutningslank",
    "anslut_tillsammans",
    "personuppgifter",
)
MAX_BODY = 20_000
_PLACEHOLDER = re.compile(r"\{([^{}\s]{1,40})\}")

TOGETHER_HEADING = "Anslut tillsammans"
TOGETHER_TEXT = (
    "Om fler personer som är viktiga för barnet ska delta på mötet, till exempel båda vårdnadshavare "
    "eller annan närstående, behöver ni ansluta till mötet tillsammans.",
    "Detta eftersom endast 15 deltagare kan ansluta till mötet totalt.",
)
"""The seed's "Textförslag på uppmaning att ansluta tillsammans", word for word."""

_HOW_TO_CONNECT = (
    "## Så ansluter du\n\n"
    "Du ansluter genom att klicka på anslutningslänken. Då öppnas mötet i din webbläsare. "
    "Du blir insläppt i mötet av vårdpersonal. För att delta behöver du mobil, surfplatta eller dator "
    "med internetuppkoppling samt kamera och hörlurar med mikrofon (för bästa ljudkvalitet). "
    "Du behöver ha kamera och mikrofon påslagna under mötet."
)
_PRIVACY = (
    "## Så behandlar vi dina personuppgifter\n\n"
    "Vårdmöte är {organisation}s videomötestjänst för digitala möten där känsliga personuppgifter "
    "hanteras. Mötet spelas inte in, och varken ljud, bild eller chatt sparas.\n\n"
    "{personuppgifter}"
)
_WHEN = "Datum: {datum}\n\nTid: klockan {tid}\n\nAnslutningslänk: {anslutningslank}\n\n{anslut_tillsammans}"


@dataclass(frozen=True)
class SeedTemplate:
    """SeedTemplate is version 1 of a central template, as the seed document names it."""

    key: str
    title: str
    internal_name: str
    body: str


SEED_TEMPLATES = (
    SeedTemplate(
        CARE_MEETING,
        "Skyddat digitalt vårdmöte",
        "Skyddat digitalt vårdmöte (via Vårdmöte)",
        "Hej,\nDu har fått tid för ett digitalt vårdmöte – ett videosamtal med vården.\n\n"
        f"{_WHEN}\n\n{_HOW_TO_CONNECT}\n\n{_PRIVACY}",
    ),
    SeedTemplate(
        GROUP_MEETING,
        "Skyddat digitalt vårdmöte i grupp",
        "Skyddat digitalt vårdmöte i grupp (via Vårdmöte)",
        "Hej,\nDu har fått tid för ett digitalt vårdmöte i grupp – ett videosamtal med vården där flera "
        "deltagare är med. De andra deltagarna ser och hör dig under mötet.\n\n"
        f"{_WHEN}\n\n{_HOW_TO_CONNECT}\n\n{_PRIVACY}",
    ),
    SeedTemplate(
        ANONYMOUS_INFORMATION,
        "Skyddat digitalt informationsmöte i grupp – anonymt deltagande",
        "Skyddat digitalt informationsmöte i grupp – anonymt deltagande (via Vårdmöte)",
        "Hej,\nDu är inbjuden till ett digitalt informationsmöte i grupp. Du deltar anonymt: de andra "
        "deltagarna ser inte ditt namn och varken ser eller hör dig. Frågor ställer du till "
        "vårdpersonalen i chatten.\n\n"
        f"{_WHEN}\n\n{_HOW_TO_CONNECT}\n\n{_PRIVACY}",
    ),
)


def ensure_templates(s: Session) -> None:
    """ensure_templates adds version 1 of each seed template that has no version at all."""
    existing = set(s.scalars(select(MessageTemplate.key).distinct()))
    for seed in SEED_TEMPLATES:
        if seed.key not in existing:
            s.add(
                MessageTemplate(
                    key=seed.key,
                    version=1,
                    title=seed.title,
                    internal_name=seed.internal_name,
                    body=seed.body,
                    created_at=utcnow(),
                    created_by="system:seed",
                )
            )
    s.flush()


def current_templates(s: Session) -> list[MessageTemplate]:
    """current_templates is the newest version of every template, in the seed's order, then by title."""
    newest = (
        select(MessageTemplate.key, func.max(MessageTemplate.version).label("version"))
        .group_by(MessageTemplate.key)
        .subquery()
    )
    rows = list(
        s.scalars(
            select(MessageTemplate).join(
                newest,
                (MessageTemplate.key == newest.c.key) & (MessageTemplate.version == newest.c.version),
            )
        )
    )
    order = {seed.key: i for i, seed in enumerate(SEED_TEMPLATES)}
    return sorted(rows, key=lambda t: (order.get(t.key, len(order)), t.title))


def current(s: Session, key: str) -> MessageTemplate:
    """current is the newest version of the template key; NotFound if there is none."""
    found = s.scalar(
        select(MessageTemplate).where(MessageTemplate.key == key).order_by(MessageTemplate.version.desc())
    )
    if found is None:
        raise NotFound("Mallen finns inte.")
    return found


def versions(s: Session, key: str) -> list[MessageTemplate]:
    """versions lists every version of template key, newest first."""
    return list(
        s.scalars(
            select(MessageTemplate).where(MessageTemplate.key == key).order_by(MessageTemplate.version.desc())
        )
    )


def default_for(type_key: str | None) -> str:
    """default_for is the template offered first for a meeting type: the anonymous one for an
    information meeting, else the one for a single patient (staff may choose "i grupp")."""
    return ANONYMOUS_INFORMATION if type_key == "informationsmote_patient" else CARE_MEETING


def check_template(title: str, internal_name: str, body: str, today: dt.date) -> None:
    """check_template raises InvalidInput, field by field, unless a template can be saved."""
    errors: list[FieldError] = []
    for field, value, label in (
        ("title", title, "Ärendetyp"),
        ("internal_name", internal_name, "Internt namn"),
    ):
        if not value.strip() or len(value) > 200 or has_control_characters(value):
            errors.append(FieldError(field, f"{label} ska vara en rad text, högst 200 tecken."))
    problems: list[str] = []
    if not body.strip():
        problems.append("Skriv mallens text.")
    elif len(body) > MAX_BODY:
        problems.append(f"Texten får vara högst {MAX_BODY} tecken.")
    elif has_control_characters(body.replace("\n", "").replace("\r", "").replace("\t", "")):
        problems.append("Texten innehåller osynliga styrtecken. Skriv in texten igen.")
    else:
        unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(body)} - set(PLACEHOLDERS))
        if unknown:
            allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            problems.append(
                f"Okänd platshållare: {', '.join('{' + u + '}' for u in unknown)}. Tillåtna: {allowed}."
            )
        if body.count("{anslutningslank}") != 1:
            problems.append("Texten ska innehålla {anslutningslank} exakt en gång.")
        if find_personal_data(body, today=today):
            problems.append("Inga personuppgifter får förekomma i en central mall.")
    if problems:
        errors.append(FieldError("body", " ".join(problems)))
    if errors:
        raise InvalidInput(errors)


def save_version(
    s: Session, actor: str, key: str, title: str, internal_name: str, body: str
) -> MessageTemplate:
    """save_version stores the next version of template key (which must exist) and audits it."""
    previous = current(s, key)
    body = body.replace("\r\n", "\n").strip()
    check_template(title, internal_name, body, utcnow().date())
    saved = MessageTemplate(
        key=key,
        version=previous.version + 1,
        title=" ".join(title.split()),
        internal_name=" ".join(internal_name.split()),
        body=body,
        created_at=utcnow(),
        created_by=actor,
    )
    s.add(saved)
    s.flush()
    record(s, actor, "template.saved", None, {"template": key, "version": saved.version})
    return saved


BlockKind = Literal["heading", "paragraph", "link"]


@dataclass(frozen=True)
class Block:
    """Block is one part of a rendered message: a heading, a paragraph, or a link with its lead-in."""

    kind: BlockKind
    text: str
    url: str | None = None
    lead: str = ""
    """For a link: the text before it on its line, e.g. "Anslutningslänk: "."""


@dataclass(frozen=True)
class RenderedMessage:
    """RenderedMessage is a message ready to show: its subject and its blocks in order."""

    title: str
    blocks: tuple[Block, ...]

    @property
    def text(self) -> str:
        """text is the message as plain text (for previews and tests)."""
        parts = []
        for b in self.blocks:
            parts.append(f"{b.lead}{b.text}" if b.kind == "link" else b.text)
        return "\n\n".join(parts)


@dataclass(frozen=True)
class MessageFacts:
    """MessageFacts are the values a message's placeholders are filled with."""

    starts_at: dt.datetime
    """Local, aware."""
    clinic: str
    organisation: str
    join_url: str | None
    """None when the link no longer works: the link line then says so."""
    privacy_url: str
    together: bool = False


def _fill(text: str, facts: MessageFacts) -> str:
    values = {
        "datum": facts.starts_at.strftime("%Y-%m-%d"),
        "tid": facts.starts_at.strftime("%H:%M"),
        "mottagning": facts.clinic,
        "organisation": facts.organisation,
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _link_block(paragraph: str, placeholder: str, text: str, url: str | None, facts: MessageFacts) -> Block:
    lead, _, rest = paragraph.partition("{" + placeholder + "}")
    if url is None:
        return Block("paragraph", _fill(lead, facts) + "Länken gäller inte längre." + _fill(rest, facts))
    return Block("link", text, url, _fill(lead, facts))


def render(template: MessageTemplate, facts: MessageFacts) -> RenderedMessage:
    """render fills template with facts: the message as the recipient sees it."""
    blocks: list[Block] = []
    placed_together = False
    for paragraph in re.split(r"\n\s*\n", template.body.strip()):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if paragraph == "{anslut_tillsammans}":
            placed_together = True
            if facts.together:
                blocks += _together()
        elif "{anslutningslank}" in paragraph:
            blocks.append(_link_block(paragraph, "anslutningslank", JOIN_LINK_TEXT, facts.join_url, facts))
        elif "{personuppgifter}" in paragraph:
            blocks.append(
                _link_block(paragraph, "personuppgifter", PRIVACY_LINK_TEXT, facts.privacy_url, facts)
            )
        elif paragraph.startswith("## ") and "\n" not in paragraph:
            blocks.append(Block("heading", _fill(paragraph[3:].strip(), facts)))
        else:
            blocks.append(Block("paragraph", _fill(paragraph.replace("{anslut_tillsammans}", ""), facts)))
    if facts.together and not placed_together:
        at = next((i + 1 for i, b in enumerate(blocks) if b.url == facts.join_url and b.kind == "link"), 0)
        blocks[at:at] = _together()
    return RenderedMessage(template.title, tuple(blocks))


def _together() -> list[Block]:
    return [Block("heading", TOGETHER_HEADING), *(Block("paragraph", t) for t in TOGETHER_TEXT)]
