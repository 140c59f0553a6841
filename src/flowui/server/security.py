"""Passwords (argon2), tokens (JWT) and the encryption of stored secrets (Fernet).

One server key, from FLOWUI_SECRET_KEY or a key file made on first start (mode 0600), never a
built-in default; the token-signing key and the encryption key are derived from it apart.
"""

from __future__ import annotations

import base64
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

    def issue_token(self, user_id: int, generation: int, kind: TokenKind) -> tuple[str, int]:
        """A signed token and its lifetime in seconds."""
        lifetime = ACCESS_TOKEN_LIFETIME if kind == "access" else REFRESH_TOKEN_LIFETIME
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "gen": generation,
            "kind": kind,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self.signing_key, algorithm=_ALGORITHM), int(
            lifetime.total_seconds()
        )

    def read_token(self, token: str, kind: TokenKind) -> tuple[int, int] | None:
        """(user id, generation) of a valid, unexpired token of this kind, else None."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.signing_key, algorithms=[_ALGORITHM], options={"require": ["exp"]}
            )
            if claims.get("kind") != kind:
                return None
            return int(claims["sub"]), int(claims["gen"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return None
