"""The HTTP side of a login: the only place the session cookie is written or cleared.

A Streamlit script cannot set a cookie (st.context.cookies only reads the ones the browser sent when the
page opened), and a cookie written by JavaScript cannot be HttpOnly. So the app is served through `st.App`
(app.py) with two routes of its own:

- POST /api/session with header X-CXR-Handoff: a one-time code the script got from `offer()` right after a
  login or rotation; the response sets the cookie (HttpOnly, SameSite=Strict, Secure over https, Max-Age =
  the session's remaining life). The code lives in this process's memory for at most HANDOFF_SECONDS and
  works once, so neither the token nor anything that could be replayed later travels in a URL or a log.
- POST /api/logout: clears the cookie (the script has revoked the session in the library already).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.services.sessions import Issued
from core.session_tokens import COOKIE_NAME

SESSION_ROUTE, LOGOUT_ROUTE = "/api/session", "/api/logout"
HANDOFF_HEADER = "X-CXR-Handoff"
HANDOFF_SECONDS = 60.0


@dataclass(frozen=True)
class _Pending:
    cookie_value: str
    max_age: int
    deadline: float

    def __repr__(self) -> str:
        return f"_Pending(max_age={self.max_age})"


_pending: dict[str, _Pending] = {}
_lock = threading.Lock()


def _key(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()


def offer(issued: Issued) -> str:
    """A one-time code the browser exchanges for the cookie of `issued`."""
    code = secrets.token_urlsafe(32)
    now = time.monotonic()
    with _lock:
        for stale in [k for k, p in _pending.items() if p.deadline <= now]:
            del _pending[stale]
        _pending[_key(code)] = _Pending(issued.cookie_value, issued.max_age, now + HANDOFF_SECONDS)
    return code


def redeem(code: str | None) -> _Pending | None:
    """The pending cookie for `code`, once; None when unknown, used or too old."""
    if not code:
        return None
    with _lock:
        found = _pending.pop(_key(code), None)
    return found if found is not None and found.deadline > time.monotonic() else None


def _served_over_https(request: Request) -> bool:
    # Behind a TLS-terminating proxy the scheme arrives in X-Forwarded-Proto; trusting it can only add Secure.
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def set_session_cookie(request: Request) -> Response:
    pending = redeem(request.headers.get(HANDOFF_HEADER))
    if pending is None:
        return _no_store(Response(status_code=403))
    response = Response(status_code=204)
    response.set_cookie(
        COOKIE_NAME,
        pending.cookie_value,
        max_age=pending.max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_served_over_https(request),
    )
    return _no_store(response)


def clear_session_cookie(request: Request) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=_served_over_https(request))
    return _no_store(response)


def routes() -> list[Route]:
    return [
        Route(SESSION_ROUTE, set_session_cookie, methods=["POST"]),
        Route(LOGOUT_ROUTE, clear_session_cookie, methods=["POST"]),
    ]
