"""Teaching sets as zip files: export from one library, import into another without duplicates.

A zip from elsewhere is untrusted. Before anything is written we check every member's name
(no paths outside `images/`, no links), its size as declared *and* as actually read (zip
bombs lie in headers), the manifest's structure, and that each image decodes as a valid
radiograph whose pixels match the hash the manifest claims.
"""

from __future__ import annotations

import io
import json
import re
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from core.vocabulary import CLASS_NAMES, DIFFICULTIES, N_, Worded
from db import repository, teaching
from db.codec import encode_image
from db.errors import LibraryError
from db.permissions import Actor, require

if TYPE_CHECKING:
    import numpy as np

FORMAT = "cxr-teaching-lab/teaching-set"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
IMAGE_NAME = re.compile(r"^images/([0-9a-f]{64})\.png$")
MAX_ARCHIVE_BYTES = 200 * 2**20
MAX_MEMBERS = 2001
MAX_MANIFEST_BYTES = 5 * 2**20
MAX_TOTAL_BYTES = 1024 * 2**20
MAX_COMPRESSION_RATIO = 100  # PNGs are compressed already; far higher ratios mean a bomb


class BadArchive(LibraryError):
    """The zip is refused; the message says why. Nothing was imported."""


@dataclass
class ImportResult:
    set_name: str
    set_created: bool
    cases_added: int = 0
    cases_already_present: int = 0
    added_to_set: int = 0
    notes: list[Worded] = field(default_factory=list)  # shown through the catalogue; str() is English


