"""Login tokens as they travel in the browser's cookie: random, signed, expiring. No I/O here.

A cookie value reads `v1.<token>.<expires>.<signature>`: 32 random bytes (URL-safe base64), the
expiry in Unix seconds, and an HMAC-SHA256 of both under the library's signing key. The signature
lets a forged or edited cookie be refused before the database is asked; the database keeps only
`token_hash(token)`, so a copy of the library cannot be replayed as a login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

COOKIE_NAME = "cxr_session"
VERSION = "v1"
TOKEN_BYTES = 32


def new_token() -> str:
    """A fresh random token: a new one at every login and every rotation, never reused."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the database stores and looks up instead of the token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _signature(key: bytes, token: str, expires: int) -> str:
    mac = hmac.new(key, f"{VERSION}.{token}.{expires}".encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def sign(key: bytes, token: str, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{VERSION}.{token}.{expires}.{_signature(key, token, expires)}"


def verified_token(key: bytes, cookie_value: str | None, now: datetime | None = None) -> str | None:
    """The token inside a cookie value whose signature holds and whose expiry is ahead; otherwise None."""
    parts = (cookie_value or "").split(".")
    if len(parts) != 4 or parts[0] != VERSION or not parts[2].isdigit():
        return None
    _version, token, expires_text, signature = parts
    try:
        expected = _signature(key, token, int(expires_text))
    except UnicodeEncodeError:
        return None
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
        return None
    now = now or datetime.now(UTC)
    return token if int(expires_text) > now.timestamp() else None
