"""A real OpenID Connect provider for the single sign-on tests: panva's certified `oidc-provider`
(npm, installed here by `make oidc-provider` from package-lock.json) run by provider.js on
127.0.0.1, with one client and test accounts whose claims include groups; and a browser that
signs in on its development login and consent pages."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

HERE = Path(__file__).parent
SCRIPT = HERE / "provider.js"
INSTALL_HINT = "install it with `make oidc-provider` (npm ci in tests/support/oidc_provider)"


@dataclass(frozen=True)
class RunningProvider:
    issuer: str
    client_id: str
    client_secret: str


def server_environment(
    provider: RunningProvider, name: str, role_map: str, *, password_login: bool
) -> dict[str, str]:
    """This process's environment without the developer's own FLOWUI_* and AIRFLOW_* settings,
    with those of single sign-on through `provider` (shown as `name`, groups mapped by
    `role_map`): what a `flowui server run` of the tests and benchmarks is started with."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLOWUI_", "AIRFLOW_"))
    }
    return environ | {
        "FLOWUI_PASSWORD_LOGIN": str(password_login).lower(),
        "FLOWUI_OIDC_ISSUER": provider.issuer,
        "FLOWUI_OIDC_CLIENT_ID": provider.client_id,
        "FLOWUI_OIDC_CLIENT_SECRET": provider.client_secret,
        "FLOWUI_OIDC_PROVIDER_NAME": name,
        "FLOWUI_OIDC_ROLE_MAP": role_map,
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_provider(
    workdir: Path, redirect_uri: str, accounts: dict[str, dict[str, Any]]
) -> Iterator[RunningProvider]:
    """The provider, listening until the block ends (stopped by its PID); the test FAILS, never
    skips, when Node.js or the npm package is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "the single sign-on tests need Node.js (`node` on PATH): apt-get install nodejs"
        )
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"the npm package oidc-provider is missing: {INSTALL_HINT}")
    port = _free_port()
    provider = RunningProvider(f"http://127.0.0.1:{port}", "flowui-test", "test-client-secret-" * 2)
    config = workdir / "oidc-provider.json"
    config.write_text(
        json.dumps(
            {
                "port": port,
                "client": {
                    "client_id": provider.client_id,
                    "client_secret": provider.client_secret,
                    "redirect_uris": [redirect_uri],
                },
                "accounts": accounts,
            }
        )
    )
    log = (workdir / "oidc-provider.log").open("w")
    process = subprocess.Popen(
        [node, str(SCRIPT), str(config)],
        cwd=HERE,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_until_it_answers(provider, process, workdir / "oidc-provider.log")
        yield provider
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        log.close()


def _wait_until_it_answers(
    provider: RunningProvider, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the OpenID provider exited ({process.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"{provider.issuer}/.well-known/openid-configuration").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the OpenID provider did not answer within 30 s:\n{log.read_text()}")


def sign_in_at_provider(authorization_url: str, issuer: str, login: str) -> str:
    """What a person does in a browser at the provider: sign in as `login` (the development
    login page takes any password) and consent; returns the URL it sends the browser back to."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        answer = browser.get(authorization_url)
        for _ in range(12):
            if answer.is_redirect:
                target = urljoin(str(answer.url), answer.headers["location"])
                if not target.startswith(issuer + "/"):
                    return target
                answer = browser.get(target)
                continue
            action = re.search(r'<form[^>]*action="([^"]+)"', answer.text)
            prompt = re.search(r'name="prompt" value="(\w+)"', answer.text)
            if action is None or prompt is None:
                raise AssertionError(
                    f"unexpected provider page ({answer.status_code}):\n{answer.text}"
                )
            form = {"prompt": prompt.group(1)}
            if prompt.group(1) == "login":
                form |= {"login": login, "password": "any password"}
            answer = browser.post(
                urljoin(str(answer.url), html.unescape(action.group(1))), data=form
            )
        raise AssertionError("the provider never sent the browser back")