def export_set(session: Session, set_id: int) -> bytes:
    row = teaching.get_set(session, set_id)
    cases = teaching.set_cases(session, set_id)
    entries: list[dict[str, object]] = []
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "set": {"name": row.name, "description": row.description, "published": row.published},
        "cases": entries,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for case in cases:
            name = f"images/{case.image.sha256}.png"
            zf.writestr(name, case.image.png, compress_type=zipfile.ZIP_STORED)
            entries.append(
                {
                    "image": name,
                    "sha256": case.image.sha256,
                    "title": case.title,
                    "truth_label": case.truth_label,
                    "truth_set_by": case.truth_set_by,
                    "notes": case.notes,
                    "tags": [t.tag for t in case.tags],
                    "difficulty": case.difficulty,
                }
            )
        zf.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
    return buf.getvalue()


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise BadArchive(N_("Refused: {entry} expands beyond {most} MB."), entry=info.filename, most=limit // 2**20)
    if len(data) != info.file_size:
        raise BadArchive(N_("Refused: {entry} is not the size its header declares."), entry=info.filename)
    return data


def _check_members(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    from core.imaging.decode import MAX_FILE_BYTES

    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise BadArchive(
            N_("Refused: the zip has {count} entries; at most {most} are accepted."), count=len(infos), most=MAX_MEMBERS
        )
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        if info.is_dir():
            if name in ("images/",):
                continue
            raise BadArchive(N_("Refused: unexpected folder {entry!r} in the zip."), entry=name)
        if name in members:
            raise BadArchive(N_("Refused: {entry!r} appears twice in the zip."), entry=name)
        if name != MANIFEST and not IMAGE_NAME.match(name):
            # Catches '../x', '/etc/x', 'C:\\x', 'images/../../x' and anything else off-format.
            raise BadArchive(
                N_(
                    "Refused: unexpected entry {entry!r} (a teaching-set zip holds only "
                    "manifest.json and images/<sha256>.png; paths outside it are not allowed)."
                ),
                entry=name,
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise BadArchive(N_("Refused: {entry!r} is a symbolic link."), entry=name)
        if info.flag_bits & 0x1:
            raise BadArchive(N_("Refused: {entry!r} is encrypted."), entry=name)
        limit = MAX_MANIFEST_BYTES if name == MANIFEST else MAX_FILE_BYTES
        if info.file_size > limit:
            raise BadArchive(
                N_("Refused: {entry} would expand to {size} MB; the limit is {most} MB per entry."),
                entry=name,
                size=round(info.file_size / 2**20),
                most=limit // 2**20,
            )
        if info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1) and info.file_size > 2**20:
            raise BadArchive(
                N_("Refused: {entry} is compressed {ratio}:1, which looks like a zip bomb."),
                entry=name,
                ratio=info.file_size // max(info.compress_size, 1),
            )
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise BadArchive(N_("Refused: the zip would expand to more than {most} MB."), most=MAX_TOTAL_BYTES // 2**20)
        members[name] = info
    if MANIFEST not in members:
        raise BadArchive(N_("Refused: the zip has no manifest.json, so it is not an exported teaching set."))
    return members


def _text(entry: dict, key: str, where: str, limit: int, required: bool = False) -> str:
    value = entry.get(key, "")
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        if required:
            raise BadArchive(N_("Refused: wrong manifest: {field} must be non-empty text."), field=f"{where}.{key}")
        raise BadArchive(N_("Refused: wrong manifest: {field} must be text."), field=f"{where}.{key}")
    if len(value) > limit:
        raise BadArchive(
            N_("Refused: wrong manifest: {field} is longer than {most} characters."), field=f"{where}.{key}", most=limit
        )
    return value


def _parse_manifest(raw: bytes) -> dict:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadArchive(
            N_("Refused: manifest.json is not valid JSON ({error})."), error=exc.__class__.__name__
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BadArchive(N_("Refused: wrong manifest: 'format' must be {expected!r}."), expected=FORMAT)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BadArchive(
            N_("Refused: manifest format_version {found!r} is not supported (this version reads {expected})."),
            found=manifest.get("format_version"),
            expected=FORMAT_VERSION,
        )
    info = manifest.get("set")
    if not isinstance(info, dict):
        raise BadArchive(N_("Refused: wrong manifest: 'set' must be an object with a name."))
    _text(info, "name", "set", teaching.MAX_NAME_LENGTH, required=True)
    _text(info, "description", "set", 20_000)
    cases = manifest.get("cases")
    if not isinstance(cases, list) or not cases:
        raise BadArchive(N_("Refused: wrong manifest: 'cases' must be a non-empty list."))
    seen = set()
    for i, entry in enumerate(cases):
        where = f"cases[{i}]"
        if not isinstance(entry, dict):
            raise BadArchive(N_("Refused: wrong manifest: {field} must be an object."), field=where)
        image = entry.get("image")
        match = IMAGE_NAME.match(image) if isinstance(image, str) else None
        if not match or entry.get("sha256") != match.group(1):
            raise BadArchive(
                N_("Refused: wrong manifest: {field} must be images/<sha256>.png matching its sha256."),
                field=f"{where}.image",
            )
        if image in seen:
            raise BadArchive(N_("Refused: wrong manifest: {entry} is listed twice."), entry=image)
        seen.add(image)
        _text(entry, "title", where, repository.MAX_TITLE_LENGTH)
        _text(entry, "notes", where, 100_000)
        _text(entry, "truth_set_by", where, 100)
        if entry.get("truth_label") not in (None, *CLASS_NAMES):
            raise BadArchive(
                N_("Refused: wrong manifest: {field} must be null, NORMAL or PNEUMONIA."), field=f"{where}.truth_label"
            )
        if entry.get("difficulty") not in (None, *DIFFICULTIES):
            raise BadArchive(
                N_("Refused: wrong manifest: {field} must be null or one of {allowed}."),
                field=f"{where}.difficulty",
                allowed=", ".join(DIFFICULTIES),
            )
        tags = entry.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags) or len(tags) > 100:
            raise BadArchive(N_("Refused: wrong manifest: {field} must be a list of text."), field=f"{where}.tags")
        try:
            entry["tags"] = repository.normalise_tags(tags)
        except LibraryError as exc:
            raise BadArchive(
                N_("Refused: wrong manifest: {field}: {reason}"), field=f"{where}.tags", reason=exc
            ) from None
    return manifest


def read_archive(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Validate a teaching-set zip fully; returns (manifest, {image name: decoded pixels})."""
    from core.imaging.decode import ImageRejected, load_image

    if len(data) > MAX_ARCHIVE_BYTES:
        raise BadArchive(
            N_("Refused: the zip is {size} MB; the limit is {most} MB."),
            size=round(len(data) / 2**20),
            most=MAX_ARCHIVE_BYTES // 2**20,
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise BadArchive(N_("Refused: this is not a readable zip file.")) from None
    with zf:
        members = _check_members(zf)
        try:
            manifest = _parse_manifest(_read_member(zf, members[MANIFEST], MAX_MANIFEST_BYTES))
            listed = {entry["image"] for entry in manifest["cases"]}
            unlisted = sorted(set(members) - listed - {MANIFEST})
            if unlisted:
                raise BadArchive(N_("Refused: {entry} is in the zip but not in the manifest."), entry=unlisted[0])
            pixels: dict[str, np.ndarray] = {}
            for entry in manifest["cases"]:
                name = entry["image"]
                if name not in members:
                    raise BadArchive(
                        N_("Refused: wrong manifest: {entry} is listed but missing from the zip."), entry=name
                    )
                raw = _read_member(zf, members[name], members[name].file_size)
                try:
                    image = load_image(raw)
                except ImageRejected as exc:
                    raise BadArchive(
                        N_("Refused: {entry} is not a valid radiograph: {reason}"), entry=name, reason=exc
                    ) from None
                if image.source_format != "PNG":
                    raise BadArchive(N_("Refused: {entry} is {found}, not PNG."), entry=name, found=image.source_format)
                if encode_image(image.pixels).sha256 != entry["sha256"]:
                    raise BadArchive(
                        N_("Refused: the pixels of {entry} do not match its sha256 (corrupt or altered)."), entry=name
                    )
                pixels[name] = image.pixels
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
            raise BadArchive(
                N_("Refused: the zip is corrupt ({error}: {detail})."), error=exc.__class__.__name__, detail=str(exc)
            ) from None
    return manifest, pixels


def import_set(session: Session, actor: Actor, data: bytes, imported_by: str = "teaching-set import") -> ImportResult:
    """Add the zip's cases (reusing identical images/cases) and its set, in the caller's transaction.

    Existing cases keep their notes and ground truth; imported tags are added to theirs. A set of the
    same name is extended with the cases it lacks, so importing the same zip twice changes nothing.
    An instructor's (or the operator's) import; anyone else is refused before the zip is read.
    """
    require(session, actor, "import_set")
    manifest, pixels = read_archive(data)
    info = manifest["set"]
    existing = teaching.find_set(session, info["name"])
    result = ImportResult(set_name=" ".join(info["name"].split()), set_created=existing is None)
    target = existing or teaching.create_set(session, actor, info["name"], info.get("description") or "")
    case_ids = []
    for entry in manifest["cases"]:
        encoded = encode_image(pixels[entry["image"]])
        image, _ = repository.add_image(session, encoded, "PNG")
        truth = entry.get("truth_label")
        case, created = repository.add_case(
            session,
            image,
            entry.get("title") or "Imported case",
            f"teaching set: {result.set_name}"[:200],
            truth_label=truth,
            truth_set_by=(entry.get("truth_set_by") or imported_by) if truth else None,
        )
        if created:
            result.cases_added += 1
            repository.update_case(
                session,
                actor,
                case.id,
                None,
                notes=entry.get("notes") or "",
                tags=entry["tags"],
                difficulty=entry.get("difficulty"),
            )
        else:
            result.cases_already_present += 1
            if entry["tags"]:
                repository.add_tags(session, actor, case.id, entry["tags"])
            if truth and case.truth_label is None:
                repository.set_truth(session, actor, case.id, truth, entry.get("truth_set_by") or imported_by)
            elif truth and case.truth_label != truth:
                result.notes.append(
                    Worded(
                        N_("{title}: kept this library's ground truth ({kept}); the zip says {zipped}."),
                        title=case.title,
                        kept=case.truth_label,
                        zipped=truth,
                    )
                )
        case_ids.append(case.id)
    result.added_to_set = teaching.add_to_set(session, actor, target.id, case_ids)
    return result
