"""Read report files (.txt, .md, .html, .pdf, .docx, .pptx, .xlsx) into a `LoadedDocument`.

Every failure (corrupt, encrypted, empty, undecodable) is raised as `LoadError` with a reason a
person can act on; the caller decides to skip the file and go on.
"""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape
from pathlib import Path
from typing import Callable, Iterable

from .errors import LoadError
from .metadata import infer_metadata
from .records import IngestReport
from .structure import Block, LoadedDocument, TextBuilder, parse_date, parse_text

__all__ = ["load_document", "load_record", "expand_paths", "SUPPORTED", "LoadedDocument"]

_HEADING_TAGS = {f"h{i}": i for i in range(1, 7)}
_BLOCK_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre", "td", "th", "dt", "dd", "figcaption", "caption", "div"]
_DROP_TAGS = ["script", "style", "noscript", "template", "nav", "footer", "aside", "form", "svg"]


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
    """Main content by trafilatura (article text, headings, lists and tables; navigation,
    headers' menus, footers and boilerplate dropped), with BeautifulSoup as the fallback for
    pages it finds no article in (a bare list of paragraphs, say)."""
    import trafilatura
    from lxml import etree

    html = _decode(data, path) if not data.lstrip()[:5].lower().startswith(b"<?xml") else data.decode("utf-8", "replace")
    xml = trafilatura.extract(html, output_format="xml", include_tables=True, include_formatting=True,
                              with_metadata=True, favor_recall=True, include_comments=False)
    if not xml:
        return _load_html_soup(path, data)
    root = etree.fromstring(xml.encode("utf-8"))
    out = TextBuilder()
    for el in root.iter("head", "p", "item", "table", "quote", "code"):
        if el.tag != "table" and any(a.tag in ("table", "item") for a in el.iterancestors()):
            continue
        if el.tag == "table":
            rows, heads = [], []
            for row in el.iter("row"):
                cells = [" ".join(" ".join(c.itertext()).split()) for c in row.iter("cell")]
                line = " | ".join(c for c in cells if c)
                if line:
                    rows.append(line)
                    if row.find("cell") is not None and row.find("cell").get("role") == "head":
                        heads.append(line)
            out.add("\n".join(rows), "table", context=" · ".join(heads) or None)
            continue
        text = " ".join(" ".join(el.itertext()).split())
        if el.tag == "head":
            level = int(m.group(1)) if (m := re.match(r"h(\d)", el.get("rend", ""))) else 2
            out.add(_PERMALINK.sub("", text), "heading", level)
        else:
            out.add(text)
    if len(out.blocks) < 2:  # trafilatura's fallback for a page it finds no article in: one blob
        return _load_html_soup(path, data)
    when = parse_date(root.get("date") or "")
    return _loaded(path, out.text, out.blocks, "html", _page_title(html, root.get("title")), when)


_PERMALINK = re.compile(r"\s*\u00b6+$")  # the "¶" Sphinx and MkDocs put after each heading, a link to it
_TITLE_ELEMENT = re.compile(r"<title[^>]*>(.{0,2000}?)</title\s*>", re.I | re.S)  # bounded: no scan to the end per tag
_TOP_HEADING = re.compile(r"<h([12])[\s>](.{0,300}?)</h\1\s*>", re.I | re.S)  # a longer one names no page


def _page_title(html: str, extracted: str | None) -> str | None:
    """trafilatura's title, unless it is only a heading it fell back to: with no single <h1>
    it skips a <title> holding a point ("Underscore.js", "Debian Python Policy 0.12.0.0
    documentation") and takes the first <h1> of several ("Abstract") or the first <h2>
    ("Downloads"), which name a section, not the page. The <title> names the page then."""
    def plain(markup: str) -> str:
        return _PERMALINK.sub("", " ".join(unescape(re.sub(r"<[^>]+>", " ", markup)).split()))

    extracted = plain(extracted or "") or None
    found = _TITLE_ELEMENT.search(html)
    declared = plain(found.group(1)) if found else ""
    headings = _TOP_HEADING.findall(html)
    if declared and sum(level == "1" for level, _ in headings) != 1 \
            and (extracted is None or extracted in {plain(text) for _, text in headings}):
        return declared
    return extracted


def _load_html_soup(path: Path, data: bytes) -> LoadedDocument:
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
    out = TextBuilder()
    body = soup.body or soup
    for el in body.find_all([*_BLOCK_TAGS, "table"]):
        if el.name == "table":
            if el.find_parent("table") is None:  # a table's rows, one line each, cells apart
                rows = [" | ".join(c for c in (" ".join(x.get_text(" ", strip=True).split()) for x in tr.find_all(["td", "th"]))
                                   if c) for tr in el.find_all("tr")]
                heads = [r for r, tr in zip(rows, el.find_all("tr")) if r and tr.find("th") and not tr.find("td")]
                out.add("\n".join(r for r in rows if r), "table", context=" · ".join(heads) or None)
            continue
        if el.find_parent("table") is not None or (el.find(_BLOCK_TAGS) and not el.name == "table"):
            continue  # inside a table (read with it), or a container whose inner blocks are visited on their own
        text = " ".join(el.get_text(" ", strip=True).split())
        level = _HEADING_TAGS.get(el.name)
        out.add(_PERMALINK.sub("", text) if level else text, "heading" if level else "text", level or 1)
    if not out.blocks:
        text = body.get_text("\n", strip=True)
        blocks, found = parse_text(text)
        return _loaded(path, text, blocks, "html", title or None, when or found)
    h1 = next((b for b in out.blocks if b.kind == "heading" and b.level == 1), None)
    text = out.text
    if not title and h1:
        title = text[h1.start:h1.end]
    return _loaded(path, text, out.blocks, "html", title or None, when)


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
