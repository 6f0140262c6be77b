"""Central templates ("centrala mallar"): the text of a patient's message about a meeting.

A template body is plain text an administrator can edit: paragraphs are separated
by a blank line, a paragraph of one line starting with ``## `` is a heading, and
these placeholders are filled in when a message is shown:

- ``{datum}`` the meeting's date ("2024-05-15"), ``{tid}`` its start ("08:40"),
- ``{mottagning}`` the sending clinic, ``{organisation}`` the organisation,
- ``{anslutningslank}`` the join link, shown as "» Anslut till videomötet" (exactly once),
- ``{anslut_tillsammans}`` where the "Anslut tillsammans" paragraph goes when staff add it,
- ``{personuppgifter}`` a link "» Så behandlar vi dina personuppgifter".

A template's text must hold ``{anslutningslank}`` exactly once and ``{personuppgifter}`` at most
once, not in the same paragraph; ``{anslut_tillsammans}`` stands alone in its own paragraph.
A first line starting with ``## `` in a longer paragraph is a heading over the rest.

Versions are never changed: saving makes the next version, and a message keeps the
version it was sent with. The three seed templates are the seed document's.

`letter_text` is the appointment letter's text for contact type "Kontakt via videolänk".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

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
PLACEHOLDER_HELP = (
    ("datum", "mötets datum, t.ex. 2024-05-15"),
    ("tid", "mötets starttid, t.ex. 08:40"),
    ("mottagning", "mottagningen som skickar meddelandet"),
    ("organisation", "organisationens namn"),
    ("anslutningslank", "anslutningslänken ”» Anslut till videomötet” – ska stå exakt en gång"),
    (
        "anslut_tillsammans",
        "var stycket ”Anslut tillsammans” hamnar när personalen väljer det – i ett eget stycke",
    ),
    ("personuppgifter", "länken ”» Så behandlar vi dina personuppgifter” – högst en gång"),
)
"""PLACEHOLDER_HELP says in Swedish what each placeholder becomes, for the administrators' form."""
MAX_BODY = 20_000
_PLACEHOLDER = re.compile(r"\{([^{}\s]{1,40})\}")
_IN_BRACES = re.compile(r"\{([^{}\n]{0,60})\}")
"""Anything in braces on one line: "{ datum }" and "{Datum}" are reported, not shown as typed."""

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


def version_of(s: Session, key: str, version: int) -> MessageTemplate:
    """version_of is version number version of template key; NotFound if there is none."""
    found = s.scalar(
        select(MessageTemplate).where(MessageTemplate.key == key, MessageTemplate.version == version)
    )
    if found is None:
        raise NotFound("Den versionen av mallen finns inte.")
    return found


def default_for(type_key: str | None) -> str:
    """default_for is the template offered first for a meeting type: the anonymous one for an
    information meeting, else the one for a single patient (staff may choose "i grupp")."""
    return ANONYMOUS_INFORMATION if type_key == "informationsmote_patient" else CARE_MEETING


def check_template(title: str, internal_name: str, body: str, today: dt.date) -> None:
    """check_template raises InvalidInput, field by field, unless a template can be saved.

    The guard of calendar invitations (`find_personal_data`) also guards a template: a central
    template is sent to every patient, so a personnummer in it is always a mistake.
    """
    errors: list[FieldError] = []
    for field, value, label in (
        ("title", title, "Ärendetyp"),
        ("internal_name", internal_name, "Internt namn"),
    ):
        if not value.strip() or len(value) > 200 or has_control_characters(value):
            errors.append(FieldError(field, f"{label} ska vara en rad text, högst 200 tecken."))
        elif found := find_personal_data(value, today=today):
            errors.append(FieldError(field, _no_personal_data(found[0].text)))
    problems = _body_problems(body, today)
    if problems:
        errors.append(FieldError("body", " ".join(problems)))
    if errors:
        raise InvalidInput(errors)


def _no_personal_data(found: str) -> str:
    return f"Ta bort ”{found}”: inga personuppgifter får förekomma i en central mall."


