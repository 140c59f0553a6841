"""Single sign-on in a real browser (Debian's Chromium driven by Playwright) against a real
`flowui server run` serving the built GUI, with passwords off, and a real OpenID Connect provider
(panva's oidc-provider, tests/support/oidc_provider): the user clicks "Sign in with Acme ID",
signs in on the provider's pages and lands in the workspace their groups map to, then signs out;
a user whose groups map to nothing lands on the no-workspace page; a refused sign-in says why.
Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from flowui.platform import free_port
from tests.support.gui_browser import browser_page, chromium, require_gui, screenshot
from tests.support.oidc_provider import running_provider, server_environment

FLOWUI = Path(sys.executable).parent / "flowui"
PROVIDER_NAME = "Acme ID"
ACCOUNTS = {
    "ada": {"email": "ada@example.com", "name": "Ada Lovelace", "groups": ["data-eng"]},
    "bob": {"email": "bob@example.com", "name": "Bob", "groups": ["marketing"]},
}
ROLE_MAP = "data-eng=Analytics:write"
NO_WORKSPACE = (
    "Your account has no workspace yet: ask an administrator to add you to one "
    "(or to map your groups to one)"
)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`flowui server run` (no Airflow) on a free port, signing in only through the provider,
    which runs as long; its address."""
    directory = tmp_path_factory.mktemp("sso-platform")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    callback = f"{url}/api/auth/oidc/callback"
    with running_provider(directory, callback, ACCOUNTS) as provider:
        created = subprocess.run(
            [str(FLOWUI), "init", str(directory / "project")], capture_output=True, check=False
        )
        assert created.returncode == 0, created.stderr
        environ = server_environment(provider, PROVIDER_NAME, ROLE_MAP, password_login=False)
        log_path = directory / "server.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [FLOWUI, "server", "run", "--project", directory / "project", "--port", str(port)],
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                _wait_until_live(url, server, log_path)
                yield url
            finally:
                server.terminate()
                server.wait(30)


def _wait_until_live(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited:\n{log.read_text()}"
        try:
            if httpx.get(f"{url}/api/health/live").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server did not answer within 60 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def browser(server_url: str) -> Iterator[Browser]:
    require_gui(server_url)
    with chromium() as browser:
        yield browser


def sign_in_with_provider(page: Page, login: str) -> None:
    """From FlowUI's sign-in page: the button, then the provider's development login (any
    password) and consent pages, as a person clicks through them."""
    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def stored_token(page: Page) -> str | None:
    token = page.evaluate("localStorage.getItem('flowui.token')")
    assert token is None or isinstance(token, str)
    return token


def test_single_sign_on_lands_in_the_mapped_workspace_and_signs_out(
    browser: Browser, server_url: str, request: pytest.FixtureRequest
) -> None:
    with browser_page(browser, server_url, request) as page:
        page.goto("/")
        expect(page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")).to_be_visible()
        # Passwords are off: no form, no sign-up.
        expect(page.get_by_label("E-mail")).to_have_count(0)
        expect(page.get_by_text("Sign up")).to_have_count(0)
        screenshot(page, "sso-01-sign-in")

        sign_in_with_provider(page, "ada")

        workspace = page.get_by_role("link", name="Open workspace Analytics")
        expect(workspace).to_be_visible()
        expect(page.get_by_test_id("signed-in-user")).to_have_text("Ada Lovelace")
        # The tokens were taken from the fragment, which left the address bar at once.
        assert page.url == f"{server_url}/"
        assert stored_token(page)
        screenshot(page, "sso-02-workspaces")
        workspace.click()
        expect(page).to_have_url(re.compile(r"/w/\d+/workflows$"))

        page.get_by_test_id("sign-out").click()

        expect(page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")).to_be_visible()
        assert stored_token(page) is None


def test_a_user_whose_groups_map_to_no_workspace_lands_on_the_no_workspace_page(
    browser: Browser, server_url: str, request: pytest.FixtureRequest
) -> None:
    with browser_page(browser, server_url, request) as page:
        page.goto("/")

        sign_in_with_provider(page, "bob")

        expect(page.get_by_test_id("no-workspace")).to_contain_text(NO_WORKSPACE)
        expect(page.get_by_test_id("signed-in-user")).to_have_text("Bob")
        expect(page.get_by_role("link", name=re.compile("^Open workspace"))).to_have_count(0)
        screenshot(page, "sso-03-no-workspace")


def test_a_refused_sign_in_says_why_on_the_sign_in_page(
    browser: Browser, server_url: str, request: pytest.FixtureRequest
) -> None:
    with browser_page(browser, server_url, request) as page:
        # A callback of no sign-in started in this browser (no state cookie) is refused.
        page.goto("/api/auth/oidc/callback?code=stolen&state=stolen")

        expect(page).to_have_url(f"{server_url}/sign-in?error=sign_in_expired")
        expect(page.get_by_role("alert")).to_contain_text("took too long")
        expect(page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")).to_be_visible()
