"""Read report files (.txt, .md, .html, .pdf, .docx) into a `LoadedDocument`.

Every failure (corrupt, encrypted, empty, undecodable) is raised as `LoadError` with a reason a
person can act on; the caller decides to skip the file and go on.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

from .errors import LoadError
from .records import IngestReport
from .structure import Block, LoadedDocument, parse_date, parse_text, title_from_filename

__all__ = ["load_document", "load_record", "expand_paths", "SUPPORTED", "LoadedDocument"]

_HEADING_TAGS = {f"h{i}": i for i in range(1, 7)}
_BLOCK_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre", "td", "th", "dt", "dd", "figcaption", "caption"]
_DROP_TAGS = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "svg"]


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise LoadError(f"{path.name}: not UTF-8 or Windows-1252 text") from None


class _Builder:
    """Joins extracted pieces into one text ("\\n\\n" between them), recording block spans."""

    def __init__(self):
        self.parts: list[str] = []
        self.blocks: list[Block] = []
        self.length = 0

    def add(self, text: str, kind: str = "text", level: int = 1, page: int | None = None):
        text = text.strip()
        if not text:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        self.blocks.append(Block(self.length, self.length + len(text), kind, level, page))
        self.parts.append(text)
        self.length += len(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


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
    return LoadedDocument(
        text, tuple(blocks), title or title_from_filename(path.stem, text), when or found,
        "markdown" if markdown else "text",
    )


def _load_html(path: Path, data: bytes) -> LoadedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "lxml")
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    when = None
    for attrs in ({"property": "article:published_time"}, {"name": "date"}, {"name": "dcterms.date"}, {"itemprop": "datePublished"}):
        meta = soup.find("meta", attrs=attrs)
        if meta and meta.get("content"):
            when = parse_date(meta["content"][:10]) or parse_date(meta["content"])
            break
    if not when and (t := soup.find("time")):
        when = parse_date(t.get("datetime", "")[:10]) or parse_date(t.get_text(" "))
    out = _Builder()
    body = soup.body or soup
    for el in body.find_all(_BLOCK_TAGS):
        if el.find(_BLOCK_TAGS):
            continue  # a container: its inner blocks are visited on their own
        text = " ".join(el.get_text(" ", strip=True).split())
        level = _HEADING_TAGS.get(el.name)
        out.add(text, "heading" if level else "text", level or 1)
    if not out.blocks:
        text = body.get_text("\n", strip=True)
        blocks, found = parse_text(text)
        return LoadedDocument(text, tuple(blocks), title or title_from_filename(path.stem, text), when or found, "html")
    h1 = next((b for b in out.blocks if b.kind == "heading" and b.level == 1), None)
    text = out.text
    if not title and h1:
        title = text[h1.start:h1.end]
    return LoadedDocument(text, tuple(out.blocks), title or title_from_filename(path.stem, text), when, "html")


def _load_pdf(path: Path, data: bytes) -> LoadedDocument:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(f"{path.name}: the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise LoadError(f"{path.name}: not a readable PDF ({exc})") from None
    text, starts = "", []
    for page_text in pages:
        if starts:
            text += "\n\n"
        starts.append(len(text))
        text += page_text
    blocks, found = parse_text(text, page_starts=starts)
    title = str(info.get("/Title") or "").strip()
    if len(title) < 4 or re.search(r"\.(docx?|pdf|indd)$|^untitled|^microsoft word", title, re.I):
        first = next((b for b in blocks if b.kind == "heading" and b.page == 1), None)
        title = text[first.start:first.end] if first else title_from_filename(path.stem, text)
    when = found
    if not when and (m := re.match(r"D:(\d{4})(\d{2})(\d{2})", str(info.get("/CreationDate") or ""))):
        when = parse_date(f"{m.group(1)}-{m.group(2)}-{m.group(3)}")
    return LoadedDocument(text, tuple(blocks), " ".join(title.split()), when, "pdf", len(pages))


def _load_docx(path: Path, data: bytes) -> LoadedDocument:
    import io
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"{path.name}: not a readable .docx file ({exc})") from None
    out = _Builder()
    title = (document.core_properties.title or "").strip()
    for para in document.paragraphs:
        style = (para.style.name if para.style is not None else "") or ""
        if style == "Title":
            title = title or para.text.strip()
            continue
        m = re.match(r"Heading (\d)", style)
        out.add(para.text, "heading" if m else "text", int(m.group(1)) if m else 1)
    for table in document.tables:
        for row in table.rows:
            out.add(" | ".join(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip())))
    text = out.text
    found = next((parse_date(text[b.start:b.end]) for b in out.blocks if len(text[b.start:b.end]) < 40 and parse_date(text[b.start:b.end])), None)
    created = document.core_properties.created
    when = found or (created.date().isoformat() if isinstance(created, datetime) else None)
    return LoadedDocument(text, tuple(out.blocks), title or title_from_filename(path.stem, text), when, "docx")


SUPPORTED: dict[str, Callable[[Path, bytes], LoadedDocument]] = {
    ".txt": lambda p, d: _load_plain(p, d, markdown=False),
    ".md": lambda p, d: _load_plain(p, d, markdown=True),
    ".markdown": lambda p, d: _load_plain(p, d, markdown=True),
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".docx": _load_docx,
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
    if not any(b.kind == "text" for b in doc.blocks):
        raise LoadError(f"{path.name}: no text found (a scanned PDF needs OCR first)")
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
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED and not p.name.startswith("."))
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED:
                files.append(path)
            else:
                report.failed.append((str(path), f"unsupported file type (use {', '.join(sorted(SUPPORTED))})"))
        else:
            report.failed.append((str(path), "no such file or folder"))
    return list(dict.fromkeys(files))
