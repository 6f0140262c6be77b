"""The administrators' pages of the central templates ("Centrala mallar"), through the client as a
browser uses them: the list, the form with its preview, saving a version, errors, versions."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from fastapi.testclient import TestClient

from booking_helpers import ORGANISATION, audit, csrf_of, sign_in
from vardmote.accounts.models import User
from vardmote.context import Context
from vardmote.invitations.templates import CARE_MEETING, GROUP_MEETING, SEED_TEMPLATES, TOGETHER_TEXT, current

EDIT = f"/admin/mallar/{CARE_MEETING}"
SEED = SEED_TEMPLATES[0]


@pytest.fixture
def admin(client: TestClient, administrator: User) -> TestClient:
    """admin is the client, signed in as the administrator by the sign-in form."""
    sign_in(client, "admin")
    return client


def _form(admin: TestClient, **fields: str) -> dict[str, str]:
    """_form is the edit form of "Skyddat digitalt vårdmöte" as the page fills it, changed by fields."""
    page = admin.get(EDIT)
    assert page.status_code == 200
    form = {
        "csrf": csrf_of(page.text),
        "title": SEED.title,
        "internal_name": SEED.internal_name,
        "body": SEED.body,
        "action": "save",
    }
    form.update(fields)
    return form


def _text(page: str) -> str:
    """_text is a page's visible text with its tags removed and spaces collapsed."""
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_the_list_shows_the_newest_version_of_each_template_sorted_by_arendetyp(admin: TestClient) -> None:
    page = admin.get("/admin/mallar")
    assert page.status_code == 200
    assert "<h1>Centrala mallar</h1>" in page.text
    assert 'aria-sort="ascending">Ärendetyp ↑</th>' in page.text
    rows = re.findall(r'<th scope="row"><a href="/admin/mallar/([^"]+)">([^<]+)</a></th>', page.text)
    assert [htmllib.unescape(title) for _, title in rows] == [
        "Skyddat digitalt informationsmöte i grupp – anonymt deltagande",
        "Skyddat digitalt vårdmöte",
        "Skyddat digitalt vårdmöte i grupp",
    ]
    assert "Skyddat digitalt vårdmöte (via Vårdmöte)" in page.text
    assert "Vårdmöte (grundversion)" in page.text


def test_the_list_shows_the_letter_text_with_our_own_inbox_to_copy(admin: TestClient) -> None:
    page = admin.get("/admin/mallar").text
    assert '<h2 id="kallelsetext-rubrik">Text till kallelse (kontakttyp Kontakt via videolänk)</h2>' in page
    letter = re.search(r'<textarea id="kallelsetext" readonly[^>]*>([^<]+)</textarea>', page)
    assert letter is not None
    assert "meddelande till din inkorg på http://vardmote.test/inkorg med" in htmllib.unescape(
        letter.group(1)
    )
    assert "1177" not in letter.group(1)
    assert '<button type="button" class="secondary" data-copies="kallelsetext">Kopiera text</button>' in page


def test_the_form_shows_the_text_the_placeholders_and_a_preview_with_the_seeds_example(
    admin: TestClient,
) -> None:
    page = admin.get(EDIT)
    assert page.status_code == 200
    assert f'value="{SEED.title}"' in page.text
    assert htmllib.escape(SEED.body, quote=False) in page.text  # the textarea
    for placeholder in ("{datum}", "{tid}", "{mottagning}", "{anslutningslank}", "{anslut_tillsammans}"):
        assert f"<code>{placeholder}</code>" in page.text
    shown = _preview(page.text)
    assert "Datum: 2024-05-15" in shown
    assert "Tid: klockan 08:40" in shown
    assert "Allergimottagning barn, Västerås" in shown
    assert f"Vårdmöte är {ORGANISATION}s videomötestjänst" in shown
    assert '<p>Anslutningslänk: <a href="#">» Anslut till videomötet</a></p>' in page.text
    assert "<h3>Så ansluter du</h3>" in page.text
    assert TOGETHER_TEXT[1] not in shown
    assert "Visa med ”Anslut tillsammans”" in shown
    assert re.search(r"<td>1 \(gällande\)</td>", page.text)


