"""A real browser for the UI's tests: Debian's chromium driven by Playwright (the system browser,
so nothing is downloaded), headless, with a fresh profile.

Every page opened through `Browser.open` records console errors, uncaught exceptions and any
request for something not on the server under test (the UI fetches nothing from elsewhere);
`Browser.check` fails the test on any. `shoot` keeps a screenshot of a page at desktop and
phone size under `artifacts/ui/` (ignored by git) for people to look at after a run.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.server import REPO

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "artifacts" / "ui"
# nothing leaves 127.0.0.1: no proxy, no name resolves, no background traffic of the browser's own
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-proxy-server",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 30_000


class Browser:
    def __init__(self, context: object, base_url: str) -> None:
        from playwright.sync_api import BrowserContext

        assert isinstance(context, BrowserContext)
        self.context = context
        self.base_url = base_url
        self.errors: list[str] = []
        self.dialogs: list[str] = []  # the confirmations pages asked, in order
        self.confirm = True  # how a person answers them

    def open(self, path: str, size: dict[str, int] = DESKTOP) -> object:
        """A new page at `path`; the pages opened before are closed (each holds an event stream,
        and a browser keeps at most 6 connections to one HTTP/1.1 server)."""
        from playwright.sync_api import ConsoleMessage, Dialog, Request

        for old in self.context.pages:
            old.close()
        page = self.context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.set_viewport_size(size)  # type: ignore[arg-type]

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(f"{page.url}: console: {message.text}")

        def answer(dialog: Dialog) -> None:  # the UI's confirmations: a person says yes (or no)
            self.dialogs.append(dialog.message)
            if self.confirm:
                dialog.accept()
            else:
                dialog.dismiss()

        page.on("console", console)
        def request(sent: Request) -> None:
            if not sent.url.startswith((self.base_url + "/", "data:", "blob:", "about:")):
                self.errors.append(f"{page.url}: requested from elsewhere: {sent.url}")

        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: uncaught: {exc}"))
        page.on("request", request)
        page.on("dialog", answer)
        page.goto(self.base_url + path)
        return page

    def check(self) -> None:
        """No page showed a console error or raised."""
        errors, self.errors = self.errors, []
        assert not errors, "\n".join(errors)


def until(page: object, expression: str, timeout: float = TIMEOUT_MS / 1000) -> object:
    """Wait until the JavaScript `expression` is truthy in the page (evaluated through the
    DevTools protocol: Playwright's own `wait_for_function` compiles its predicate in the page,
    which the UI's Content-Security-Policy rightly forbids)."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    deadline = time.monotonic() + timeout
    value: object = None
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {expression}; last value: {value!r}")


# every element showing text whose colour has less than 4.5:1 contrast (WCAG AA) with the first
# opaque background behind it (a bar's label is read against the bar's track)
LOW_CONTRAST = """() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
    const fg = lum(rgb(getComputedStyle(el).color)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) found.push(el.tagName + " '" + el.textContent.trim().slice(0, 30) + "' " + ratio.toFixed(2));
  }
  return found;
}"""


def shoot(page: object, name: str) -> None:
    """Screenshots of the page as it is, at desktop size and at phone size; the page must keep
    its text's contrast, and fit a phone's width (wide tables scroll inside their own box)."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]+", "-", name)
    size = page.viewport_size
    assert page.evaluate(LOW_CONTRAST) == [], f"{name}: text with too little contrast"
    page.screenshot(path=str(ARTIFACTS / f"{safe}.png"), full_page=True)
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.screenshot(path=str(ARTIFACTS / f"{safe}-phone.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name}: {overflow}px wider than a phone"
    if size is not None:
        page.set_viewport_size(size)


@contextmanager
def chromium(base_url: str) -> Iterator[Browser]:
    """One browser (one fresh profile) for a test module."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (tests/run.sh installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (the test extra installs it)")
    profile = tempfile.mkdtemp(prefix="trireme-ui-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=FLAGS, viewport=DESKTOP)  # type: ignore[arg-type]
            try:
                yield Browser(context, base_url)
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
