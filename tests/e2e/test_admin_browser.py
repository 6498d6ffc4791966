"""The staff editor in a real browser, against the running stack with the demo base.

An editor signs in, adds a sentence to a demo article, saves it as a draft,
publishes it, and the public chat (real Rasa, same app) cites the new sentence
at once. The article is then reverted through the history page, so the other
browser tests see the demo base unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.staff import create_staff_user
from tools.launcher import Stack

pytestmark = pytest.mark.browser


EMAIL = "webmestre@villebrune.example"
PASSWORD = "une phrase de passe assez longue"
SLUG = "mairie-horaires-adresse"
TITLE = "Mairie de Villebrune : adresse et horaires d'ouverture"
# Appended to the article's first paragraph, the one the bot quotes.
SENTENCE = "Un écrivain public y reçoit gratuitement le mardi de 14 h à 16 h, sur rendez-vous."
# Sent to the knowledge base by the dialogue; the article is its confident answer.
QUESTION = "hôtel de ville de villebrune"


@pytest.fixture(scope="module")
def admin_user(stack: Stack) -> str:
    """An admin account created with the CLI, in the running stack's database."""
    return create_staff_user(stack, EMAIL, "admin", PASSWORD)


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    page = await context.new_page()
    yield page
    await context.close()


async def sign_in(page: Page, stack: Stack, email: str, password: str) -> None:
    await page.goto(stack.app_url + "/admin")
    await expect(page).to_have_url(f"{stack.app_url}/admin/login?next=%2Fadmin")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Connexion à l’espace agents")
    await page.get_by_label("Adresse e-mail").fill(email)
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()


async def ask_chat(stack: Stack, text: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{stack.app_url}/api/chat/{uuid.uuid4()}/messages",
            json={"text": text},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as resp,
    ):
        assert resp.status == 200
        messages: list[dict[str, Any]] = (await resp.json())["messages"]
        return messages


async def test_wrong_password_then_keyboard_sign_in(
    page: Page, stack: Stack, admin_user: str
) -> None:
    await sign_in(page, stack, admin_user, "pas le bon mot de passe")
    await expect(page.get_by_role("alert")).to_have_text("Identifiants incorrects.")
    await expect(page.get_by_label("Adresse e-mail")).to_have_value(admin_user)
    # Keyboard only: the skip link comes first, then the form is usable with Tab.
    await page.keyboard.press("Tab")
    await expect(page.locator(".skip-link")).to_be_focused()
    await page.get_by_label("Mot de passe").focus()
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Articles")
    await expect(page.get_by_role("link", name="Articles", exact=True)).to_have_attribute(
        "aria-current", "page"
    )


async def test_editor_publishes_a_change_the_chat_cites_at_once(
    page: Page, stack: Stack, admin_user: str
) -> None:
    await sign_in(page, stack, admin_user, PASSWORD)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Articles")

    # Find the article with the search box (accents ignored).
    await page.get_by_label("Rechercher", exact=True).fill("ADRESSE ET HORAIRES D'OUVERTURE")
    await page.get_by_role("button", name="Filtrer").click()
    await page.get_by_role("link", name=TITLE).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Modifier : {TITLE}")
    version = int(await page.locator('#article-form input[name="version"]').input_value())

    # Add the sentence at the end of the first paragraph; the preview follows.
    body = page.get_by_label("Texte (Markdown)")
    original = await body.input_value()
    lead, rest = original.split("\n\n", 1)
    await body.fill(f"{lead} {SENTENCE}\n\n{rest}")
    await expect(page.locator("#apercu-contenu")).to_contain_text(SENTENCE)
    await page.get_by_label("Statut").select_option("draft")
    await page.get_by_label("Résumé de la modification").fill("permanence de l’écrivain public")
    await page.get_by_role("button", name="Enregistrer", exact=True).click()
    await expect(page.get_by_role("status").first).to_contain_text(
        f"Article enregistré (version {version + 1})"
    )

    # A draft is not used by the bot; publishing makes it so.
    await page.get_by_role("button", name="Publier", exact=True).click()
    await expect(page.get_by_role("status").first).to_contain_text(
        f"Article publié : le bot l’utilise dès maintenant (version {version + 2})"
    )
    await expect(page.get_by_label("Statut")).to_have_value("published")
    edited = f"{lead} {SENTENCE}\n\n{rest}"
    await expect(page.get_by_label("Texte (Markdown)")).to_have_value(edited)
    await page.screenshot(path=str(stack.settings.data_dir / "admin-edit.png"), full_page=True)

    # The citizen's chat, through the real Rasa, now quotes the new sentence.
    messages = await ask_chat(stack, QUESTION)
    cited = [m for m in messages if SENTENCE in m.get("text", "")]
    if cited:
        assert cited[0]["sources"][0]["title"] == TITLE
    else:
        # The dialogue offered suggestions instead: the article must be one of
        # them, and the staff test panel shows the passage it would give.
        offered = [b["title"] for m in messages for b in m.get("buttons", [])]
        assert TITLE in offered, messages
        await page.get_by_role("link", name="Tester une question").click()
        await page.get_by_label("Question d’un habitant").fill(QUESTION)
        await page.get_by_role("button", name="Tester").click()
        await expect(page.locator(".passage", has_text=TITLE)).to_contain_text(SENTENCE)

    # The test panel explains the decision with the ranking behind it.
    await page.goto(f"{stack.app_url}/admin/test?q={QUESTION}")
    await expect(page.locator("#verdict-titre")).to_contain_text("Verdict")
    first_row = page.locator("table.data tbody tr").first
    await expect(first_row).to_contain_text(SLUG)

    # History: the two new versions, then back to the original text.
    await page.goto(f"{stack.app_url}/admin/articles/{SLUG}/history")
    rows = page.locator("table.data tbody tr")
    await expect(rows.first).to_contain_text("publication")
    await expect(rows.nth(1)).to_contain_text("permanence de l’écrivain public")
    await expect(page.locator(".diff")).to_contain_text("publi")
    page.once("dialog", lambda dialog: dialog.accept())
    revert = page.locator(f'form[action$="/revert"]:has(input[name="version"][value="{version}"])')
    await revert.get_by_role("button", name="Revenir à cette version").click()
    await expect(page.get_by_role("status").first).to_contain_text(
        f"Version {version} rétablie : enregistrée comme version {version + 3}"
    )
    await page.goto(f"{stack.app_url}/admin/articles/{SLUG}")
    await expect(page.get_by_label("Texte (Markdown)")).to_have_value(original)
    await expect(page.get_by_label("Statut")).to_have_value("published")
