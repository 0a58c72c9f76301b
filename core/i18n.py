"""Translations: gettext catalogues in `locales/`, read and compiled in memory by Babel. No Streamlit.

    from core.i18n import translator
    _ = translator("ko")
    _("Log in")                                   # the catalogue's msgstr, or the English msgid
    _("Logged in as **{name}**", name=user.name)  # placeholders are named, str.format style
    _.ngettext("{n} case", "{n} cases", n)        # the count is the placeholder {n}
    N_("Analyze")                                 # marks a string for extraction; translated later by _()
    _.worded(exc)                                 # a core.vocabulary.Worded exception, e.g. db.errors.LibraryError

Messages are written in English (the msgid) with *named* `{placeholders}` filled by keyword only, so
a translation may reorder them. The catalogues are `locales/<language>/LC_MESSAGES/messages.po`,
extracted with `pybabel extract` (babel.cfg; `scripts/i18n.sh` extracts and updates them). They are
compiled the first time a language is asked for (no `.mo` files to build or to go stale), and a
third language needs only a new catalogue: `available_languages()` lists every folder that has one.
English is the default and the fallback: an untranslated message, or an unknown language, shows
the msgid.

Pages take the session's language from `pages/i18n_ui.py`; services and the domain are handed it.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from core.settings import REPO_ROOT
from core.vocabulary import N_ as N_  # re-exported: the one marker, also used by db/
from core.vocabulary import Term, Worded

LOCALE_DIR = REPO_ROOT / "locales"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def available_languages() -> tuple[str, ...]:
    """English first, then every language with a catalogue in locales/."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (DEFAULT_LANGUAGE, *[lang for lang in found if lang != DEFAULT_LANGUAGE])


def check_language(language: str | None) -> str:
    """A language this installation has a catalogue for; anything else is the default (English)."""
    return language if language in available_languages() else DEFAULT_LANGUAGE


def language_from_locale(locale: str | None) -> str:
    """A browser locale ("ko-KR", "en-US", "pt_BR") → the best language we have, else English."""
    if not locale or not _TAG.match(locale.strip()):
        return DEFAULT_LANGUAGE
    tag = locale.strip().replace("-", "_")
    languages = available_languages()
    parts = tag.split("_")
    for candidate in (f"{parts[0].lower()}_{'_'.join(parts[1:])}" if len(parts) > 1 else "", parts[0].lower()):
        if candidate and candidate in languages:
            return candidate
    return DEFAULT_LANGUAGE


def language_name(language: str) -> str:
    """The language's own name for itself: "English", "한국어"."""
    try:
        locale = Locale.parse(language)
    except (ValueError, UnknownLocaleError):
        return language
    name = locale.get_display_name(locale) or language
    return name[:1].upper() + name[1:]


@functools.cache
def _translations(language: str) -> Translations:
    path = catalogue_path(language)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)  # a fuzzy entry is not a translation: the msgid shows
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@functools.cache
def _template_pattern(template: str) -> re.Pattern[str]:
    """`template`'s text with each `{name}` a named group matching what was filled in."""
    return re.compile(
        "".join(
            f"(?P<{part[1:-1]}>.*?)" if re.fullmatch(r"\{\w+\}", part) else re.escape(part)
            for part in re.split(r"(\{\w+\})", template)
        ),
        re.S,
    )


class Translator:
    """`_` for one language: call it with a message (and named placeholders), or use .ngettext."""

    def __init__(self, language: str) -> None:
        self.language = check_language(language)
        self._gettext = _translations(self.language) if catalogue_path(self.language).is_file() else Translations()

    def __call__(self, message: str, **values: object) -> str:
        text = self._gettext.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        return self._gettext.ngettext(singular, plural, n).format(n=n, **values)

    def from_template(self, text: str, *templates: str) -> str:
        """A text the domain formatted from one of `templates` (N_-marked, named placeholders; e.g. a reason
        stored in the library), in this language; a text that matches none is translated as a msgid."""
        for template in templates:
            found = _template_pattern(template).fullmatch(text)
            if found:
                return self(template, **found.groupdict())
        return self(text)

    def worded(self, error: BaseException, escape: Callable[[object], object] | None = None) -> str:
        """An exception's text in this language: a `Worded` one through the catalogue (a parameter that is
        itself Worded, e.g. the decoder's reason inside an import refusal, or a Term, translated too); any other
        exception as it is. `escape` (pages: core.safe_text.md_param) is applied to every other parameter, and
        to a plain exception's text: a name or a zip entry inside a refusal shown as Markdown stays text."""
        if not isinstance(error, Worded):
            return str(escape(str(error))) if escape is not None else str(error)
        return self(error.message, **{key: self._parameter(value, escape) for key, value in error.params.items()})

    def _parameter(self, value: object, escape: Callable[[object], object] | None = None) -> object:
        if isinstance(value, Worded):
            return self.worded(value, escape)
        if isinstance(value, Term):
            return self(value)
        return escape(value) if escape is not None else value

    def __repr__(self) -> str:
        return f"Translator({self.language!r})"


@functools.cache
def translator(language: str | None) -> Translator:
    return Translator(check_language(language))


def reload_catalogues() -> None:
    """Forget compiled catalogues (after the .po files changed, e.g. in tests)."""
    for cached in (available_languages, _translations, translator):
        cached.cache_clear()
