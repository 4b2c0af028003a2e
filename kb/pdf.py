"""PDF text with PDFium (pypdfium2): fast, with word spacing, layout and structure kept.

PDFium gives each page's text in content order with lines and word spaces already worked out
(many times faster than pypdf on real annual reports, and without its split and glued
words: bench/RESULTS.md). From there this module works on lines with their geometry (`_Line`:
position, font size, weight):

- running headers, footers and page numbers (lines repeated at the top or bottom of many
  pages, digits aside) are dropped from the searchable text; the original file is kept whole;
- a word hyphenated across a line end is joined again, unless the hyphen is the document's own
  (`_Hyphens`);
- a page laid out in two columns is read column by column;
- headings come from the PDF outline (bookmarks) where there is one, else from typography
  (larger or bold short lines);
- a run of lines ending in figures is a table: each row stays one line with its label, and the
  block carries the table's title and column headings (`Block.context`) for the chunker;
- pages without a text layer are read by Tesseract OCR when it is installed, else reported
  (`LoadedDocument.warnings`), never silently empty.

A PDF encrypted with an empty password (common in published reports) opens as any other; one
that needs a real password raises `LoadError` ("encrypted: needs a password").
"""

from __future__ import annotations

import ctypes
import logging
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from index.analysis import stop_words

from .errors import LoadError
from .metadata import infer_metadata
from .structure import Block, LoadedDocument, TextBuilder, is_heading

__all__ = ["read_pdf", "ocr_available"]

log = logging.getLogger("kb")

_NUMBER = re.compile(r"^[(\[]?[$€£¥]?\s?[-–]?\d[\d,]*(?:\.\d+)?\s?%?[)\]]?%?$|^[—–-]{1,2}$|^n/?m$", re.I)
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?(?:\d{1,4}|[ivxlc]{1,6}|[a-z]-\d{1,3})(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)
_SENTENCE_END = ".!?:;"
_SOFT_BREAK = re.compile(r"(?<=[^\W\d_])\ufffe\s*(?=[^\W\d_])")
_BROKEN = "\u00ad"  # where a word was broken at a line end, until the document says whether its hyphen is its own
_MARKED = re.compile(r"([^\W\d_]+)\u00ad([^\W\d_]+)")
_COMPOUND = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")
_LETTERS = re.compile(r"[^\W\d_]+")
_LINE_END_BREAK = re.compile(r"([^\W\d_]+)-$")  # a line ending in a word broken by a hyphen
_YEARS = re.compile(r"\b(?:19|20)\d{2}\b")
OCR_DPI = 300
OCR_SECONDS = 120  # per page: a hostile image must not hold an ingest forever


@dataclass
class _Line:
    text: str
    page: int  # 1-based
    x0: float
    x1: float
    top: float  # PDF coordinates: y grows upwards
    bottom: float
    size: float  # font size (loose glyph box height)
    bold: bool
    heading: int = 0  # outline or typographic heading level, 0 for none


def ocr_available() -> bool:
    return shutil.which("tesseract") is not None


def read_pdf(path: Path, data: bytes) -> LoadedDocument:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise LoadError(f"{path.name}: encrypted: needs a password", "encrypted") from None
        raise LoadError(f"{path.name}: not a readable PDF ({exc})") from None
    try:
        pages: list = []
        unread: list[int] = []
        ocred: list[int] = []
        for index in range(len(pdf)):
            page = pdf[index]
            lines = _page_lines(page, index + 1)
            if not lines and _has_images(page):
                lines = _ocr(page, index + 1) if ocr_available() else []
                (ocred if lines else unread).append(index + 1)
            pages.append(_reading_order(lines, page.get_width()))
        outline = _outline(pdf)
        info = pdf.get_metadata_dict()
    finally:
        pdf.close()
    warnings = []
    if unread:
        warnings.append(f"no text layer on page{'s' if len(unread) > 1 else ''} {_ranges(unread)}"
                        + ("" if ocr_available() else " (install tesseract-ocr to read scanned pages)"))
    if ocred:
        warnings.append(f"read by OCR: page{'s' if len(ocred) > 1 else ''} {_ranges(ocred)}")
    if not any(pages):
        raise LoadError(f"{path.name}: {warnings[0] if warnings else 'no text found'}", "no_text")
    cover = _cover_title(pages)  # before running lines go: a title is often every page's header too
    pages = _drop_running_lines(pages)
    lines = [line for page in pages for line in page]
    hyphens = _Hyphens.of(lines)
    for ln in lines:
        if _BROKEN in ln.text:
            ln.text = _MARKED.sub(lambda m: m[1] + hyphens.join(m[1], m[2]) + m[2], ln.text)
    _mark_headings(lines, outline)
    text, blocks = _assemble(lines, hyphens)
    meta = infer_metadata(text, blocks, path.stem, cover=cover, pdf_info=info)
    return LoadedDocument(text, tuple(blocks), meta.title, meta.date, "pdf", len(pages), meta.organisation,
                          meta.period, meta.kind, tuple(warnings))