def _preview(page: str) -> str:
    """_preview is the visible text of a page's preview section."""
    return _text(page.split('id="forhandsgranskning"', 1)[1].split("</section>", 1)[0])


def test_the_preview_can_show_the_anslut_tillsammans_paragraph(admin: TestClient) -> None:
    shown = _preview(admin.get(EDIT + "?tillsammans=1").text)
    assert "Anslut tillsammans" in shown
    assert TOGETHER_TEXT[1] in shown
    link, together, how = (shown.index(t) for t in ("» Anslut till", TOGETHER_TEXT[0], "Så ansluter du"))
    assert link < together < how
    assert "Visa utan ”Anslut tillsammans”" in shown


def test_saving_makes_version_2_and_says_so(admin: TestClient, ctx: Context) -> None:
    body = SEED.body + "\n\n## Frågor\n\nRing mottagningen om du inte kan komma."
    response = admin.post(EDIT, data=_form(admin, body=body.replace("\n", "\r\n")), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{EDIT}?sparad=2"
    page = admin.get(response.headers["location"])
    assert '<p class="notice" role="status">Version 2 är sparad.</p>' in page.text
    assert "<h3>Frågor</h3>" in page.text
    assert re.search(r"<td>2 \(gällande\)</td>", page.text)
    assert f'href="{EDIT}/version/1">Visa version 1</a>' in page.text
    with ctx.db.session() as s:
        saved = current(s, CARE_MEETING)
        assert (saved.version, saved.body, saved.created_by) == (2, body, "user:admin")
    assert ("user:admin", "template.saved") in audit(ctx)
    listed = admin.get("/admin/mallar").text
    assert re.search(r"<td>2</td>\s*<td>[0-9-]+ [0-9:]+</td>\s*<td>admin</td>", listed)


def test_a_notice_is_shown_only_for_a_version_that_exists(admin: TestClient) -> None:
    assert "är sparad" not in admin.get(EDIT + "?sparad=7").text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param(
            {"body": SEED.body.replace("{tid}", "{klockslag}")},
            "body",
            "Okänd platshållare: {klockslag}.",
            id="unknown-placeholder",
        ),
        pytest.param(
            {"body": SEED.body.replace("{anslutningslank}", "")},
            "body",
            "Texten ska innehålla {anslutningslank} exakt en gång.",
            id="no-link",
        ),
        pytest.param(
            {"body": SEED.body + "\n\nPersonnummer 19121212-1212"},
            "body",
            "Ta bort ”19121212-1212”: inga personuppgifter får förekomma i en central mall.",
            id="personnummer",
        ),
        pytest.param(
            {"title": " "}, "title", "Ärendetyp ska vara en rad text, högst 200 tecken.", id="no-title"
        ),
        pytest.param(
            {"internal_name": "x" * 201},
            "internal_name",
            "Internt namn ska vara en rad text, högst 200 tecken.",
            id="long-name",
        ),
    ],
)
def test_a_wrong_form_is_refused_with_the_message_beside_the_field_and_the_typed_text_kept(
    admin: TestClient, ctx: Context, fields: dict[str, str], field: str, message: str
) -> None:
    form = _form(admin, **fields)
    response = admin.post(EDIT, data=form)
    assert response.status_code == 422
    error = re.search(rf'<p class="field-error" id="fel-{field}">([^<]+)</p>', response.text)
    assert error is not None
    assert message in htmllib.unescape(error.group(1))
    assert re.search(rf'id="{field}"[^>]*aria-describedby="{field}-hjalp fel-{field}"', response.text)
    assert "Mallen är inte sparad." in response.text
    assert "Förhandsgranskningen visar den gällande versionen tills texten är rättad." in response.text
    assert htmllib.escape(form["body"], quote=False) in response.text
    assert f'value="{htmllib.escape(form["internal_name"])}"' in response.text
    with ctx.db.session() as s:
        assert current(s, CARE_MEETING).version == 1
    assert ("user:admin", "template.saved") not in audit(ctx)


def test_foerhandsgranska_shows_the_typed_text_without_saving_it(admin: TestClient, ctx: Context) -> None:
    body = SEED.body.replace("Hej,", "Hej och välkommen,")
    response = admin.post(EDIT, data=_form(admin, body=body, action="preview"))
    assert response.status_code == 200
    assert "Förhandsgranskning av texten du har skrivit. Den är inte sparad." in response.text
    assert "Hej och välkommen," in _preview(response.text)
    with ctx.db.session() as s:
        assert current(s, CARE_MEETING).version == 1


