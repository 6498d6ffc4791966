"""Browser fixtures shared by the end-to-end tests: Debian's chromium through Playwright.

No browser is downloaded: Playwright drives /usr/bin/chromium. `watch(page)`
records what a page did that a test may want to forbid: Content-Security-Policy
violations, requests to other origins, JavaScript dialogs and page errors.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    async_playwright,
)

from tests.support.system import require_program

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags chromium keeps trying hosts this
# machine cannot reach.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Runs before the page's own scripts, outside its CSP (injected by the driver).
_LISTEN_FOR_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
});
"""


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    require_program("chromium", "chromium")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh desktop browser profile (no cookies, no storage), in French."""
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    yield ctx
    await ctx.close()


@dataclass
class PageWatch:
    origin: str
    csp_console: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    async def csp_violations(self, page: Page) -> list[str]:
        """Violations reported by the page's events and by the console."""
        events: list[str] = await page.evaluate("window.__cspViolations || []")
        return events + self.csp_console


async def watch(page: Page, origin: str) -> PageWatch:
    """Start recording on `page` (call before navigating). Dialogs are dismissed."""
    seen = PageWatch(origin.rstrip("/"))

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.csp_console.append(message.text)

    def on_request(url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return
        http_origin = f"{parts.scheme.replace('ws', 'http', 1)}://{parts.netloc}"
        if http_origin != seen.origin:
            seen.foreign_requests.append(url)

    async def on_dialog(dialog: Dialog) -> None:
        seen.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    await page.add_init_script(_LISTEN_FOR_VIOLATIONS)
    page.on("console", on_console)
    page.on("request", lambda request: on_request(request.url))
    page.on("websocket", lambda ws: on_request(ws.url))
    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    return seen
