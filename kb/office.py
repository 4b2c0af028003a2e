"""Office files: Word (.docx), PowerPoint (.pptx) and Excel (.xlsx).

Each reader adds blocks to the loader's builder in reading order and returns the title and
date the file declares (None where it declares none). Every archive is checked for its
unpacked size before a parser opens it (`kb.archives`).

- Word: paragraphs and tables in document order, a table under the heading it follows,
  one row a line, carrying the heading and its header row as context.
- PowerPoint: a slide is a page: its title as a heading, then its text, its tables, and the
  speaker notes.
- Excel: a sheet is a page: its name as a heading, then its rows as a table (cells joined
  by " | "), the first row as the column headings. Formulas count by their cached values.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from .archives import check_archive
from .errors import LoadError
from .structure import parse_date

__all__ = ["read_docx", "read_pptx", "read_xlsx"]

MAX_SHEET_ROWS = 100_000  # rows read per sheet; beyond it a sheet is a database, not a report
MAX_SHEET_CELLS = 2_000_000  # cells read per workbook


def _when(created) -> str | None:
    return created.date().isoformat() if isinstance(created, datetime) else None


def read_docx(path: Path, data: bytes, out) -> tuple[str | None, str | None, str | None]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    check_archive(path, data)
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"{path.name}: not a readable .docx file ({exc})") from None
    title = (document.core_properties.title or "").strip()
    section = None
    notes = _notes(data)
    for child in document.element.body.iterchildren():
        if child.tag.endswith("}p"):
            para = Paragraph(child, document)
            style = (para.style.name if para.style is not None else "") or ""
            if style == "Title":
                title = title or para.text.strip()
                continue
            m = re.match(r"Heading (\d)", style)
            if m and para.text.strip():
                section = " ".join(para.text.split())
            out.add(para.text, "heading" if m else "text", int(m.group(1)) if m else 1)
            for line in _text_boxes(child):
                out.add(line)
            for ref in child.iter(f"{_W}footnoteReference", f"{_W}endnoteReference"):
                for line in notes.pop((ref.tag, ref.get(f"{_W}id")), ()):
                    out.add(line)
        elif child.tag.endswith("}tbl"):
            rows = [" | ".join(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))
                    for row in Table(child, document).rows]
            _table(out, [r for r in rows if r], section)
    for lines in notes.values():  # cited in a table, or nowhere: at the end, not lost
        for line in lines:
            out.add(line)
    text = out.text
    found = next((parse_date(text[b.start:b.end]) for b in out.blocks
                  if len(text[b.start:b.end]) < 40 and parse_date(text[b.start:b.end])), None)
    return title or None, found, _when(document.core_properties.created)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def _text_boxes(paragraph) -> list[str]:
    """The paragraphs of the text boxes anchored in a Word paragraph (call-outs, key figures),
    which its own text leaves out. Word writes each box twice, as a drawing and as a fallback
    picture for older readers; the fallback's copy is skipped."""
    lines: list[str] = []
    for box in paragraph.iter(f"{_W}txbxContent"):
        if any(a.tag in (_FALLBACK, box.tag) for a in box.iterancestors()):  # a fallback copy, or a box in a box (read with it)
            continue
        lines += [text for p in box.iter(f"{_W}p") if (text := _text(p)).strip()]
    return lines


def _text(paragraph) -> str:
    """A Word paragraph's text as its runs write it (a box's or a note's, which python-docx
    does not read)."""
    return "".join(t.text or "" for t in paragraph.iter(f"{_W}t"))


def _notes(data: bytes) -> dict[tuple[str, str | None], list[str]]:
    """A Word file's footnotes and endnotes (sources, definitions), which live in parts of their
    own: (reference tag, id) -> the note's paragraphs. Word's separator notes are left out."""
    from lxml import etree

    found: dict[tuple[str, str | None], list[str]] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # its sizes were checked by check_archive
        for part, kind in (("word/footnotes.xml", "footnote"), ("word/endnotes.xml", "endnote")):
            if part not in archive.namelist():
                continue
            root = etree.fromstring(archive.read(part), etree.XMLParser(resolve_entities=False, no_network=True))
            for note in root.iter(f"{_W}{kind}"):
                if note.get(f"{_W}type") is None:  # "separator", "continuationSeparator": no text
                    lines = [text for p in note.iter(f"{_W}p") if (text := _text(p)).strip()]
                    found[(f"{_W}{kind}Reference", note.get(f"{_W}id"))] = lines
    return found


