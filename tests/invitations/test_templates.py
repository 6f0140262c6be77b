"""Central templates: rendering the seed's three messages, the checks on an administrator's text,
versions that never change, and the appointment letter's text."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.errors import InvalidInput, NotFound
from vardmote.invitations.guard import find_personal_data
from vardmote.invitations.models import MessageTemplate
from vardmote.invitations.templates import (
    CARE_MEETING,
    JOIN_LINK_TEXT,
    MAX_BODY,
    PLACEHOLDER_HELP,
    PLACEHOLDERS,
    PRIVACY_LINK_TEXT,
    SEED_TEMPLATES,
    TOGETHER_HEADING,
    TOGETHER_TEXT,
    Block,
    MessageFacts,
    check_template,
    current,
    current_templates,
    ensure_templates,
    example_facts,
    letter_text,
    render,
    save_version,
    version_of,
    versions,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
TODAY = dt.date(2026, 5, 1)
JOIN = "https://vardmote.test/m/personlig-lank"
PRIVACY = "https://vardmote.test/personuppgifter"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "templates.md"


def facts(
    starts_at: dt.datetime | None = None, *, join_url: str | None = JOIN, together: bool = False
) -> MessageFacts:
    """facts are the seed's example: Allergimottagning barn, Västerås, 2024-05-15 08:40 in Stockholm."""
    return MessageFacts(
        starts_at=starts_at or dt.datetime(2024, 5, 15, 8, 40, tzinfo=STOCKHOLM),
        clinic="Allergimottagning barn, Västerås",
        organisation="Region Västmanland",
        join_url=join_url,
        privacy_url=PRIVACY,
        together=together,
    )


def template(body: str, title: str = "Skyddat digitalt vårdmöte") -> MessageTemplate:
    """template is an unsaved template with body."""
    return MessageTemplate(key="prov", version=1, title=title, internal_name=title, body=body)


def refusal(
    body: str, title: str = "Skyddat digitalt vårdmöte", internal_name: str = "Intern"
) -> dict[str, str]:
    """refusal is check_template's message per field for a text it must refuse."""
    with pytest.raises(InvalidInput) as refused:
        check_template(title, internal_name, body, TODAY)
    return {f.field: f.message for f in refused.value.fields}


# --- rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [pytest.param(t, id=t.key) for t in SEED_TEMPLATES])
def test_each_seed_template_renders_the_seeds_message(seed: object) -> None:
    assert isinstance(seed, type(SEED_TEMPLATES[0]))
    message = render(template(seed.body, seed.title), facts())
    assert message.title == seed.title
    blocks = list(message.blocks)
    assert blocks[0].kind == "paragraph"
    assert blocks[0].text.startswith("Hej,\nDu ")
    assert Block("paragraph", "Datum: 2024-05-15") in blocks
    assert Block("paragraph", "Tid: klockan 08:40") in blocks
    join = blocks.index(Block("link", JOIN_LINK_TEXT, JOIN, "Anslutningslänk: "))
    assert blocks[join + 1] == Block("heading", "Så ansluter du")
    assert blocks[join + 2].text.startswith("Du ansluter genom att klicka på anslutningslänken.")
    assert Block("heading", "Så behandlar vi dina personuppgifter") in blocks
    assert "Vårdmöte är Region Västmanlands videomötestjänst" in message.text
    assert blocks[-1] == Block("link", PRIVACY_LINK_TEXT, PRIVACY)
    assert TOGETHER_HEADING not in message.text
    assert "{" not in message.text
    assert "}" not in message.text


@pytest.mark.parametrize("seed", [pytest.param(t, id=t.key) for t in SEED_TEMPLATES])
def test_each_seed_template_renders_anslut_tillsammans_right_after_the_link(seed: object) -> None:
    assert isinstance(seed, type(SEED_TEMPLATES[0]))
    blocks = list(render(template(seed.body, seed.title), facts(together=True)).blocks)
    join = blocks.index(Block("link", JOIN_LINK_TEXT, JOIN, "Anslutningslänk: "))
    assert blocks[join + 1 : join + 4] == [
        Block("heading", "Anslut tillsammans"),
        Block("paragraph", TOGETHER_TEXT[0]),
        Block("paragraph", TOGETHER_TEXT[1]),
    ]
    assert blocks[join + 4] == Block("heading", "Så ansluter du")