# -- lines with geometry ---------------------------------------------------------------


def _page_lines(page, number: int) -> list[_Line]:
    import pypdfium2.raw as raw

    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        out, pos = [], 0
        box = raw.FS_RECTF()
        name = ctypes.create_string_buffer(128)
        for piece in re.split(r"(\r\n|\n|\r)", text):
            start = pos
            pos += len(piece)
            if piece in ("\r\n", "\n", "\r"):
                continue
            # PDFium marks a hyphen that breaks a word at a line end as U+FFFE and joins the
            # lines: "protec\ufffetion". The word is whole again without it.
            body = " ".join(_SOFT_BREAK.sub(_BROKEN, piece).replace("\ufffe", "-").split())
            if not body:
                continue
            lead = start + len(piece) - len(piece.lstrip())
            last = start + len(piece.rstrip()) - 1
            first_char = raw.FPDFText_GetCharIndexFromTextIndex(textpage, lead)
            last_char = raw.FPDFText_GetCharIndexFromTextIndex(textpage, last)
            if first_char < 0 or last_char < 0:
                continue
            left, _, _, top0 = textpage.get_charbox(first_char)
            _, bottom1, right, _ = textpage.get_charbox(last_char)
            raw.FPDFText_GetLooseCharBox(textpage, first_char, ctypes.byref(box))
            size = abs(box.top - box.bottom)
            bold = _bold(raw, textpage, first_char, name)
            top = max(box.top, box.bottom, top0)
            out.append(_Line(body, number, left, max(right, left), top, min(bottom1, top - size), size, bold))
        return out
    finally:
        textpage.close()


def _bold(raw, textpage, index: int, name) -> bool:
    """Bold by weight, or by the font's name (many fonts report a weight below 600)."""
    if raw.FPDFText_GetFontWeight(textpage, index) >= 600:
        return True
    flags = ctypes.c_int()
    raw.FPDFText_GetFontInfo(textpage, index, name, len(name), ctypes.byref(flags))
    return re.search(rb"bold|black|heavy|semibold|demi", name.value, re.I) is not None


def _has_images(page) -> bool:
    import pypdfium2.raw as raw

    return any(True for _ in page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,), max_depth=2))


