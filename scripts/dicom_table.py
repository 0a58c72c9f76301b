"""What the upload decoder makes of every file in pydicom's test files and in pydicom-data: a Markdown table.

    .venv/bin/python scripts/dicom_table.py           # one row per file; dicomdirtests folders of alike files grouped
    .venv/bin/python scripts/dicom_table.py --each    # one row per file, no grouping

Each file goes through `core.imaging.decode.load_image`, the entry point of uploads, exactly as an upload
would: read (size of the 8-bit picture) or refused with the refusal's English text. tests/test_dicom_archive.py
holds the expected decision of each file, so a change in any of them fails there.
"""

from __future__ import annotations

import argparse
import io
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class ArchiveFile:
    name: str  # relative to its package's data folder (dicomdirtests/… kept)
    source: str  # "pydicom" or "pydicom-data"
    path: Path


def archive_files() -> list[ArchiveFile]:
    """Every file pydicom's `get_testdata_files()` lists (its own test files and pydicom-data's), folders left out.

    Offline, pydicom lists only what is installed: files its data manager would download are not among them.
    """
    import pydicom.data
    from pydicom.data import get_testdata_files

    own = Path(pydicom.data.__file__).resolve().parent / "test_files"
    found = []
    for raw in get_testdata_files():
        path = Path(raw).resolve()
        if not path.is_file():
            continue
        if path.is_relative_to(own):
            found.append(ArchiveFile(path.relative_to(own).as_posix(), "pydicom", path))
        else:
            found.append(ArchiveFile(path.name, "pydicom-data", path))
    return sorted(found, key=lambda f: (f.source != "pydicom", f.name.count("/"), f.name.lower()))


@dataclass(frozen=True)
class Row:
    file: ArchiveFile
    syntax: str
    kind: str  # modality / photometric interpretation
    size: str  # columns × rows (× frames)
    decision: str  # "read" or "refused"
    reason: str  # refusal text (English), or what was read
    message: str | None  # the refusal's catalogue msgid (stable key for tests)


def _header(data: bytes) -> tuple[str, str, str]:
    """Transfer syntax, modality / photometric and size as the file declares them (never its identifiers)."""
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
    except Exception:
        return "—", "—", "—"
    if len(ds) < 2 and "SOPClassUID" not in ds:
        return "—", "—", "—"  # not DICOM: blind parsing gives at most one junk element
    syntax = getattr(ds, "file_meta", {}).get("TransferSyntaxUID")
    if syntax is not None:
        syntax_text = syntax.name
    else:
        implicit, little = ds.original_encoding
        guessed = "implicit VR" if implicit else "explicit VR"
        syntax_text = f"none (no file meta; {guessed} {'little' if little else 'big'} endian)"
    try:
        kind = f"{ds.get('Modality') or '—'} / {ds.get('PhotometricInterpretation') or '—'}"
    except Exception:
        kind = "malformed"
    try:
        rows, cols = ds.get("Rows"), ds.get("Columns")
        size = f"{cols}×{rows}" if rows and cols else "—"
        frames = ds.get("NumberOfFrames")
        if size != "—" and frames is not None:
            size += f" ×{frames} frames"
    except Exception:  # a malformed value (badVR.dcm's NumberOfFrames "1A")
        size = "malformed"
    return syntax_text, kind, size


def decide(file: ArchiveFile) -> Row:
    from core.imaging.decode import ImageRejected, load_image

    data = file.path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's notes on odd files; the decision is what counts here
        syntax, kind, size = _header(data)
        try:
            image = load_image(data)
        except ImageRejected as refusal:
            return Row(file, syntax, kind, size, "refused", str(refusal), refusal.message)
    what = f"{image.width}×{image.height} 8-bit grey"
    if image.colourfulness > 0:  # colour is converted; the input check's stage 1 judges the colourfulness
        what += f", converted from colour (colourfulness {image.colourfulness:.0f})"
    return Row(file, syntax, kind, size, "read", what, None)


def _grouped(rows: list[Row]) -> Iterator[tuple[str, Row, int]]:
    """dicomdirtests' series folders hold many alike slices: one line per folder and outcome."""
    groups: dict[tuple, list[Row]] = {}
    order: list[tuple] = []
    for row in rows:
        folder = row.file.name.rsplit("/", 1)[0] if row.file.name.startswith("dicomdirtests/") else row.file.name
        key = (folder, row.syntax, row.kind, row.size, row.decision, row.message)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(row)
    for key in order:
        members = groups[key]
        if len(members) <= 3:
            label = ", ".join(m.file.name for m in members)
        else:
            label = f"{key[0]}/ ({len(members)} files alike)"
        yield label, members[0], len(members)


def markdown(rows: list[Row], each: bool = False) -> str:
    lines = [
        "| file | source | transfer syntax | modality / photometric | size | decision | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    entries = ((r.file.name, r, 1) for r in rows) if each else _grouped(rows)
    for label, row, _count in entries:
        cells = [f"`{label}`", row.file.source, row.syntax, row.kind, row.size, f"**{row.decision}**", row.reason]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    read = sum(r.decision == "read" for r in rows)
    lines.append("")
    lines.append(f"{len(rows)} files: {read} read, {len(rows) - read} refused.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--each", action="store_true", help="one row per file (no grouping of dicomdirtests folders)")
    args = parser.parse_args(argv)
    print(markdown([decide(f) for f in archive_files()], each=args.each))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
