"""Checks on Office files (zip archives) before a parser unpacks them.

A .docx of 1 MB can unpack to gigabytes (a zip bomb); python-docx and openpyxl would read it
into memory. The archive's own directory says how large each member unpacks, so a file whose
members add up to more than `MAX_UNPACKED`, or compress suspiciously well, is refused before
any member is read. (A lying directory does not help an attacker: `zipfile` stops reading a
member at its declared size.)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from .errors import LoadError

__all__ = ["check_archive", "MAX_UNPACKED", "MAX_RATIO"]

MAX_UNPACKED = 256 * 1024 * 1024  # bytes, all members together
MAX_RATIO = 200  # unpacked / packed, over the whole archive (text XML compresses 5-20x)


def check_archive(path: Path, data: bytes) -> None:
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise LoadError(f"{path.name}: not a readable {path.suffix.lstrip('.') or 'Office'} file ({exc})") from None
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED:
        raise LoadError(f"{path.name}: unpacks to {unpacked // 2**20} MB, more than the "
                        f"{MAX_UNPACKED // 2**20} MB allowed", "archive_too_large")
    if unpacked > 10 * 2**20 and unpacked > MAX_RATIO * max(1, len(data)):
        raise LoadError(f"{path.name}: unpacks {unpacked // max(1, len(data))} times its size "
                        f"(more than {MAX_RATIO}x): refused as a likely zip bomb", "archive_too_large")
