"""Document metadata people set: sidecar files for bulk imports, and checks on every edit.

A folder may hold `kb-metadata.csv` (or `.yaml` / `.yml`; `metadata.*` is read too) listing,
per file, the fields to set: `file` (a path relative to the sidecar's folder, or a bare file
name), then any of title, organisation, date, period, kind. What it sets is kept as an edit,
so it wins over what kb reads from the file, at this ingest and every later one.

    file,title,organisation,date
    2023/annual.pdf,Annual Report 2023,Water Org,2024-04-19
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

from .errors import InvalidRequest, LoadError
from .store import EDITABLE

__all__ = ["read_sidecars", "validate_edits", "SIDECAR_NAMES"]

SIDECAR_NAMES = tuple(f"{stem}.{ext}" for stem in ("kb-metadata", "metadata") for ext in ("csv", "yaml", "yml"))
_LIMITS = {"title": 300, "organisation": 200, "date": 10, "period": 60, "kind": 60, "series": 200}
MAX_SIDECAR_BYTES = 5_000_000


def validate_edits(changes: dict) -> dict[str, str | None]:
    """Checked and tidied fields: known names, text within limits, dates as YYYY, YYYY-MM
    or YYYY-MM-DD (a real date). An empty value clears the edit. Raises `InvalidRequest`."""
    out: dict[str, str | None] = {}
    for name, value in changes.items():
        if name not in EDITABLE:
            raise InvalidRequest(f"{name!r} cannot be edited; editable: {', '.join(EDITABLE)}.", "invalid_field")
        if value is None or (isinstance(value, str) and not value.strip()):
            if name == "title":
                raise InvalidRequest("title cannot be empty.", "invalid_field")
            out[name] = None
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool) and name == "date":
            value = str(int(value))
        if not isinstance(value, str):
            raise InvalidRequest(f"{name} must be text.", "invalid_field")
        value = " ".join(value.split())
        if len(value) > _LIMITS[name]:
            raise InvalidRequest(f"{name} is longer than {_LIMITS[name]} characters.", "invalid_field")
        if name == "date":
            value = _date(value)
        out[name] = value
    return out


def _date(value: str) -> str:
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", value)
    try:
        if m:
            date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
            return value
    except ValueError:
        pass
    raise InvalidRequest(f"date {value!r} is not YYYY, YYYY-MM or YYYY-MM-DD.", "invalid_date")


def read_sidecars(folders: list[Path]) -> dict[str, dict[str, str | None]]:
    """Resolved file path -> fields, from the sidecar files in `folders` (and each folder's
    parent, for a sidecar kept beside the folder). Raises `LoadError` for a malformed one."""
    out: dict[str, dict[str, str | None]] = {}
    seen: set[Path] = set()
    for folder in folders:
        for place in (folder, folder.parent):
            for name in SIDECAR_NAMES:
                path = (place / name).resolve()
                if path in seen or not path.is_file():
                    continue
                seen.add(path)
                for file, fields in _rows(path):
                    target = (path.parent / file).resolve()
                    out[str(target)] = {**out.get(str(target), {}), **fields}
                    out.setdefault(f"name:{Path(file).name}", fields)
    return out


def _rows(path: Path) -> list[tuple[str, dict[str, str | None]]]:
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        raise LoadError(f"{path.name}: larger than {MAX_SIDECAR_BYTES // 1_000_000} MB")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if path.suffix == ".csv":
        records = list(csv.DictReader(io.StringIO(text)))
    else:
        import yaml

        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise LoadError(f"{path.name}: not valid YAML ({exc})") from None
        if isinstance(loaded, dict):  # {file: {title: ...}} as well as [{file: ..., title: ...}]
            loaded = [{"file": k, **(v or {})} for k, v in loaded.items()]
        records = loaded if isinstance(loaded, list) else []
    rows = []
    for i, record in enumerate(records, start=2):
        if not isinstance(record, dict) or not record.get("file"):
            raise LoadError(f"{path.name}: entry {i - 1} names no file")
        fields = {k.strip().lower(): v for k, v in record.items() if k and k.strip().lower() in EDITABLE and v not in (None, "")}
        try:
            rows.append((str(record["file"]).strip(), validate_edits({k: str(v) for k, v in fields.items()})))
        except InvalidRequest as exc:
            raise LoadError(f"{path.name}: {record['file']}: {exc.message}") from None
    return rows
