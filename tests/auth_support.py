"""Log a user into an AppTest the way the login form leaves it: a server-side session, its id in session_state.

Real browsers cannot write session_state, so this is no back door; tests that check the login
form itself (tests/test_quiz_and_roles.py) use the form.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.services.sessions import issue
from core.settings import database_url
from db.engine import ensure_library, session_scope
from db.operator import OPERATOR
from db.users import create_user, find_user

TEST_PASSWORD = "test-password-123"


def ensure_user(name: str = "tester", roles=("instructor",)) -> int:
    with session_scope(ensure_library(database_url())) as s:
        user = find_user(s, name) or create_user(s, OPERATOR, name, TEST_PASSWORD, list(roles))
        return user.id


def sign_in(at: AppTest, user_id: int) -> AppTest:
    """A new server session for `user_id`, held by this AppTest as the login form would leave it."""
    with session_scope(ensure_library(database_url())) as s:
        at.session_state["auth_session_id"] = issue(s, user_id).session_id
    at.session_state["auth_cookie_checked"] = True
    return at


def logged_in(at: AppTest, name: str = "tester", roles=("instructor",)) -> AppTest:
    return sign_in(at, ensure_user(name, roles))
