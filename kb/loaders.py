"""Read report files (.txt, .md, .html, .pdf, .docx, .pptx, .xlsx) into a `LoadedDocument`.

Every failure (corrupt, encrypted, empty, undecodable) is raised as `LoadError` with a reason a
person can act on; the caller decides to skip the file and go on.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from .errors import LoadError
from .metadata import infer_metadata
from .records import IngestReport
from .structure import Block, LoadedDocument, TextBuilder, parse_date, parse_text
from .webpage import read_page

__all__ = ["load_document", "load_record", "expand_paths", "SUPPORTED", "LoadedDocument"]

def _decode(data: bytes, path: Path) -> str:
    """Text from bytes: a BOM's encoding, else UTF-8, else UTF-16 told by its zero bytes (no
    BOM), else Windows-1252 when the bytes read as text at all. Random bytes that happen to
    decode as Windows-1252 are refused, not indexed as junk (charset-normalizer finds no
    encoding they read well in)."""
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        return utf16
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise LoadError(f"{path.name}: not UTF-8, UTF-16 or Windows-1252 text") from None
    import charset_normalizer

    if charset_normalizer.from_bytes(data[:200_000]).best() is None:
        raise LoadError(f"{path.name}: does not read as text in any encoding (binary data?)")
    return text


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a BOM: mostly-Latin text has a zero byte in every other place."""
    head = data[:4096]
    if len(head) < 4 or len(data) % 2:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    encoding = "utf-16-le" if odd > 0.3 * half and even < 0.05 * half else \
        "utf-16-be" if even > 0.3 * half and odd < 0.05 * half else None
    if encoding is None:
        return None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _loaded(path: Path, text: str, blocks, fmt: str, title: str | None = None, when: str | None = None,
            first_heading: bool = True, pages: int | None = None, created: str | None = None) -> LoadedDocument:
    meta = infer_metadata(text, blocks, path.stem, title=title, when=when, first_heading=first_heading,
                          created=created)
    return LoadedDocument(text, tuple(blocks), meta.title, meta.date, fmt, pages,
                          meta.organisation, meta.period, meta.kind)


def _load_plain(path: Path, data: bytes, markdown: bool) -> LoadedDocument:
    text = _decode(data, path)
    title, when = None, None
    if markdown and (m := re.match(r"---\s*\n(.*?)\n---\s*\n", text, re.S)):
        meta = dict(re.findall(r"^(\w+)\s*:\s*(.+?)\s*$", m.group(1), re.M))
        title = meta.get("title", "").strip("'\"") or None
        when = parse_date(meta.get("date", ""))
        text = " " * m.end() + text[m.end():]  # keep offsets, hide the front matter
    blocks, found = parse_text(text, markdown=markdown)
    heads = [b for b in blocks if b.kind == "heading"]
    if not title and heads:
        first = blocks[0]
        if markdown and heads[0].level == 1:
            title = text[heads[0].start:heads[0].end]
        elif not markdown and first.kind == "heading" and len(blocks) > 1 and blocks[1].kind == "heading":
            title = text[first.start:first.end]
    return _loaded(path, text, blocks, "markdown" if markdown else "text", title, when or found, first_heading=False)


def _load_html(path: Path, data: bytes) -> LoadedDocument:
    """A web page's main content (`kb.webpage`)."""
    html = _decode(data, path) if not data.lstrip()[:5].lower().startswith(b"<?xml") else data.decode("utf-8", "replace")
    page = read_page(html, data)
    return _loaded(path, page.text, page.blocks, "html", page.title, page.date)


def _office(kind: str, path: Path, data: bytes) -> LoadedDocument:
    from . import office

    builder = TextBuilder()
    title, when, created = getattr(office, f"read_{kind}")(path, data, builder)
    return _loaded(path, builder.text, builder.blocks, kind, title, when, pages=builder.pages or None, created=created)


def _load_pdf(path: Path, data: bytes) -> LoadedDocument:
    from .pdf import read_pdf

    return read_pdf(path, data)


SUPPORTED: dict[str, Callable[[Path, bytes], LoadedDocument]] = {
    ".txt": lambda p, d: _load_plain(p, d, markdown=False),
    ".md": lambda p, d: _load_plain(p, d, markdown=True),
    ".markdown": lambda p, d: _load_plain(p, d, markdown=True),
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".docx": lambda p, d: _office("docx", p, d),
    ".pptx": lambda p, d: _office("pptx", p, d),
    ".xlsx": lambda p, d: _office("xlsx", p, d),
}


def load_document(path: Path, data: bytes | None = None) -> LoadedDocument:
    """Read one file. Raises `LoadError` when it cannot be used."""
    path = Path(path)
    reader = SUPPORTED.get(path.suffix.lower())
    if reader is None:
        raise LoadError(f"{path.name}: unsupported file type (use {', '.join(sorted(SUPPORTED))})")
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LoadError(f"{path.name}: cannot read ({exc.strerror})") from None
    if not data.strip():
        raise LoadError(f"{path.name}: the file is empty")
    try:
        doc = reader(path, data)
    except LoadError:
        raise
    except Exception as exc:  # a parser bug on hostile input must not stop a folder ingest
        raise LoadError(f"{path.name}: could not be parsed ({type(exc).__name__}: {exc})") from None
    if not doc.blocks:
        raise LoadError(f"{path.name}: no text found", "no_text")
    if all(b.kind == "heading" for b in doc.blocks):  # a title alone (a catalogue's record): it is the text
        doc = replace(doc, blocks=tuple(replace(b, kind="text", level=1) for b in doc.blocks))
    return doc


def load_record(title: str, text: str, date: str | None = None) -> LoadedDocument:
    """A document given as title and text (a BEIR corpus entry, say).

    The title opens the text as a paragraph of its own, so the first passage carries it to
    both the embedder and BM25, as BEIR's baselines index "title + text".
    """
    title = " ".join(title.split())
    head = f"{title}\n\n" if title else ""
    body_blocks, _ = parse_text(text)
    blocks = [Block(0, len(title), "text")] if title else []
    blocks += [Block(b.start + len(head), b.end + len(head), "text", b.level, b.page) for b in body_blocks]
    if not blocks:
        raise LoadError("the record has no text")
    return LoadedDocument(head + text, tuple(blocks), title or "Untitled", date, "text")


def expand_paths(paths: Iterable[str | Path], report: IngestReport) -> list[Path]:
    """Files to ingest: given files as they are, folders searched for supported types."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            root = path.resolve()
            for p in sorted(path.rglob("*")):
                if not p.is_file() or p.suffix.lower() not in SUPPORTED or p.name.startswith("."):
                    continue
                if not p.resolve().is_relative_to(root):  # a link out of the folder is not followed
                    report.failed.append((str(p), "a link to a file outside the folder; not followed"))
                    continue
                files.append(p)
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED:
                files.append(path)
            else:
                report.failed.append((str(path), f"unsupported file type (use {', '.join(sorted(SUPPORTED))})"))
        else:
            report.failed.append((str(path), "no such file or folder"))
    return list(dict.fromkeys(files))
