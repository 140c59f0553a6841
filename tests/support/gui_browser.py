"""Debian's Chromium driven by Playwright for the web GUI's end-to-end tests: launching it off
the network, checking that the server serves a built GUI, screenshots, and the pointer
gestures of the editor (dragging an operator onto the canvas, connecting two handles)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, sync_playwright

from tests.support.paths import ROOT

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Headless and off the network: no sandbox (root in CI), no GPU, no background updates.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1440, "height": 900}


@contextmanager
def chromium() -> Iterator[Browser]:
    """The machine's Chromium (`make browser` installs it); never a downloaded browser."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser`", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def require_gui(server_url: str) -> None:
    """Fails (never skips) when the server does not serve the built GUI at "/"."""
    answer = httpx.get(f"{server_url}/", timeout=30)
    if answer.status_code != 200 or '<div id="root">' not in answer.text:
        pytest.fail(
            f"FlowUI's server does not serve the web GUI at {server_url}/ (answer "
            f"{answer.status_code}): run `make gui` before the tests (it builds frontend/ into "
            "src/flowui/server/static, which the server serves when it starts)",
            pytrace=False,
        )


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot saved as test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def browser_page(
    browser: Browser, server_url: str, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A laptop-sized page in a browser context of its own (its own provider session too); a
    screenshot is saved when the test fails, and the GUI's uncaught errors fail it."""
    context = browser.new_context(viewport=LAPTOP, base_url=server_url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    failed_before = request.session.testsfailed
    try:
        yield page
        assert errors == [], f"the GUI threw uncaught errors: {errors}"
    finally:
        if request.session.testsfailed > failed_before:
            screenshot(page, f"failed-{request.node.name}")
        context.close()


def sign_in(page: Page, email: str, password: str) -> None:
    """Signs in on the sign-in page and waits for the workspace picker."""
    page.get_by_label("E-mail").fill(email)
    page.get_by_label(re.compile(r"^Password")).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Workspaces").wait_for()


def centre(locator: Locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not visible"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag_to_canvas(item: Locator, canvas: Locator, x: float, y: float) -> None:
    """Drags a palette item onto the canvas and drops it at (x, y) of the canvas (HTML5 drag
    and drop, which Playwright performs with real mouse events in Chromium)."""
    item.drag_to(canvas, target_position={"x": x, "y": y})


def connect(page: Page, source: Locator, target: Locator) -> None:
    """Draws an edge with the mouse from a source handle to a target handle, moving in small
    steps as a person does (xyflow follows the pointer between press and release)."""
    start, end = centre(source), centre(target)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 10, start[1] + 10, steps=3)
    page.mouse.move(*end, steps=12)
    page.mouse.up()
