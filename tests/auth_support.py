"""Log a user into an AppTest the way the login form leaves it: only the user's id in session_state.

Real browsers cannot write session_state, so this is no back door; tests that check the login
form itself (tests/test_quiz_and_roles.py) use the form.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.settings import database_url
from db.engine import ensure_library, session_scope
from db.users import create_user, find_user

TEST_PASSWORD = "test-password-123"


def ensure_user(name: str = "tester", roles=("instructor",)) -> int:
    with session_scope(ensure_library(database_url())) as s:
        user = find_user(s, name) or create_user(s, name, TEST_PASSWORD, list(roles))
        return user.id


def logged_in(at: AppTest, name: str = "tester", roles=("instructor",)) -> AppTest:
    at.session_state["auth_user_id"] = ensure_user(name, roles)
    return at
