"""Passwords (argon2), session tokens (JWT), personal access tokens (random, kept as SHA-256
digests) and the encryption of stored secrets (Fernet).

One server key, from FLOWUI_SECRET_KEY or a key file made on first start (mode 0600), never a
built-in default; the token-signing key and the encryption key are derived from it apart.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from flowui.storage import write_text_atomically

ACCESS_TOKEN_LIFETIME = timedelta(minutes=30)
REFRESH_TOKEN_LIFETIME = timedelta(days=14)
_ALGORITHM = "HS256"
_PASSWORDS = PasswordHasher()

TokenKind = Literal["access", "refresh"]
# What a personal access token begins with: it tells it from a session's JWT (and lets secret
# scanners find a leaked one).
ACCESS_TOKEN_PREFIX = "flowui_pat_"


def token_digest(token: str) -> str:
    """How an access token is kept and found: its SHA-256 (the token is 256 random bits, so a
    fast digest is enough; no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_access_token() -> tuple[str, str, str]:
    """(token, its digest, the start shown in lists) of a new personal access token."""
    token = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token), token[: len(ACCESS_TOKEN_PREFIX) + 4]


@dataclass(frozen=True)
class TokenIdentity:
    """Who a session's token is for: the user, their token generation, and the session."""

    user_id: int
    generation: int
    session: str


def hash_password(password: str) -> str:
    return _PASSWORDS.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _PASSWORDS.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def load_or_create_key(configured: str | None, key_file: Path) -> bytes:
    """The server key: FLOWUI_SECRET_KEY if set, else the key file, created now if missing."""
    if configured:
        return configured.encode()
    try:
        return key_file.read_text(encoding="ascii").strip().encode()
    except FileNotFoundError:
        pass
    write_text_atomically(key_file, secrets.token_urlsafe(32) + "\n", mode=0o600)
    os.chmod(key_file, 0o600)
    return key_file.read_text(encoding="ascii").strip().encode()


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key)


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted: it was encrypted with another key."""


@dataclass(frozen=True)
class ServerKeys:
    signing_key: bytes
    _fernet: Fernet

    @classmethod
    def from_key(cls, key: bytes) -> ServerKeys:
        encryption = base64.urlsafe_b64encode(_derive(key, b"flowui secrets"))
        return cls(_derive(key, b"flowui tokens"), Fernet(encryption))

    def encrypt(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode("utf-8"))

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode("utf-8")
        except InvalidToken:
            raise SecretDecryptionError(
                "a stored secret cannot be decrypted with this server key "
                "(was FLOWUI_SECRET_KEY or the key file changed?)"
            ) from None

    def issue_token(
        self, user_id: int, generation: int, kind: TokenKind, session: str
    ) -> tuple[str, int]:
        """A signed token of `session` (its public id) and its lifetime in seconds."""
        lifetime = ACCESS_TOKEN_LIFETIME if kind == "access" else REFRESH_TOKEN_LIFETIME
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "gen": generation,
            "kind": kind,
            "sid": session,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self.signing_key, algorithm=_ALGORITHM), int(
            lifetime.total_seconds()
        )

    def read_token(self, token: str, kind: TokenKind) -> TokenIdentity | None:
        """Who a valid, unexpired token of this kind is for, else None."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.signing_key, algorithms=[_ALGORITHM], options={"require": ["exp"]}
            )
            if claims.get("kind") != kind or not isinstance(claims.get("sid"), str):
                return None
            return TokenIdentity(int(claims["sub"]), int(claims["gen"]), claims["sid"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return None
