"""Benchmark: sign-in with a password and through OIDC: median time to the workspace page.

In a real Chromium, against the built GUI, a real server and a real OpenID Connect provider.

Prints, one figure per line: the median and p95 milliseconds from opening `/` in a new browser
context to the user's workspace shown on the workspaces page, signing in with a password and
through the provider (its login and consent pages), the ratio of the medians, and the machine's
load average before and after.

Usage: uv run --frozen python benchmarks/sign_in.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Locator, Page
from server_api import percentile

from flowui.platform import free_port
from flowui.server.context import ServerContext
from flowui.server.models import Membership, Role, User, Workspace
from flowui.server.security import hash_password
from flowui.storage import FileSystemRoot

ROOT = Path(__file__).resolve().parents[1]
# The tests' browser and OpenID provider set-ups are reused as they are.
sys.path.insert(0, str(ROOT))
from tests.support.gui_browser import CHROMIUM, LAPTOP, chromium, require_gui, sign_in  # noqa: E402
from tests.support.oidc_provider import (  # noqa: E402
    RunningProvider,
    running_provider,
    server_environment,
)

FLOWUI = Path(sys.executable).parent / "flowui"
STATIC = ROOT / "src" / "flowui" / "server" / "static"
EMAIL, PASSWORD, PASSWORD_USER = "bench@example.com", "benchmark password", "Bench Password"
WORKSPACE = "Analytics"
PROVIDER_NAME, LOGIN, PROVIDER_USER = "Acme ID", "ada", "Ada Lovelace"
ACCOUNTS = {LOGIN: {"email": "ada@example.com", "name": PROVIDER_USER, "groups": ["data-eng"]}}
# The provider's group maps to the password user's workspace: both sign-ins land on one page.
ROLE_MAP = f"data-eng={WORKSPACE}:write"


def store_password_user(project: Path) -> None:
    """The password user, owner of the workspace the role map names, written to the database
    directly."""
    context = ServerContext.open(FileSystemRoot(project / "fs"))
    try:
        with context.sessions() as session:
            user = User(
                email=EMAIL, password_hash=hash_password(PASSWORD), display_name=PASSWORD_USER
            )
            workspace = Workspace(name=WORKSPACE)
            workspace.memberships.append(Membership(user=user, role=Role.OWNER))
            session.add(workspace)
            session.commit()
    finally:
        context.close()


def start_server(project: Path, port: int, provider: RunningProvider) -> subprocess.Popen[bytes]:
    """`flowui server run` with passwords and the provider both on, once it answers; its log
    goes to server.log in the project."""
    environ = server_environment(provider, PROVIDER_NAME, ROLE_MAP, password_login=True)
    log = project / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(FLOWUI), "server", "run", "--project", str(project), "--port", str(port)],
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health/live").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.terminate()
    server.wait(timeout=30)
    raise SystemExit(f"the server did not start within 60 s:\n{log.read_text()}")


def workspace_card(page: Page) -> Locator:
    """What marks the end of a sign-in: the workspace on the workspaces page."""
    return page.get_by_test_id(f"workspace-{WORKSPACE}")


def sign_in_with_password(page: Page) -> None:
    sign_in(page, EMAIL, PASSWORD)


def sign_in_with_provider(page: Page) -> None:
    """The button, then the provider's development login page (any password) and its consent
    page when it asks."""
    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    page.locator("input[name=login]").fill(LOGIN)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    consent = page.get_by_role("button", name="Continue")
    consent.or_(workspace_card(page)).first.wait_for()
    if consent.is_visible():
        consent.click()


def timed_sign_in(
    browser: Browser, base_url: str, steps: Callable[[Page], None], user: str
) -> float:
    """Milliseconds from opening `/` in a new browser context (no cookies, no cache, no
    provider session) to the workspace shown; checks that `user` is the one signed in."""
    context = browser.new_context(viewport=LAPTOP, base_url=base_url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        started = time.perf_counter()
        page.goto("/")
        steps(page)
        workspace_card(page).wait_for()
        elapsed = (time.perf_counter() - started) * 1000
        shown = page.get_by_test_id("signed-in-user").text_content()
        if shown != user or errors:
            raise SystemExit(f"signed in as {shown!r}, not {user!r}; the GUI's errors: {errors}")
        return elapsed
    finally:
        context.close()


def measure(browser: Browser, base_url: str, rounds: int) -> dict[str, list[float]]:
    """Milliseconds per sign-in of each way, `rounds` of each after one warm-up round; the order
    alternates so that neither way always follows the other."""
    ways = {
        "password": (sign_in_with_password, PASSWORD_USER),
        "oidc": (sign_in_with_provider, PROVIDER_USER),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for round_ in range(rounds + 1):
        for name in list(ways) if round_ % 2 == 0 else list(reversed(ways)):
            elapsed = timed_sign_in(browser, base_url, *ways[name])
            if round_:  # round 0 warms the server's code paths and its provider discovery
                times[name].append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="Sign-ins of each way timed.")
    arguments = parser.parse_args()
    if arguments.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not (STATIC / "index.html").is_file():
        print(
            f"the built GUI is missing ({STATIC.relative_to(ROOT)}): run `make gui` first",
            file=sys.stderr,
        )
        sys.exit(2)

    load_before = " ".join(f"{load:.2f}" for load in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="flowui-bench-sign-in-") as directory:
        project = Path(directory)
        (project / "config.ini").write_text(
            f"[project]\nVOLUME_MOUNT_PATH_HOST = {project / 'fs'}\n"
        )
        store_password_user(project)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        callback = f"{base_url}/api/auth/oidc/callback"
        with running_provider(project, callback, ACCOUNTS) as provider:
            server = start_server(project, port, provider)
            try:
                require_gui(base_url)
                with chromium() as browser:
                    times = measure(browser, base_url, arguments.rounds)
                load_after = " ".join(f"{load:.2f}" for load in os.getloadavg())
            finally:
                server.terminate()
                server.wait(timeout=30)

    print(
        f"chromium: {CHROMIUM}, server: flowui server run (SQLite), provider: oidc-provider "
        f"(Node.js), viewport 1440x900, rounds: {arguments.rounds} of each (+1 warm-up)"
    )
    print(f"cpus: {os.cpu_count()}, load average before/after: {load_before} / {load_after}")
    for name, values in times.items():
        print(f"{name}_sign_in_samples_ms: {' '.join(f'{value:.0f}' for value in values)}")
        print(f"{name}_sign_in_median_ms: {statistics.median(values):.0f}")
        print(f"{name}_sign_in_p95_ms: {percentile(values, 0.95):.0f}")
    ratio = statistics.median(times["oidc"]) / statistics.median(times["password"])
    print(f"oidc_to_password_median_ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
