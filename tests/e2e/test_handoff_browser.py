"""Handoff to a person, in real browsers, against the running stack (real Rasa).

A citizen on the public site asks for an agent; an agent signed in on /agent
sees the request arrive live, takes it, they write to each other (typing
indicators both ways, an article inserted from the knowledge base), then the
agent hands back and the bot answers the citizen again. A second agent, whose
screen has not caught up yet, tries to take the same conversation and is told
it is already taken.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    WebSocketRoute,
    expect,
)

from tests.support.staff import create_staff_user
from tools.launcher import Stack

pytestmark = pytest.mark.browser


AGENT = "accueil@villebrune.example"
AGENT_2 = "etat-civil@villebrune.example"
PASSWORD = "une phrase de passe assez longue"
# Waits on the real Rasa on a busy machine: generous, never asserted on.
RASA_WAIT = 60_000
LIVE_WAIT = 15_000


@pytest.fixture(scope="module")
def agents(stack: Stack) -> list[str]:
    """Two agent accounts created with the CLI, in the running stack's database."""
    for email in (AGENT, AGENT_2):
        create_staff_user(stack, email, "agent", PASSWORD)
    return [AGENT, AGENT_2]


async def laptop(browser: Browser) -> BrowserContext:
    return await browser.new_context(viewport={"width": 1366, "height": 768}, locale="fr-FR")


async def open_console(page: Page, stack: Stack, email: str) -> None:
    """Sign in from the console's address, as an agent does, and wait for the live link."""
    await page.goto(stack.app_url + "/agent")
    await expect(page).to_have_url(re.compile(r"/admin/login\?next=%2Fagent$"))
    await page.get_by_label("Adresse e-mail").fill(email)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page).to_have_url(stack.app_url + "/agent")
    await expect(page.locator("#connection")).to_have_text("Connecté", timeout=LIVE_WAIT)
    await expect(page.locator("#agent-email")).to_have_text(email)


async def ask(page: Page, text: str) -> None:
    await page.locator("#guichet-input").fill(text)
    await page.keyboard.press("Enter")