def test_the_together_switch_of_a_preview_keeps_the_typed_text(admin: TestClient, ctx: Context) -> None:
    body = SEED.body.replace("Hej,", "Hej och välkommen,")
    response = admin.post(EDIT, data=_form(admin, body=body, action="preview-toggle"))
    assert response.status_code == 200
    shown = _preview(response.text)
    assert "Hej och välkommen," in shown
    assert TOGETHER_TEXT[1] in shown
    assert 'name="tillsammans" value="1"' in response.text
    assert 'value="preview-toggle" class="secondary">Visa utan ”Anslut tillsammans”</button>' in response.text
    with ctx.db.session() as s:
        assert current(s, CARE_MEETING).version == 1


def test_a_version_can_be_read_and_stays_as_it_was(admin: TestClient) -> None:
    admin.post(EDIT, data=_form(admin, body=SEED.body + "\n\nNytt stycke."), follow_redirects=False)
    first = admin.get(EDIT + "/version/1")
    assert first.status_code == 200
    assert "Skyddat digitalt vårdmöte, version 1</h1>" in first.text
    assert "Den gällande versionen är 2." in first.text
    assert re.search(r"<textarea id=\"body\"[^>]*readonly>", first.text)
    assert "Nytt stycke." not in first.text
    assert "<form" not in first.text.split("<main")[1]
    second = admin.get(EDIT + "/version/2")
    assert "Nytt stycke." in second.text
    assert "Det här är den gällande versionen." in second.text


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/admin/mallar/finns-inte", id="unknown-key"),
        pytest.param(f"{EDIT}/version/3", id="unknown-version"),
        pytest.param(f"{EDIT}/version/x", id="not-a-number"),
        pytest.param(f"/admin/mallar/{GROUP_MEETING}x/version/1", id="version-of-unknown-key"),
    ],
)
def test_an_unknown_template_or_version_is_a_404_page(admin: TestClient, path: str) -> None:
    response = admin.get(path)
    assert response.status_code == 404
    assert "<h1>Hittades inte</h1>" in response.text


def test_saving_an_unknown_template_is_a_404(admin: TestClient, ctx: Context) -> None:
    response = admin.post("/admin/mallar/finns-inte", data=_form(admin))
    assert response.status_code == 404
    assert ("user:admin", "template.saved") not in audit(ctx)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/admin/mallar", id="list"),
        pytest.param("GET", EDIT, id="form"),
        pytest.param("GET", f"{EDIT}/version/1", id="version"),
        pytest.param("POST", EDIT, id="save"),
    ],
)
def test_a_clinician_may_not_open_or_save_templates(
    client: TestClient, clinician: User, ctx: Context, method: str, path: str
) -> None:
    sign_in(client, "annika")
    csrf = csrf_of(client.get("/kalender").text)
    data = {"csrf": csrf, "title": "Ändrad", "internal_name": "Ändrad", "body": "{anslutningslank}"}
    response = client.request(method, path, data=data if method == "POST" else None)
    assert response.status_code == 403
    assert "Bara administratörer får se den här sidan." in response.text
    with ctx.db.session() as s:
        assert current(s, CARE_MEETING).version == 1


def test_a_stranger_is_sent_to_sign_in(client: TestClient) -> None:
    response = client.get("/admin/mallar", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/logga-in?nasta=")


@pytest.mark.parametrize("csrf", [pytest.param("", id="missing"), pytest.param("fel", id="wrong")])
def test_saving_without_the_pages_csrf_token_is_refused(admin: TestClient, ctx: Context, csrf: str) -> None:
    response = admin.post(EDIT, data=_form(admin, csrf=csrf))
    assert response.status_code == 403
    assert "Ladda om sidan och försök igen." in response.text
    with ctx.db.session() as s:
        assert current(s, CARE_MEETING).version == 1


def test_the_admin_menu_links_to_the_templates(admin: TestClient) -> None:
    assert '<a href="/admin/mallar">Mallar</a>' in admin.get("/kalender").text
