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
from core.safe_text import md_param

LANGUAGE_KEY = "ui_language"  # the chosen language; kept across log-in and log-out
ADOPTED_KEY = "ui_language_adopted"  # the user id whose stored language this session took
SWITCH_KEY = "ui_language_switch"

__all__ = [
    "N_",
    "_",
    "ngettext",
    "worded",
    "language",
    "language_switch",
    "adopt_user_language",
    "role_name",
    "outcome_name",
    "shown_as",
    "from_template",
    "choices_placeholder",
    "certainty_level",
    "uncertainty_reason",
    "guard_reason",
    "LANGUAGE_KEY",
]


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


def worded(error: BaseException) -> str:
    """A refusal's text in the session's language, for a Markdown element (st.error…): db's LibraryError, the
    decoder's ImageRejected and every other core.vocabulary.Worded through the catalogue, any other exception
    as it is; the names, titles and zip entries inside it escaped (core.safe_text), so they show as typed."""
    return translator(language()).worded(error, escape=md_param)


def shown_as(names: dict | None = None, other=None):
    """A widget's format_func for values that are English keys: each shown in the session's language.

    `names` maps a value to its msgid (N_-marked); without it the value is the msgid. A value not in
    `names` is shown by `other(value)`, else as it is. Bound to the language now: Streamlit's AppTest
    calls format_func outside the script run, where the session's language is not known.
    """
    translate = translator(language())

    def show(value) -> str:
        if names is None:
            return translate(value) if isinstance(value, str) else str(value)
        if value in names:
            return translate(names[value])
        return other(value) if other is not None else str(value)

    return show


def choices_placeholder(options) -> str:
    """A multiselect's placeholder in the session's language (Streamlit's own is English)."""
    return _("Choose options") if len(options) else _("No options to select")


def from_template(text: str, *templates: str) -> str:
    """A text the domain formatted from one of `templates` (N_-marked, named placeholders), in the session's
    language; a text that matches none is translated as a msgid, or shown as it is (core.i18n.Translator)."""
    return translator(language()).from_template(text, *templates)


ROLE_NAMES = {"instructor": N_("instructor"), "student": N_("student"), "reviewer": N_("reviewer")}


def role_name(role: str) -> str:
    """A role (core.vocabulary.ROLES) in the session's language."""
    return _(ROLE_NAMES[role]) if role in ROLE_NAMES else role


OUTCOME_NAMES = {
    "correct": N_("correct"),
    "false_positive": N_("false positive"),
    "false_negative": N_("false negative"),
    "wrong": N_("wrong"),
}


def outcome_name(outcome: str | None) -> str:
    """core.vocabulary's outcome (correct, false_positive, …) in the session's language; "" for none."""
    if not outcome:
        return ""
    return _(OUTCOME_NAMES[outcome]) if outcome in OUTCOME_NAMES else outcome.replace("_", " ")


CERTAINTY_LEVELS = {"confident": N_("confident"), "uncertain": N_("uncertain"), "unreliable": N_("unreliable")}


def certainty_level(level: str) -> str:
    """core.reliability.uncertainty's level in the session's language."""
    return _(CERTAINTY_LEVELS[level]) if level in CERTAINTY_LEVELS else level


def uncertainty_reason(reason: str, certainty, probability: float, threshold: float) -> str:
    """One of core.reliability.uncertainty's reasons (English words) in the session's language."""
    from core.formatting import share
    from core.reliability.uncertainty import UNUSUAL_FAMILIARITY
    from core.reports.facts import IN_BAND, INPUT_CHECK_FLAGGED, UNLIKE_TRAINING, UNUSUAL_IMAGE, reason_code

    lang = language()
    code = reason_code(reason)
    if code == IN_BAND:
        return _(
            "P(pneumonia) {p} lies in the uncertain band {low}–{high} around the threshold {threshold}",
            p=share(probability, 0, lang),
            low=share(certainty.band[0], 0, lang),
            high=share(certainty.band[1], 0, lang),
            threshold=share(threshold, 0, lang),
        )
    if code == INPUT_CHECK_FLAGGED:
        return _("the input check judged this image not to be a frontal chest X-ray; it was analysed anyway")
    if code == UNLIKE_TRAINING:
        return _("this chest X-ray is unlike the training films (pediatric, one centre): the output is unreliable")
    if code == UNUSUAL_IMAGE:
        return _(
            "the image is more unusual than {share} of validation X-rays",
            share=share(1 - UNUSUAL_FAMILIARITY / 100, 0, lang),
        )
    return reason


def guard_reason(reason: str) -> str:
    """The input check's reason (core.reliability.input_check.REASONS, figures and all) in the session's language."""
    from core.reliability.input_check import REASONS

    return from_template(reason, *REASONS)


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