async def test_agent_takes_a_conversation_answers_and_hands_back(
    browser: Browser, stack: Stack, agents: list[str]
) -> None:
    agent_ctx = await laptop(browser)
    late_ctx = await laptop(browser)
    citizen_ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        # The console is open first: an agent is online, so the citizen is queued.
        console = await agent_ctx.new_page()
        await open_console(console, stack, AGENT)

        # The second agent's screen will stop receiving queue updates on cue,
        # as when two agents click at the same moment.
        frozen = {"queue": False}

        async def lagging(ws: WebSocketRoute) -> None:
            server = ws.connect_to_server()

            def to_page(message: str | bytes) -> None:
                if frozen["queue"] and isinstance(message, str):
                    if json.loads(message).get("type") == "queue":
                        return
                ws.send(message)

            server.on_message(to_page)
            ws.on_message(lambda message: server.send(message))

        late = await late_ctx.new_page()
        await late.route_web_socket(re.compile(r"/agent/ws$"), lagging)
        await open_console(late, stack, AGENT_2)

        citizen = await citizen_ctx.new_page()
        await citizen.goto(stack.app_url + "/")
        await citizen.locator("#guichet-launcher").click()
        await ask(citizen, "je veux parler à un agent")
        await expect(citizen.locator(".guichet-msg-bot").last).to_contain_text(
            "Je vous mets en relation avec un agent", timeout=RASA_WAIT
        )
        session = await citizen.evaluate("localStorage.getItem('guichet.session')")
        assert isinstance(session, str) and session

        # The request appears on both consoles without a reload.
        item = console.locator(f'#list-waiting [data-conversation="{session}"]')
        await expect(item).to_be_visible(timeout=LIVE_WAIT)
        await expect(item).to_contain_text("Chat du site")
        await expect(item).to_contain_text("Attend depuis")
        late_item = late.locator(f'#list-waiting [data-conversation="{session}"]')
        await expect(late_item).to_be_visible(timeout=LIVE_WAIT)

        # The agent reads what happened so far, and what the bot understood.
        await item.click()
        transcript = console.locator("#transcript")
        await expect(transcript.locator(".msg-user").first).to_contain_text(
            "je veux parler à un agent"
        )
        await expect(transcript.locator(".msg-bot").last).to_contain_text(
            "Je vous mets en relation"
        )
        await expect(console.locator("#ctx-intents")).to_contain_text("request_human")
        await expect(console.locator("#conv-status")).to_have_text("En attente d’un agent.")

        await late_item.click()
        await expect(late.get_by_role("button", name="Prendre en charge")).to_be_visible()
        frozen["queue"] = True

        # Taken with the keyboard shortcut; the citizen is told.
        await console.keyboard.press("Alt+p")
        await expect(console.locator("#conv-status")).to_have_text(
            "Vous tenez cette conversation : le citoyen lit vos messages.", timeout=LIVE_WAIT
        )
        await expect(console.locator("#message")).to_be_focused()
        await expect(citizen.locator(".guichet-system").last).to_have_text(
            "Un agent de la mairie a rejoint la conversation.", timeout=LIVE_WAIT
        )
        await expect(
            console.locator(f'#list-active [data-conversation="{session}"]')
        ).to_contain_text("Tenue par vous")

        # The second agent is too late: refused, with the reason on screen.
        await late.get_by_role("button", name="Prendre en charge").click()
        await expect(late.locator("#banner")).to_be_visible(timeout=LIVE_WAIT)
        await expect(late.get_by_role("alert")).to_contain_text(
            "Cette conversation a déjà été prise en charge."
        )
        frozen["queue"] = False
        await late_ctx.close()

        # Agent -> citizen, with the typing indicator first.
        hello = "Bonjour, ici Claire, de l’accueil de la mairie. Que puis-je faire pour vous ?"
        await console.locator("#message").press_sequentially("Bonjour", delay=20)
        await expect(citizen.locator("#guichet-typing")).to_be_visible(timeout=LIVE_WAIT)
        await expect(citizen.locator("#guichet-typing")).to_contain_text("Un agent écrit")
        await console.locator("#message").fill(hello)
        await console.keyboard.press("Enter")
        await expect(citizen.locator(".guichet-msg-agent").last).to_contain_text(
            hello, timeout=LIVE_WAIT
        )
        await expect(console.locator("#message")).to_have_value("")
        await expect(transcript.locator(".msg-agent").last).to_contain_text(hello)

        # Citizen -> agent, with the typing indicator first.
        question = "Merci ! J'ai perdu ma carte d'identité, comment la refaire ?"
        await citizen.locator("#guichet-input").press_sequentially("Merci", delay=20)
        await expect(console.locator("#citizen-typing")).to_be_visible(timeout=LIVE_WAIT)
        await citizen.locator("#guichet-input").fill(question)
        await citizen.keyboard.press("Enter")
        await expect(transcript.locator(".msg-user").last).to_contain_text(
            question, timeout=LIVE_WAIT
        )
        await expect(console.locator("#citizen-typing")).to_be_hidden()

        # An article from the knowledge base goes into the reply as "Title — URL".
        await console.keyboard.press("Alt+k")
        await expect(console.locator("#kb-query")).to_be_focused()
        await console.keyboard.type("carte d'identité")
        await console.keyboard.press("Enter")
        first = console.locator("#kb-results .kb-insert:has(.kb-url)").first
        await expect(first).to_be_visible(timeout=LIVE_WAIT)
        title = (await first.locator(".kb-title").text_content()) or ""
        url = (await first.locator(".kb-url").text_content()) or ""
        assert title and url.startswith("http")
        await first.focus()
        await console.keyboard.press("Enter")
        await expect(console.locator("#message")).to_be_focused()
        await expect(console.locator("#message")).to_have_value(f"{title} — {url}")
        await console.keyboard.press("Control+Home")
        await console.keyboard.type("Tout est expliqué ici : ")
        await console.keyboard.press("Enter")
        await expect(citizen.locator(".guichet-msg-agent").last).to_contain_text(
            f"Tout est expliqué ici : {title} — {url}", timeout=LIVE_WAIT
        )
        await expect(citizen.locator(".guichet-msg-agent").last.locator("a")).to_have_attribute(
            "href", re.compile("^" + re.escape(url))
        )

        await console.screenshot(path=str(stack.settings.data_dir / "agent-console.png"))

        # Back to the bot, which answers again, with its own knowledge.
        await console.get_by_role("button", name="Rendre la main à l’assistant").click()
        await expect(console.locator("#conv-status")).to_have_text(
            "Vous avez rendu la main à l’assistant : il répond de nouveau au citoyen.",
            timeout=LIVE_WAIT,
        )
        await expect(console.locator(f'[data-conversation="{session}"]')).to_have_count(0)
        await expect(console.locator("#message")).to_be_disabled()
        await expect(citizen.locator(".guichet-system").last).to_contain_text(
            "L'agent vous a redirigé vers l'assistant automatisé", timeout=LIVE_WAIT
        )
        await ask(citizen, "la mairie est ouverte quand ?")
        await expect(citizen.locator(".guichet-msg-bot").last).to_contain_text(
            stack.settings.town.opening_hours[0].hours, timeout=RASA_WAIT
        )
    finally:
        await citizen_ctx.close()
        await agent_ctx.close()
        if late_ctx.pages:
            await late_ctx.close()