def test_a_template_without_the_together_placeholder_gets_the_paragraph_after_the_link() -> None:
    blocks = render(template("Hej\n\n{anslutningslank}\n\nHej då"), facts(together=True)).blocks
    assert [b.text for b in blocks] == ["Hej", JOIN_LINK_TEXT, TOGETHER_HEADING, *TOGETHER_TEXT, "Hej då"]


@pytest.mark.parametrize(
    ("moment", "date", "time"),
    [
        pytest.param(
            dt.datetime(2024, 5, 14, 22, 30, tzinfo=dt.UTC), "2024-05-15", "00:30", id="summer-next-day"
        ),
        pytest.param(dt.datetime(2024, 1, 15, 7, 40, tzinfo=dt.UTC), "2024-01-15", "08:40", id="winter"),
        pytest.param(
            dt.datetime(2024, 3, 31, 1, 5, tzinfo=dt.UTC), "2024-03-31", "03:05", id="spring-forward"
        ),
    ],
)
def test_date_and_time_are_shown_in_stockholm_time(moment: dt.datetime, date: str, time: str) -> None:
    seed = SEED_TEMPLATES[0]
    shown = render(template(seed.body), facts(moment.astimezone(STOCKHOLM))).text
    assert f"Datum: {date}\n\nTid: klockan {time}" in shown


def test_an_expired_link_renders_that_it_no_longer_works() -> None:
    seed = SEED_TEMPLATES[0]
    message = render(template(seed.body), facts(join_url=None))
    assert Block("paragraph", "Anslutningslänk: Länken gäller inte längre.") in message.blocks
    assert all(b.url != JOIN for b in message.blocks)
    assert JOIN_LINK_TEXT not in message.text


def test_text_around_a_link_in_its_paragraph_is_kept() -> None:
    body = "## Länk\nKlicka här: {anslutningslank}\nAnslut i god tid.\n\nDatum {datum}"
    blocks = render(template(body), facts()).blocks
    assert blocks == (
        Block("heading", "Länk"),
        Block("link", JOIN_LINK_TEXT, JOIN, "Klicka här: ", "\nAnslut i god tid."),
        Block("paragraph", "Datum 2024-05-15"),
    )


def test_a_heading_line_with_a_link_placeholder_stays_a_link() -> None:
    blocks = render(template("## {anslutningslank}"), facts()).blocks
    assert blocks == (Block("link", JOIN_LINK_TEXT, JOIN, "## "),)


def test_the_example_facts_are_the_seeds() -> None:
    example = example_facts("Region Västmanland", STOCKHOLM, together=True)
    shown = render(template(SEED_TEMPLATES[0].body), example).text
    assert "Datum: 2024-05-15\n\nTid: klockan 08:40" in shown
    assert example.clinic == "Allergimottagning barn, Västerås"
    assert (example.join_url, example.together) == ("#", True)


# --- checks ----------------------------------------------------------------------------------

