"""Extract the messages (babel.cfg) and bring every catalogue in locales/ up to date.

    .venv/bin/python scripts/i18n.py          # extract → locales/messages.pot → update each messages.po
    .venv/bin/pybabel init -i locales/messages.pot -d locales -l fr   # a new language: then translate it

The English catalogue is filled with the messages themselves (msgstr = msgid), so that every
catalogue is complete and a test can say so. Catalogues are compiled in memory when the app reads
them (core.i18n): there is no .mo file to build.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
TEMPLATE = LOCALES / "messages.pot"


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def fill_english() -> None:
    path = LOCALES / "en" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    for message in catalog:
        if message.id:
            message.string = message.id
            message.flags.discard("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog, width=120, omit_header=False)


def main() -> int:
    import os

    os.chdir(ROOT)
    LOCALES.mkdir(exist_ok=True)
    pybabel(
        "extract", "-F", "babel.cfg", "--add-location=file", "--sort-output", "--width=120",
        "--project=CXR Teaching Lab", "--copyright-holder=CXR Teaching Lab", "-o", str(TEMPLATE), ".",
    )  # fmt: skip
    for language in ("en", "ko"):
        if not (LOCALES / language / "LC_MESSAGES" / "messages.po").exists():
            pybabel("init", "-i", str(TEMPLATE), "-d", str(LOCALES), "-l", language, "--width=120")
    pybabel(
        "update", "-i", str(TEMPLATE), "-d", str(LOCALES), "--no-fuzzy-matching", "--ignore-obsolete", "--width=120"
    )
    fill_english()
    return 0


if __name__ == "__main__":
    sys.exit(main())