def read_pptx(path: Path, data: bytes, out) -> tuple[str | None, str | None, str | None]:
    from pptx import Presentation

    check_archive(path, data)
    try:
        deck = Presentation(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"{path.name}: not a readable .pptx file ({exc})") from None
    first_title = None
    for number, slide in enumerate(deck.slides, start=1):
        out.pages = number
        heading = slide.shapes.title.text_frame.text.strip() if slide.shapes.title is not None and slide.shapes.title.has_text_frame else ""
        if heading:
            first_title = first_title or " ".join(heading.split())
            out.add(" ".join(heading.split()), "heading", 1, number)
        for shape in _leaves(slide.shapes):
            if shape == slide.shapes.title:
                continue
            if shape.has_text_frame:
                for para in shape.text_frame.paragraphs:
                    out.add("".join(run.text for run in para.runs), "text", 1, number)
            if getattr(shape, "has_table", False) and shape.has_table:
                rows = [" | ".join(c.text.strip() for c in row.cells if c.text.strip()) for row in shape.table.rows]
                _table(out, [r for r in rows if r], heading or None, number)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame.text if slide.notes_slide.notes_text_frame else ""
            out.add(notes, "text", 1, number)
    title = (deck.core_properties.title or "").strip() or first_title
    return title or None, None, _when(deck.core_properties.created)


def _leaves(shapes, depth: int = 0):
    """A slide's shapes in order, those inside groups (and groups in groups) in their place: a
    group has no text of its own, its members do."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in shapes:
        if getattr(shape, "shape_type", None) == MSO_SHAPE_TYPE.GROUP:
            if depth < 16:  # bounded: a file can nest groups without end
                yield from _leaves(shape.shapes, depth + 1)
        else:
            yield shape


def read_xlsx(path: Path, data: bytes, out) -> tuple[str | None, str | None, str | None]:
    import openpyxl

    check_archive(path, data)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise LoadError(f"{path.name}: not a readable .xlsx file ({exc})") from None
    cells = 0
    try:
        for number, sheet in enumerate(book.worksheets, start=1):
            out.pages = number
            rows = []
            for row in sheet.iter_rows(max_row=MAX_SHEET_ROWS):
                cells += len(row)
                if cells > MAX_SHEET_CELLS:
                    raise LoadError(f"{path.name}: more than {MAX_SHEET_CELLS:,} cells", "too_large")
                shown = (_cell(c.value, getattr(c, "number_format", None) or "General") for c in row if c.value is not None)
                line = " | ".join(v for v in shown if v)
                if line:
                    rows.append(line)
            if rows:
                out.add(sheet.title, "heading", 1, number)
                _table(out, rows, sheet.title, number)
        title = (book.properties.title or "").strip()
        return title or None, None, _when(book.properties.created)
    finally:
        book.close()


def _cell(value, number_format: str = "General") -> str:
    """A cell as the sheet shows it, by its number format: thousands separators only where the
    format has them ("#,##0"; General shows 2022, a year, as 2022), a percentage as one ("0.0%":
    0.125 is 12.5%), a date as ISO."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        shape = number_format.split(";")[0]
        comma = "," if "," in shape else ""
        places = len(re.sub(r"[^0#]", "", shape.split(".")[1])) if "." in shape else 0 if re.search(r"[0#]", shape) else None
        if shape.endswith("%"):
            return f"{_half_up(value * 100, places or 0):{comma}.{places or 0}f}%"
        if places is not None:
            return f"{_half_up(value, places):{comma}.{places}f}"
        if isinstance(value, float) and not value.is_integer():
            return format(round(value, 6), comma)
        return format(int(value), comma)
    return " ".join(str(value).split())


def _half_up(value: float, places: int) -> float:
    """`value` rounded to `places` as a spreadsheet rounds (half away from zero), not to even."""
    try:
        return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))
    except InvalidOperation:  # inf, nan, or more digits than a Decimal holds: as it is
        return value


def _table(out, rows: list[str], section: str | None, page: int | None = None) -> None:
    if rows:
        header = rows[0] if len(rows) > 1 else None
        out.add("\n".join(rows), "table", 1, page, " · ".join(x for x in (section, header) if x) or None)