GOOD = SEED_TEMPLATES[0].body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            GOOD.replace("{tid}", "{klockslag}"),
            "Okänd platshållare: {klockslag}. Tillåtna: {datum}, {tid}, {mottagning}, {organisation}, "
            "{anslutningslank}, {anslut_tillsammans}, {personuppgifter}.",
            id="unknown-placeholder",
        ),
        pytest.param(
            GOOD.replace("{datum}", "{ datum }"),
            "Okänd platshållare: { datum }. Tillåtna: {datum}, {tid}, {mottagning}, {organisation}, "
            "{anslutningslank}, {anslut_tillsammans}, {personuppgifter}.",
            id="placeholder-with-spaces",
        ),
        pytest.param(
            GOOD.replace("{anslutningslank}", "länken"),
            "Texten ska innehålla {anslutningslank} exakt en gång.",
            id="missing-link",
        ),
        pytest.param(
            GOOD + "\n\nIgen: {anslutningslank}",
            "Texten ska innehålla {anslutningslank} exakt en gång.",
            id="double-link",
        ),
        pytest.param(
            GOOD + "\n\n{personuppgifter}",
            "Texten får innehålla {personuppgifter} högst en gång.",
            id="double-privacy-link",
        ),
        pytest.param(
            "{anslutningslank}\n{personuppgifter}",
            "{anslutningslank} och {personuppgifter} ska stå i olika stycken.",
            id="links-in-one-paragraph",
        ),
        pytest.param(
            "{anslutningslank}\n\nOm ni är flera: {anslut_tillsammans}",
            "{anslut_tillsammans} ska stå ensamt i ett eget stycke, högst en gång.",
            id="together-not-alone",
        ),
        pytest.param(
            GOOD + "\n\nTill exempel 19121212-1212.",
            "Ta bort ”19121212-1212”: inga personuppgifter får förekomma i en central mall.",
            id="personnummer",
        ),
        pytest.param(
            GOOD + "\n\nSamordningsnummer 701063-2391",
            "Ta bort ”701063-2391”: inga personuppgifter får förekomma i en central mall.",
            id="samordningsnummer",
        ),
        pytest.param(
            GOOD + "x" * (MAX_BODY - len(GOOD) + 1),
            f"Texten får vara högst {MAX_BODY} tecken, nu är den {MAX_BODY + 1}.",
            id="over-long",
        ),
        pytest.param(
            GOOD + "\x00", "Texten innehåller osynliga styrtecken. Skriv in texten igen.", id="nul-character"
        ),
        pytest.param(
            GOOD.replace("Hej,", "Hej,\x1b[2J"),
            "Texten innehåller osynliga styrtecken. Skriv in texten igen.",
            id="escape-character",
        ),
        pytest.param(" \n\n ", "Skriv mallens text.", id="empty"),
    ],
)
def test_a_body_that_cannot_be_sent_is_refused_with_a_message_that_says_why(body: str, message: str) -> None:
    assert refusal(body) == {"body": message}


def test_several_problems_are_told_together() -> None:
    assert refusal("{tidpunkt}") == {
        "body": "Okänd platshållare: {tidpunkt}. Tillåtna: {datum}, {tid}, {mottagning}, {organisation}, "
        "{anslutningslank}, {anslut_tillsammans}, {personuppgifter}. "
        "Texten ska innehålla {anslutningslank} exakt en gång."
    }


@pytest.mark.parametrize(
    ("title", "internal_name", "field", "message"),
    [
        pytest.param(
            "", "Intern", "title", "Ärendetyp ska vara en rad text, högst 200 tecken.", id="no-title"
        ),
        pytest.param(
            "A\nB", "Intern", "title", "Ärendetyp ska vara en rad text, högst 200 tecken.", id="two-lines"
        ),
        pytest.param(
            "Möte",
            "x" * 201,
            "internal_name",
            "Internt namn ska vara en rad text, högst 200 tecken.",
            id="long",
        ),
        pytest.param(
            "Möte för 19121212-1212",
            "Intern",
            "title",
            "Ta bort ”19121212-1212”: inga personuppgifter får förekomma i en central mall.",
            id="personnummer-in-title",
        ),
    ],
)
def test_a_bad_arendetyp_or_internal_name_is_refused(
    title: str, internal_name: str, field: str, message: str
) -> None:
    assert refusal(GOOD, title, internal_name) == {field: message}


@pytest.mark.parametrize("seed", [pytest.param(t, id=t.key) for t in SEED_TEMPLATES])
def test_the_seed_templates_pass_the_checks(seed: object) -> None:
    assert isinstance(seed, type(SEED_TEMPLATES[0]))
    check_template(seed.title, seed.internal_name, seed.body, TODAY)


# --- versions --------------------------------------------------------------------------------


def test_saving_makes_version_2_and_leaves_version_1_as_it_was(ctx: Context) -> None:
    changed = GOOD.replace("Hej,", "Hej och välkommen,")
    with ctx.db.session() as s:
        saved = save_version(s, "user:admin", CARE_MEETING, " Skyddat  digitalt vårdmöte ", "Intern", changed)
        assert (saved.version, saved.title, saved.created_by) == (
            2,
            "Skyddat digitalt vårdmöte",
            "user:admin",
        )
    with ctx.db.session() as s:
        first = version_of(s, CARE_MEETING, 1)
        assert (first.body, first.internal_name, first.created_by) == (
            GOOD,
            "Skyddat digitalt vårdmöte (via Vårdmöte)",
            "system:seed",
        )
        assert current(s, CARE_MEETING).body == changed
        assert [v.version for v in versions(s, CARE_MEETING)] == [2, 1]
        assert [t.version for t in current_templates(s) if t.key == CARE_MEETING] == [2]
        assert len(current_templates(s)) == len(SEED_TEMPLATES)
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "template.saved"))
        assert entry is not None
        assert (entry.actor, json.loads(entry.details)) == (
            "user:admin",
            {"template": CARE_MEETING, "version": 2},
        )


