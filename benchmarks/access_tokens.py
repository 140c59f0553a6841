"""Benchmark: what a personal access token's check costs against a session's.

Prints, one figure per line: p50/p95 latency of GET /api/workspaces called with a session's
token and with a personal access token, alternately, over a real uvicorn server on 127.0.0.1
(SQLite, the embedded default, or PostgreSQL with `--database URL`) holding `--tokens` tokens,
and the difference of the p95s against the target (at most 1 ms).

Usage: uv run --frozen python benchmarks/access_tokens.py [--tokens 1000] [--requests 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from server_api import percentile, start_server

from flowui.server.context import ServerContext
from flowui.server.models import AccessToken, Membership, Role, User, Workspace, utc_now
from flowui.server.security import hash_password, new_access_token
from flowui.storage import FileSystemRoot

EMAIL, PASSWORD = "bench@example.com", "benchmark password"


def store_tokens(context: ServerContext, count: int) -> str:
    """A user with a workspace and `count` tokens (one of them returned, the others of other
    users), as the server keeps them."""
    now = utc_now()
    with context.sessions() as session:
        user = User(email=EMAIL, password_hash=hash_password(PASSWORD), display_name="bench")
        workspace = Workspace(name="bench")
        workspace.memberships.append(Membership(user=user, role=Role.OWNER))
        session.add(workspace)
        others = [User(email=f"user{n}@example.com", password_hash="-") for n in range(10)]
        session.add_all(others)
        session.flush()
        mine = ""
        for index in range(count):
            token, digest, shown = new_access_token()
            owner = user if index == count // 2 else others[index % len(others)]
            mine = token if owner is user else mine
            session.add(
                AccessToken(
                    user_id=owner.id,
                    name=f"token {index}",
                    digest=digest,
                    shown_prefix=shown,
                    expires_at=now + timedelta(days=30),
                )
            )
        session.commit()
    return mine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=1000, help="Requests per figure.")
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: SQLite).")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flowui-bench-tokens-") as directory:
        project = Path(directory)
        (project / "config.ini").write_text(
            f"[project]\nVOLUME_MOUNT_PATH_HOST = {project / 'fs'}\n"
            + (
                f"[platform]\nFLOWUI_DATABASE_URL = {arguments.database}\n"
                * bool(arguments.database)
            )
        )
        context = ServerContext.open(FileSystemRoot(project / "fs"), database=arguments.database)
        token = store_tokens(context, arguments.tokens)
        context.close()
        print(f"stored_tokens: {arguments.tokens}")

        server, base_url = start_server(project)
        try:
            login = httpx.post(
                f"{base_url}/api/auth/login", data={"username": EMAIL, "password": PASSWORD}
            )
            bearers = {
                "session": f"Bearer {login.json()['access_token']}",
                "token": f"Bearer {token}",
            }
            timings: dict[str, list[float]] = {kind: [] for kind in bearers}
            with httpx.Client(base_url=base_url) as client:
                for round_ in range(arguments.requests + 50):  # the first 50: warm-up
                    for kind, bearer in bearers.items():
                        started = time.perf_counter()
                        answer = client.get("/api/workspaces", headers={"Authorization": bearer})
                        elapsed = (time.perf_counter() - started) * 1000
                        answer.raise_for_status()
                        assert len(answer.json()) == 1, answer.text
                        if round_ >= 50:
                            timings[kind].append(elapsed)
        finally:
            server.terminate()
            server.wait(timeout=30)
    for kind, values in timings.items():
        print(f"{kind}_p50_ms: {statistics.median(values):.2f}")
        print(f"{kind}_p95_ms: {percentile(values, 0.95):.2f}")
    added = percentile(timings["token"], 0.95) - percentile(timings["session"], 0.95)
    print(f"token_check_added_p95_ms: {added:.2f}")
    verdict = "PASS" if added <= 1 else "FAIL"
    print(f"token_check_target: <= 1 ms at {arguments.tokens} tokens {verdict}")


if __name__ == "__main__":
    main()
