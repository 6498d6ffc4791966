"""The widget in a real browser (Debian's chromium through Playwright)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tools.launcher import Stack

pytestmark = pytest.mark.browser

ENCOMBRANTS_URL = "https://www.villebrune.example/dechets/encombrants"


@pytest.fixture
async def page(browser: Browser, stack: Stack) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(stack.app_url + "/")
    yield page
    await context.close()


async def ask(page: Page, text: str) -> None:
    await page.locator("#guichet-input").fill(text)
    await page.keyboard.press("Enter")


async def test_citizen_asks_and_reads_the_answer(page: Page, stack: Stack) -> None:
    await expect(page.locator("#town-info")).to_contain_text(stack.settings.town.phone)
    await page.locator("#guichet-launcher").click()
    await expect(page.locator("#guichet-panel")).to_be_visible()
    await ask(page, "la mairie est ouverte quand ?")
    bot = page.locator(".guichet-msg-bot").last
    await expect(bot).to_contain_text(stack.settings.town.opening_hours[0].hours, timeout=15000)
    await expect(page.locator(".guichet-msg-user").last).to_contain_text("ouverte quand")


async def test_sourced_answer_and_feedback(page: Page) -> None:
    await page.locator("#guichet-launcher").click()
    await ask(page, "quand passe le ramassage des encombrants")
    answer = page.locator(".guichet-msg-bot").last
    await expect(answer.locator(".guichet-sources a")).to_have_attribute(
        "href", ENCOMBRANTS_URL, timeout=15000
    )
    await answer.locator(".guichet-feedback-button", has_text="Utile").first.click()
    await expect(answer.locator(".guichet-feedback")).to_have_text("Merci pour votre retour.")


async def test_quick_replies_reload_and_html_as_text(page: Page) -> None:
    await page.locator("#guichet-launcher").click()
    await ask(page, "je veux signaler un problème")
    button = page.locator(".guichet-quick-reply", has_text="Éclairage public")
    await button.click()
    await expect(page.locator(".guichet-msg-bot").last).to_contain_text("adresse", timeout=15000)
    payload = "<img src=x onerror=\"document.title='pwned'\"> rue <b>Haute</b>"
    await ask(page, payload)
    await expect(page.locator(".guichet-msg-bot").last).to_contain_text("Décrivez", timeout=15000)
    # The markup shows as text and never runs.
    await expect(page.locator(".guichet-msg-user").last).to_contain_text(payload)
    assert await page.locator(".guichet-msg-user img").count() == 0
    assert await page.title() != "pwned"
    # A reload keeps the conversation (same session in localStorage).
    before = await page.locator(".guichet-msg").count()
    await page.reload()
    await page.locator("#guichet-launcher").click()
    await expect(page.locator(".guichet-msg")).to_have_count(before, timeout=15000)


async def test_keyboard_only_and_phone_screen(browser: Browser, stack: Stack) -> None:
    context = await browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = await context.new_page()
    await page.goto(stack.app_url + "/")
    await page.locator("#guichet-launcher").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#guichet-input")).to_be_focused()
    box = await page.locator("#guichet-panel").bounding_box()
    assert box is not None and box["width"] <= 360
    await page.keyboard.type("vous êtes un robot ?")
    await page.keyboard.press("Enter")
    await expect(page.locator(".guichet-msg-bot").last).to_contain_text(
        "assistant automatisé", timeout=15000
    )
    log = page.locator("#guichet-log")
    assert await log.get_attribute("aria-live") == "polite"
    await page.keyboard.press("Escape")
    await expect(page.locator("#guichet-launcher")).to_be_focused()
    await page.screenshot(path=str(stack.settings.data_dir / "widget-phone.png"))
    await context.close()


async def test_widget_works_under_the_csp_and_calls_no_third_party(
    browser: Browser, stack: Stack
) -> None:
    """The demo page and the widget under their Content-Security-Policy: a whole
    conversation (WebSocket, HTTP history, sources, feedback) with no violation and
    no request to another origin."""
    from tests.e2e.conftest import watch

    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    seen = await watch(page, stack.app_url)
    response = await page.goto(stack.app_url + "/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    await expect(page.locator("#town-info")).to_contain_text(stack.settings.town.phone)
    # The "ask the assistant" buttons are shown by demo.js once the widget loaded.
    await page.locator("[data-question]").first.click()
    await expect(page.locator("#guichet-panel")).to_be_visible()
    await expect(page.locator(".guichet-msg-bot").first).to_be_visible(timeout=15000)
    await ask(page, "quand passe le ramassage des encombrants")
    answer = page.locator(".guichet-msg-bot").last
    await expect(answer.locator(".guichet-sources a")).to_have_attribute(
        "href", ENCOMBRANTS_URL, timeout=15000
    )
    await answer.locator(".guichet-feedback-button", has_text="Utile").first.click()
    await expect(answer.locator(".guichet-feedback")).to_have_text("Merci pour votre retour.")
    # The widget's stylesheet applied (an inline-style fallback would be blocked).
    assert (
        await page.locator("#guichet-launcher").evaluate("e => getComputedStyle(e).position")
        == "fixed"
    )
    # A reload revalidates the cached page (304): the policy still lets it run.
    await page.reload()
    await page.locator("#guichet-launcher").click()
    await expect(page.locator(".guichet-msg-bot").last).to_be_visible(timeout=15000)
    assert await seen.csp_violations(page) == []
    assert seen.foreign_requests == []
    assert seen.page_errors == []
    await context.close()
