"""The server's HTTP API under test (a FastAPI TestClient): signed-in users, workspaces and
their members, a dataset upload, and the API's one error shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from flowui.server.context import ServerContext
from flowui.server.models import User


@dataclass
class ApiUser:
    """A signed-in user of the API under test."""

    client: TestClient
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.client.get(url, headers=self.headers, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.client.post(url, headers=self.headers, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Response:
        return self.client.patch(url, headers=self.headers, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Response:
        return self.client.put(url, headers=self.headers, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        return self.client.delete(url, headers=self.headers, **kwargs)


def sign_up(client: TestClient, email: str, password: str = "correct horse battery") -> ApiUser:
    """Register a user through the API and sign in."""
    registered = client.post("/api/auth/register", json={"email": email, "password": password})
    assert registered.status_code == 201, registered.text
    login = client.post("/api/auth/login", data={"username": email, "password": password})
    assert login.status_code == 200, login.text
    return ApiUser(client, email, password, login.json()["access_token"])


def make_platform_admin(context: ServerContext, user: ApiUser) -> None:
    """Make `user` a platform administrator (as the first administrator is)."""
    with context.sessions() as session:
        session.execute(update(User).where(User.email == user.email).values(is_admin=True))
        session.commit()


def new_workspace(user: ApiUser, name: str = "Data team") -> int:
    """A workspace `user` owns; its id."""
    created = user.post("/api/workspaces", json={"name": name})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def join(owner: ApiUser, workspace: int, user: ApiUser, role: str) -> ApiUser:
    """`user` made a member of `workspace` with `role`: invited by `owner`, then accepted."""
    invitation = owner.post(
        f"/api/workspaces/{workspace}/invitations", json={"email": user.email, "role": role}
    )
    assert invitation.status_code == 201, invitation.text
    accepted = user.post(f"/api/invitations/{invitation.json()['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return user


def upload_dataset(
    user: ApiUser,
    workspace: int,
    data: bytes,
    *,
    name: str = "sales",
    filename: str = "sales.csv",
    content_type: str = "text/csv",
) -> Response:
    """`user` uploads `data` as a dataset of `workspace` (a multipart form, as the GUI sends
    it); the API's answer, unchecked."""
    return user.post(
        f"/api/workspaces/{workspace}/datasets",
        data={"name": name},
        files={"file": (filename, data, content_type)},
    )


def error_of(response: Response) -> dict[str, Any]:
    """The error of a response, checked to have the API's one error shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["status"] == response.status_code
    assert set(error) == {"status", "code", "message", "details"}
    return error