def _body_problems(body: str, today: dt.date) -> list[str]:
    if not body.strip():
        return ["Skriv mallens text."]
    if len(body) > MAX_BODY:
        return [f"Texten får vara högst {MAX_BODY} tecken, nu är den {len(body)}."]
    if has_control_characters(body.replace("\n", "").replace("\r", "").replace("\t", "")):
        return ["Texten innehåller osynliga styrtecken. Skriv in texten igen."]
    problems: list[str] = []
    unknown = sorted({m.group(1) for m in _IN_BRACES.finditer(body)} - set(PLACEHOLDERS))
    if unknown:
        allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        problems.append(
            f"Okänd platshållare: {', '.join('{' + u + '}' for u in unknown)}. Tillåtna: {allowed}."
        )
    if body.count("{anslutningslank}") != 1:
        problems.append("Texten ska innehålla {anslutningslank} exakt en gång.")
    if body.count("{personuppgifter}") > 1:
        problems.append("Texten får innehålla {personuppgifter} högst en gång.")
    paragraphs = _paragraphs(body)
    if any("{anslutningslank}" in p and "{personuppgifter}" in p for p in paragraphs):
        problems.append("{anslutningslank} och {personuppgifter} ska stå i olika stycken.")
    if body.count("{anslut_tillsammans}") > 1 or any(
        "{anslut_tillsammans}" in p and p != "{anslut_tillsammans}" for p in paragraphs
    ):
        problems.append("{anslut_tillsammans} ska stå ensamt i ett eget stycke, högst en gång.")
    if found := find_personal_data(body, today=today):
        problems.append(_no_personal_data(found[0].text))
    return problems


def _paragraphs(body: str) -> list[str]:
    """_paragraphs splits a template's text at its blank lines."""
    return [p.strip() for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]


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
    """For a link: the text before it in its paragraph, e.g. "Anslutningslänk: "."""
    tail: str = ""
    """For a link: the text after it in its paragraph."""


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
            parts.append(f"{b.lead}{b.text}{b.tail}" if b.kind == "link" else b.text)
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
        "anslut_tillsammans": "",
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _link_block(paragraph: str, placeholder: str, text: str, url: str | None, facts: MessageFacts) -> Block:
    lead, _, rest = paragraph.partition("{" + placeholder + "}")
    if url is None:
        return Block("paragraph", _fill(lead, facts) + "Länken gäller inte längre." + _fill(rest, facts))
    return Block("link", text, url, _fill(lead, facts), _fill(rest, facts))


def _is_heading(line: str) -> bool:
    return line.startswith("## ") and "{anslutningslank}" not in line and "{personuppgifter}" not in line


def render(template: MessageTemplate, facts: MessageFacts) -> RenderedMessage:
    """render fills template with facts: the message as the recipient sees it.

    The "Anslut tillsammans" paragraph goes where ``{anslut_tillsammans}`` stands, or
    right after the join link in a template without it.
    """
    blocks: list[Block] = []
    placed_together = False
    join_at = 0
    for paragraph in _paragraphs(template.body):
        first, _, rest = paragraph.partition("\n")
        if _is_heading(first):
            blocks.append(Block("heading", _fill(first[3:].strip(), facts)))
            paragraph = rest.strip()
            if not paragraph:
                continue
        if paragraph == "{anslut_tillsammans}":
            placed_together = True
            if facts.together:
                blocks += _together()
        elif "{anslutningslank}" in paragraph:
            blocks.append(_link_block(paragraph, "anslutningslank", JOIN_LINK_TEXT, facts.join_url, facts))
            join_at = len(blocks)
        elif "{personuppgifter}" in paragraph:
            blocks.append(
                _link_block(paragraph, "personuppgifter", PRIVACY_LINK_TEXT, facts.privacy_url, facts)
            )
        else:
            blocks.append(Block("paragraph", _fill(paragraph, facts)))
    if facts.together and not placed_together:
        blocks[join_at:join_at] = _together()
    return RenderedMessage(template.title, tuple(blocks))


def _together() -> list[Block]:
    return [Block("heading", TOGETHER_HEADING), *(Block("paragraph", t) for t in TOGETHER_TEXT)]


EXAMPLE_CLINIC = "Allergimottagning barn, Västerås"
"""The clinic of the administrators' preview, as in the seed."""


def example_facts(organisation: str, tz: ZoneInfo, *, together: bool = False) -> MessageFacts:
    """example_facts are the seed's example (2024-05-15 08:40, "Allergimottagning barn, Västerås")
    for previewing a template; the links go nowhere ("#")."""
    return MessageFacts(
        starts_at=dt.datetime(2024, 5, 15, 8, 40, tzinfo=tz),
        clinic=EXAMPLE_CLINIC,
        organisation=organisation,
        join_url="#",
        privacy_url="#",
        together=together,
    )


def letter_text(inbox_url: str) -> str:
    """letter_text is the text for appointment letters of contact type "Kontakt via videolänk":
    the seed's text, with our own inbox (at inbox_url, shown without "https://") for 1177.se."""
    where = inbox_url.removeprefix("https://")
    return (
        f"I god tid före videomötet skickar vi ett meddelande till din inkorg på {where} med "
        "anslutningslänk och information om hur du ansluter. "
        f"Du behöver logga in på {where}, klicka på Inkorgen och öppna aktuellt meddelande. "
        'Du som är vårdnadshavare till barn under 13 år ska "Agera ombud" och ansluta via '
        "meddelandet i barnets inkorg."
    )