def _ocr(page, number: int) -> list[_Line]:
    """Tesseract's reading of the rendered page, as lines; a blank line in its output is a
    paragraph break (kept as a gap)."""
    image = page.render(scale=OCR_DPI / 72, grayscale=True).to_pil()
    with tempfile.TemporaryDirectory(prefix="kb-ocr-") as tmp:
        file = Path(tmp) / "page.png"
        image.save(file)
        try:
            done = subprocess.run(["tesseract", str(file), "stdout"], capture_output=True, timeout=OCR_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("OCR failed on page %d: %s", number, exc)
            return []
    lines, y = [], 1000.0
    for raw_line in done.stdout.decode("utf-8", "replace").splitlines():
        body = " ".join(raw_line.split())
        y -= 12  # a blank line moves down too: the gap it leaves starts a new paragraph (`_breaks`)
        if body:
            lines.append(_Line(body, number, 0, 500, y, y - 10, 10, False))
    return lines


def _reading_order(lines: list[_Line], width: float) -> list[_Line]:
    """Column by column when the page is laid out in two columns: many lines confined to each
    half and few crossing the middle. Full-width lines above the columns come first, those
    below last. Tables are not split: a row with its figures crosses the middle."""
    if len(lines) < 10:
        return lines
    mid = width / 2
    left = [ln for ln in lines if ln.x1 <= mid + 2]
    right = [ln for ln in lines if ln.x0 >= mid - 2]
    if len(left) < 5 or len(right) < 5 or len(left) + len(right) < 0.7 * len(lines):
        return lines
    columns = {id(ln) for ln in left + right}
    top = max(max(ln.top for ln in left), max(ln.top for ln in right))
    above = [ln for ln in lines if id(ln) not in columns and ln.bottom >= top]
    below = [ln for ln in lines if id(ln) not in columns and ln.bottom < top]

    def down(group):
        return sorted(group, key=lambda ln: (-round(ln.top), ln.x0))

    return down(above) + down(left) + down(right) + down(below)


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", text.lower())


def _drop_running_lines(pages: list[list[_Line]], edge: int = 3) -> list[list[_Line]]:
    """Drop running headers and footers: lines at the top or bottom of a page whose text,
    digits aside, stands there on many pages; and lone page numbers there."""
    counts: Counter = Counter()
    for lines in pages:
        counts.update({_key(ln.text) for ln in lines[:edge] + lines[-edge:]})
    enough = max(3, 0.2 * len(pages))
    running = {key for key, n in counts.items() if n >= enough} if len(pages) >= 4 else set()
    out = []
    for lines in pages:
        edges = {id(ln) for ln in lines[:edge] + lines[-edge:]}
        out.append([ln for ln in lines if id(ln) not in edges
                    or not (_key(ln.text) in running or _PAGE_NUMBER.match(ln.text))])
    return out


# -- headings ----------------------------------------------------------------------------


def _outline(pdf) -> list[tuple[int, str, int]]:
    """(level, title, page) of each bookmark that points at a page."""
    out = []
    try:
        for mark in pdf.get_toc(max_depth=6):
            dest = mark.get_dest()
            index = dest.get_index() if dest is not None else None
            title = " ".join((mark.get_title() or "").split())
            if index is not None and title:
                out.append((mark.level + 1, title, index + 1))
    except Exception as exc:  # a broken outline must not lose the text
        log.info("PDF outline unreadable: %s", exc)
    return out


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def _mark_headings(lines: list[_Line], outline: list[tuple[int, str, int]]) -> None:
    """Outline entries mark the line on their page that reads as their title; without an
    outline, lines set larger than the body text, or bold, that read as headings."""
    if outline:
        by_page: dict[int, list[_Line]] = {}
        for ln in lines:
            by_page.setdefault(ln.page, []).append(ln)
        for level, title, page in outline:
            want = _norm(title)
            for ln in by_page.get(page, []) + by_page.get(page + 1, []):
                have = _norm(ln.text)
                if have and not ln.heading and (have == want or (len(have) > 8 and want.startswith(have))):
                    ln.heading = min(level, 6)
                    break
        if sum(1 for ln in lines if ln.heading) >= 3:
            return
    weights: Counter = Counter()
    for ln in lines:
        weights[round(ln.size)] += len(ln.text)
    if not weights:
        return
    body = weights.most_common(1)[0][0]
    sizes = sorted({round(ln.size) for ln in lines if ln.size >= body * 1.15}, reverse=True)
    level_of = {s: min(i + 1, 3) for i, s in enumerate(sizes)}
    for ln in lines:
        if not is_heading(ln.text) or _figures(ln.text) or len(ln.text) < 3:
            continue
        size = round(ln.size)
        if size in level_of:
            ln.heading = level_of[size]
        elif ln.bold and abs(size - body) <= 1 and len(ln.text.split()) <= 12:
            ln.heading = 4


def _cover_title(pages: list[list[_Line]]) -> str | None:
    """The largest text on the first page: consecutive lines at the largest size."""
    for lines in pages[:2]:
        sized = [ln for ln in lines if re.search(r"[^\W\d_]{2}", ln.text)]
        if not sized:
            continue
        big = max(ln.size for ln in sized)
        body = Counter(round(ln.size) for ln in sized).most_common(1)[0][0]
        if big < body * 1.3:
            return None
        run = []
        for ln in lines:
            if ln.size >= big * 0.9:
                run.append(ln.text)
            elif run:
                break
        title = " ".join(run)
        return title if 3 <= len(title) <= 200 else None
    return None


# -- blocks --------------------------------------------------------------------------------


def _figures(text: str) -> int:
    """How many figures end the line ("(1,577) (1,373) $ 2,053" -> 3)."""
    n = 0
    for token in reversed(text.replace("$ ", "$").split()):
        if _NUMBER.match(token):
            n += 1
        elif token in ("$", "%", "€", "£"):
            continue
        else:
            break
    return n


def _is_row(line: _Line) -> bool:
    figures = _figures(line.text)
    return figures >= 2 or (figures == 1 and len(line.text.split()) <= 8 and line.text[-1:] not in ".")


_STACKED_HEADINGS = 40  # lines of column headings above a table's rows, at most


def _tables(lines: list[_Line]) -> list[tuple[int, int, int]]:
    """(first, header start, end) line ranges of tables: runs holding at least three figure
    rows, short label lines allowed between them; the header is the few short lines just
    above the first row (column headings such as "(Millions) 2022 2021")."""
    out, i = [], 0
    while i < len(lines):
        if not (_figures(lines[i].text) >= 2 and not lines[i].heading):
            i += 1
            continue
        j, rows, last = i, 0, i
        while j < len(lines) and j - last <= 2 and not lines[j].heading and lines[j].page - lines[i].page <= 1:
            ln = lines[j]
            if _is_row(ln):
                rows += 1
                last = j
            elif len(ln.text.split()) > 14 or ln.text[-1:] == ".":
                break
            j += 1
        if rows >= 3:
            head = i
            while head > 0:
                prev = lines[head - 1]
                if prev.heading or prev.text[-1:] in ".;" or len(prev.text.split()) > 14 or prev.page != lines[i].page:
                    break
                # three short lines, and above them a stack of column headings set one word a line
                # ("FISCAL" / "2023" / "FISCAL" / "2022" / "% CHANGE"): the years the rows are of
                if i - head >= 3 and (len(prev.text.split()) > 2 or i - head >= _STACKED_HEADINGS):
                    break
                head -= 1
            out.append((head, i, last + 1))
            i = last + 1
        else:
            i += 1
    return out


@dataclass(frozen=True)
class _Hyphens:
    """What a document says about the hyphen of a word broken at a line end: typesetters break
    words at syllables ("protec-" / "tion"), and compounds at their own hyphen ("write-" /
    "downs"), with the same mark. A 10-K is not hyphenated by its typesetter, so every break in
    one is a compound's; a manual set in TeX breaks words everywhere."""

    pairs: frozenset[str]  # each pair of words written joined by a hyphen within a line, lower-cased
    words: frozenset[str]  # each word written on its own, away from any break, lower-cased

    @classmethod
    def of(cls, lines: list[_Line]) -> "_Hyphens":
        """Read from the document's lines ("state-of-the-art" gives the pairs state-of, of-the
        and the-art); the halves of broken words are not words of it."""
        pairs: set[str] = set()
        texts = []
        for i, ln in enumerate(lines):
            for m in _COMPOUND.finditer(ln.text):
                parts = m.group().lower().split("-")
                pairs.update(f"{a}-{b}" for a, b in zip(parts, parts[1:]))
            text = _MARKED.sub(" ", ln.text)
            if i and _LINE_END_BREAK.search(lines[i - 1].text) and text[:1].islower():
                text = text.split(None, 1)[1] if " " in text.strip() else ""
            if i + 1 < len(lines) and lines[i + 1].text[:1].islower():
                text = _LINE_END_BREAK.sub("", text)
            texts.append(text)
        words = frozenset(w.lower() for text in texts for w in _LETTERS.findall(text))
        return cls(frozenset(pairs), words)

    def join(self, left: str, right: str) -> str:
        """What joins the two halves of a word broken across a line end: its hyphen where the
        document writes the pair so elsewhere ("write-downs"); nothing where it writes the
        joined word ("report"); else its hyphen when both halves are words it writes on their
        own, two letters or more and not stop words ("equity-" / "method": "equitymethod" is
        no word, while "pro-" / "cessing" has halves that are none); else nothing
        ("protection"). What the third rule changed over real filings and typeset manuals is in
        docs/quality-log.md."""
        if f"{left}-{right}".lower() in self.pairs:
            return "-"
        head = _LETTERS.match(right)
        halves = (left.lower(), head.group().lower() if head else "")
        if "".join(halves) in self.words:
            return ""
        stop = stop_words()
        return "-" if all(len(w) >= 2 and w in self.words and w not in stop for w in halves) else ""


def _assemble(lines: list[_Line], hyphens: _Hyphens) -> tuple[str, list[Block]]:
    """One text with paragraph, heading and table blocks. Lines of a paragraph are joined by
    line breaks (a word hyphenated across one is joined again); blocks by a blank line."""
    out = TextBuilder()
    starts = {head: (first, end) for first, head, end in _tables(lines)}
    section = None
    page_heading: dict[int, list[str]] = {}  # a page's first two headings: a statement's title, usually
    columns = (-100, "")  # the last line of column headings ("(Millions) 2022 2021 2020"), by line number
    para: list[_Line] = []

    def flush():
        if para:
            out.add(_join(para, hyphens), "text", 1, para[0].page)
            para.clear()

    i = 0
    while i < len(lines):
        ln = lines[i]
        if i in starts:
            flush()
            first, end = starts[i]
            header = " ".join(x.text for x in lines[first:i])  # the caption: "CONSOLIDATED BALANCE SHEETS"
            if not _YEARS.search(header) and i - columns[0] <= 60:
                header = " ".join(x for x in (columns[1], header) if x)
            rows = [x.text for x in lines[i:end]]
            names = (*page_heading.get(ln.page, ()), section, header)
            context = " · ".join(dict.fromkeys(x for x in names if x)) or None
            out.add("\n".join(rows), "table", 1, ln.page, context)
            i = end
            continue
        if len(_YEARS.findall(ln.text)) >= 2 and len(ln.text.split()) <= 14:
            columns = (i, ln.text)
        if ln.heading:
            flush()
            before = lines[i - 1] if i else None
            if before is not None and section is not None and _wrapped(before, ln) and out.blocks[-1].kind == "heading":
                out.extend(ln.text)  # "ITEM 7. MANAGEMENT'S DISCUSSION AND ANALYSIS OF" / "FINANCIAL CONDITION ..."
                section = f"{section} {ln.text}"
                if page_heading.get(ln.page):
                    page_heading[ln.page][-1] = section
            else:
                out.add(ln.text, "heading", ln.heading, ln.page)
                section = ln.text
                if len(page_heading.setdefault(ln.page, [])) < 2:
                    page_heading[ln.page].append(ln.text)
        else:
            if para and _breaks(para[-1], ln):
                flush()
            para.append(ln)
        i += 1
    flush()
    return out.text, out.blocks


_OPEN_END = re.compile(r"(?:\b(?:of|and|or|with|for|the|to|in|on|by|from|at|its|our)|[&,\u2014\u2013-])$", re.I)


def _wrapped(prev: _Line, line: _Line) -> bool:
    """Is heading `line` the rest of heading `prev`, wrapped onto a second line? Both of one
    level, on one page, the next line down (no paragraph's gap between them), and `prev` left
    open: ending in a joining word or mark ("... ANALYSIS OF"), or `line` going on in lower case."""
    return bool(prev.heading and prev.heading == line.heading and prev.page == line.page and not _breaks(prev, line)
                and (_OPEN_END.search(prev.text.rstrip()) or line.text[:1].islower()))


def _breaks(prev: _Line, line: _Line) -> bool:
    """Does a new paragraph start at `line`? A page turn after a finished sentence, a gap
    wider than the line height, or a short line ending a sentence before it."""
    if prev.page != line.page:
        return prev.text[-1:] in _SENTENCE_END
    height = max(1.0, prev.top - prev.bottom, line.top - line.bottom)
    gap = prev.bottom - line.top
    if gap > 0.8 * height or gap < -3 * height:  # a wide gap, or a jump back up (a new column)
        return True
    return prev.text[-1:] in ".!?" and (prev.x1 - prev.x0) < 0.6 * max(1.0, line.x1 - line.x0)


def _join(lines: list[_Line], hyphens: _Hyphens) -> str:
    out = lines[0].text
    for ln in lines[1:]:
        if (left := _LINE_END_BREAK.search(out)) and left[1][-1:].islower() and ln.text[:1].islower():
            right = ln.text.split(None, 1)[0].rstrip(".,;:!?)")  # "protec-" + "tion"; "write-" + "downs" keeps its hyphen
            out = out[:-1] + hyphens.join(left[1], right) + ln.text
        else:
            out += "\n" + ln.text
    return out


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    out, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            out.append(f"{start}-{n}" if n != start else str(n))
            start = None
    return ", ".join(out)
