"""Editing a central template in Chromium, against a running demo server.

The administrator (demo account ``admin``) opens "Mallar", edits "Skyddat digitalt
vårdmöte", looks at the preview (also with "Anslut tillsammans"), saves a new version
and sees it listed; a placeholder that does not exist is refused with its message beside
the text. The edit only adds a paragraph, so other tests on the same server still find
the seed's text. Every step is a screenshot under ``test-artifacts/e2e/template-admin/``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from .axe import assert_accessible
from .conftest import NewContext, Steps

pytestmark = pytest.mark.e2e

TITLE = "Skyddat digitalt vårdmöte"


def sign_in_as_admin(page: Page) -> None:
    page.goto("/logga-in")
    page.get_by_label("Användarnamn").fill("admin")
    page.get_by_label("Lösenord").fill("demo")
    page.get_by_role("button", name="Logga in").click()
    expect(page).to_have_url(re.compile(r"/kalender$"))


def current_version(page: Page) -> int:
    """current_version is the number of the version marked "(gällande)" in the page's version list."""
    cell = page.get_by_role("cell", name=re.compile(r"^\d+ \(gällande\)$"))
    found = re.match(r"\d+", cell.inner_text())
    assert found is not None
    return int(found.group())


def test_an_administrator_edits_a_template_previews_it_and_saves_a_new_version(
    new_context: NewContext, steps: Callable[[str], Steps]
) -> None:
    shots = steps("template-admin")
    context = new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_in_as_admin(page)

    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Mallar", exact=True).click()
    expect(page.get_by_role("heading", name="Centrala mallar", level=1)).to_be_visible()
    table = page.get_by_role("table")
    expect(table.get_by_role("columnheader", name="Ärendetyp ↑")).to_be_visible()
    expect(table.get_by_role("columnheader", name="Internt namn")).to_be_visible()
    expect(table.get_by_role("rowheader")).to_have_count(3)
    letter = page.get_by_role("textbox", name="Text till kallelse (kontakttyp Kontakt via videolänk)")
    expect(letter).to_have_value(
        re.compile(r"^I god tid före videomötet skickar vi ett meddelande till din inkorg på ")
    )
    page.get_by_role("button", name="Kopiera text").click()
    expect(page.get_by_role("button", name="Kopierad")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == letter.input_value()
    shots.shot(page, "list")
    assert_accessible(page, "the list of templates")

    table.get_by_role("link", name=TITLE, exact=True).click()
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    before = current_version(page)
    preview = page.get_by_role("article", name="Meddelandet som patienten ser")
    expect(preview).to_contain_text("Datum: 2024-05-15")
    expect(preview).to_contain_text("Tid: klockan 08:40")
    expect(preview.get_by_role("link", name="» Anslut till videomötet", exact=True)).to_be_visible()
    expect(preview.get_by_role("heading", name="Så ansluter du")).to_be_visible()
    expect(preview.get_by_role("heading", name="Anslut tillsammans")).to_have_count(0)
    shots.shot(page, "edit-form")
    assert_accessible(page, "the template form")

    page.get_by_role("link", name="Visa med ”Anslut tillsammans”").click()
    expect(preview.get_by_role("heading", name="Anslut tillsammans")).to_be_visible()
    expect(preview).to_contain_text("endast 15 deltagare kan ansluta till mötet totalt")
    shots.shot(page, "preview-together")

    text = page.get_by_label("Text", exact=True)
    original = text.input_value()
    marker = f"Ta gärna med dina frågor till mötet ({uuid.uuid4().hex[:6]})."
    text.fill(original + "\n\n## Frågor\n\n" + marker)
    page.get_by_role("button", name="Förhandsgranska").click()
    expect(page.get_by_role("status")).to_have_text(
        "Förhandsgranskning av texten du har skrivit. Den är inte sparad."
    )
    expect(preview.get_by_role("heading", name="Frågor")).to_be_visible()
    expect(preview).to_contain_text(marker)
    assert current_version(page) == before
    shots.shot(page, "preview-typed")
    page.get_by_role("button", name="Visa utan ”Anslut tillsammans”").click()
    expect(preview.get_by_role("heading", name="Anslut tillsammans")).to_have_count(0)
    expect(preview).to_contain_text(marker)
    expect(page.get_by_label("Text", exact=True)).to_have_value(re.compile(re.escape(marker) + "$"))

    page.get_by_role("button", name="Spara ny version").click()
    expect(page.get_by_role("status")).to_have_text(f"Version {before + 1} är sparad.")
    assert current_version(page) == before + 1
    expect(page.get_by_role("link", name=f"Visa version {before}", exact=True)).to_be_visible()
    expect(page.get_by_label("Text", exact=True)).to_have_value(re.compile(re.escape(marker) + "$"))
    expect(preview).to_contain_text(marker)
    shots.shot(page, "saved")
    assert_accessible(page, "the template form after saving")

    typed = original.replace("{tid}", "{klockslag}")
    page.get_by_label("Text", exact=True).fill(typed)
    page.get_by_role("button", name="Spara ny version").click()
    error = page.locator("#fel-body")
    expect(error).to_contain_text("Okänd platshållare: {klockslag}.")
    expect(page.get_by_label("Text", exact=True)).to_have_value(typed)
    expect(page.get_by_label("Text", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("Mallen är inte sparad.")
    assert current_version(page) == before + 1
    shots.shot(page, "error-unknown-placeholder")
    assert_accessible(page, "the template form with an error")

    page.get_by_role("link", name=f"Visa version {before}", exact=True).click()
    expect(page.get_by_role("heading", name=f"{TITLE}, version {before}", level=1)).to_be_visible()
    expect(page.get_by_label("Text", exact=True)).not_to_be_editable()
    expect(page.get_by_label("Text", exact=True)).to_have_value(original)
    shots.shot(page, "old-version")
    assert_accessible(page, "an old version")

    page.set_viewport_size({"width": 393, "height": 851})
    page.get_by_role("link", name=TITLE, exact=True).click()
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 393, f"the template form is {width}px wide on a phone"
    shots.shot(page, "phone")
