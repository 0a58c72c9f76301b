"""The Streamlit side of translation: the session's language, `_` for pages, and the sidebar switch.

    from pages.i18n_ui import _, language
    st.title(_("Users"))
    st.caption(_("{n} users", n=len(rows)))       # named placeholders, str.format style
    st.caption(ngettext("{n} user", "{n} users", len(rows)))

The language is, in order: the one chosen with the sidebar switch in this session; the one the
logged-in user chose before (users.language, migration 0009), adopted once per login; the
browser's (`st.context.locale`); English.
"""

from __future__ import annotations

import streamlit as st

from core.i18n import (
    DEFAULT_LANGUAGE,
    N_,
    available_languages,
    check_language,
    language_from_locale,
    language_name,
    translator,
)

LANGUAGE_KEY = "ui_language"  # the chosen language; kept across log-in and log-out
ADOPTED_KEY = "ui_language_adopted"  # the user id whose stored language this session took
SWITCH_KEY = "ui_language_switch"

__all__ = ["N_", "_", "ngettext", "language", "language_switch", "adopt_user_language", "role_name", "LANGUAGE_KEY"]


def _browser_language() -> str:
    try:
        locale = st.context.locale
    except Exception:  # outside a script run (bare mode, some test harnesses)
        locale = None
    return language_from_locale(locale)


def language() -> str:
    """The session's interface language."""
    chosen = st.session_state.get(LANGUAGE_KEY)
    if chosen is not None:
        return check_language(chosen)
    return _browser_language() or DEFAULT_LANGUAGE


def _(message: str, **values: object) -> str:
    """The message in the session's language; `{name}` placeholders are filled from the keywords."""
    return translator(language())(message, **values)


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    return translator(language()).ngettext(singular, plural, n, **values)


ROLE_NAMES = {"instructor": N_("instructor"), "student": N_("student"), "reviewer": N_("reviewer")}


def role_name(role: str) -> str:
    """A role (core.vocabulary.ROLES) in the session's language."""
    return _(ROLE_NAMES[role]) if role in ROLE_NAMES else role


def adopt_user_language(user_id: int, stored: str | None) -> None:
    """Once per login: the language the user chose last time, if any, becomes the session's."""
    if st.session_state.get(ADOPTED_KEY) == user_id:
        return
    st.session_state[ADOPTED_KEY] = user_id
    if stored and stored in available_languages():
        st.session_state[LANGUAGE_KEY] = stored


def _switched(save) -> None:
    chosen = st.session_state.get(SWITCH_KEY)
    if chosen and chosen != st.session_state.get(LANGUAGE_KEY):
        st.session_state[LANGUAGE_KEY] = chosen
        if save is not None:
            save(chosen)


def language_switch(save=None) -> None:
    """The sidebar's language picker; `save(language)` remembers a logged-in user's choice in the library."""
    languages = available_languages()
    if len(languages) < 2:
        return
    st.session_state[SWITCH_KEY] = language()
    st.sidebar.selectbox(
        _("Language"),
        languages,
        format_func=language_name,
        key=SWITCH_KEY,
        on_change=_switched,
        args=(save,),
    )