def test_a_refused_text_saves_nothing(ctx: Context) -> None:
    with ctx.db.session() as s, pytest.raises(InvalidInput):
        save_version(s, "user:admin", CARE_MEETING, "Titel", "Intern", "utan länk")
    with ctx.db.session() as s:
        assert current(s, CARE_MEETING).version == 1
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_ensure_templates_adds_nothing_once_an_administrator_has_saved_version_2(ctx: Context) -> None:
    with ctx.db.session() as s:
        save_version(s, "user:admin", CARE_MEETING, "Egen rubrik", "Intern", "{anslutningslank}")
    with ctx.db.session() as s:
        ensure_templates(s)
        ensure_templates(s)
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(MessageTemplate)) == len(SEED_TEMPLATES) + 1
        assert current(s, CARE_MEETING).title == "Egen rubrik"


def test_an_unknown_template_or_version_is_not_found(ctx: Context) -> None:
    with ctx.db.session() as s:
        with pytest.raises(NotFound, match=re.escape("Mallen finns inte.")):
            current(s, "finns-inte")
        with pytest.raises(NotFound, match=re.escape("Den versionen av mallen finns inte.")):
            version_of(s, CARE_MEETING, 2)
        with pytest.raises(NotFound):
            save_version(s, "user:admin", "finns-inte", "Titel", "Intern", "{anslutningslank}")


WORDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="{}")
    | st.sampled_from("\n\n#  "),
    max_size=300,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=WORDS)
def test_any_text_without_braces_saved_with_the_link_renders_every_word(ctx: Context, text: str) -> None:
    body = text + "\n\n{anslutningslank}"
    assume(
        not find_personal_data(body, today=dt.datetime.now(dt.UTC).date())
    )  # refused on purpose; tested above
    with ctx.db.session() as s:
        saved = save_version(s, "user:admin", CARE_MEETING, "Titel", "Intern", body)
        shown = render(current(s, CARE_MEETING), facts()).text
        assert saved.body == body.replace("\r\n", "\n").strip()
    assert re.findall(r"\w+", shown) == re.findall(r"\w+", text) + re.findall(r"\w+", JOIN_LINK_TEXT)


# --- the letter and the administrators' help -------------------------------------------------


def test_the_letter_text_is_the_seeds_with_our_own_inbox() -> None:
    assert letter_text("https://vardmote.regionvastmanland.se/inkorg") == (
        "I god tid före videomötet skickar vi ett meddelande till din inkorg på "
        "vardmote.regionvastmanland.se/inkorg med anslutningslänk och information om hur du ansluter. "
        "Du behöver logga in på vardmote.regionvastmanland.se/inkorg, klicka på Inkorgen och öppna "
        'aktuellt meddelande. Du som är vårdnadshavare till barn under 13 år ska "Agera ombud" och '
        "ansluta via meddelandet i barnets inkorg."
    )


def test_the_letter_text_keeps_an_address_that_is_not_https() -> None:
    assert "din inkorg på http://127.0.0.1:8000/inkorg med" in letter_text("http://127.0.0.1:8000/inkorg")


def test_every_placeholder_is_explained_on_the_form_and_in_the_docs() -> None:
    assert [name for name, _ in PLACEHOLDER_HELP] == list(PLACEHOLDERS)
    docs = DOCS.read_text(encoding="utf-8")
    for name in PLACEHOLDERS:
        assert f"`{{{name}}}`" in docs, name


def test_a_together_placeholder_inside_a_paragraph_of_an_older_text_is_not_shown_as_typed() -> None:
    blocks = render(template("Hej {anslut_tillsammans}\n\n{anslutningslank}"), facts(together=True)).blocks
    assert [b.text for b in blocks] == ["Hej ", JOIN_LINK_TEXT, TOGETHER_HEADING, *TOGETHER_TEXT]
