"""Document structure from plain text: paragraphs, headings, date lines, title.

Loaders reduce every format to one text plus `Block` spans into it; this module finds those
spans for line-oriented text (.txt, .md, PDF pages) and turns blocks into sections.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from datetime import date

__all__ = ["MONTH", "Block", "LoadedDocument", "TextBuilder", "parse_text", "parse_date", "title_from_filename", "is_heading", "month_number"]

_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"]
MONTH = r"(January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
_DATE_PATTERNS = [
    (re.compile(rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+{MONTH},?\s+(\d{{4}})", re.I), ("d", "m", "y")),
    (re.compile(rf"{MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})", re.I), ("m", "d", "y")),
    (re.compile(r"(\d{4})-(\d{2})-(\d{2})"), ("y", "mm", "d")),
]
_DATE_LABELS = {"", "published", "published on", "date", "dated", "updated", "last updated"}
_TERMINAL = ".,;:!。，；：！？"  # a line ending so is a sentence, not a heading (full-width: Chinese, Japanese)


@dataclass(frozen=True)
class Block:
    """A span of the document text: a heading (with level) or a paragraph of body text."""

    start: int
    end: int
    kind: str = "text"  # "text" | "heading"
    level: int = 1
    page: int | None = None
    context: str | None = None  # for a table: its title and column headings, carried by its passages


@dataclass(frozen=True)
class LoadedDocument:
    """What a loader returns: the full text as read, its blocks, and metadata."""

    text: str
    blocks: tuple[Block, ...]
    title: str
    date: str | None
    format: str
    pages: int | None = None
    organisation: str | None = None
    period: str | None = None  # the period covered: "FY2022", "Q2 2023"
    kind: str | None = None  # "annual report", "quarterly report", "press release", ...
    warnings: tuple[str, ...] = ()  # what could not be read (pages without text), for the ingest report


class TextBuilder:
    """Joins extracted pieces into one text ("\\n\\n" between them), recording block spans:
    how every loader that reads pieces (HTML elements, Office paragraphs, PDF lines) builds a
    `LoadedDocument`."""

    def __init__(self):
        self.parts: list[str] = []
        self.blocks: list[Block] = []
        self.length = 0
        self.pages = 0  # slides or sheets, where a format has them

    def add(self, text: str, kind: str = "text", level: int = 1, page: int | None = None, context: str | None = None):
        text = text.strip()
        if not text:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        self.blocks.append(Block(self.length, self.length + len(text), kind, level, page, context))
        self.parts.append(text)
        self.length += len(text)

    def extend(self, text: str) -> None:
        """Add `text` to the last block (a heading wrapped onto a second line)."""
        text = text.strip()
        if text and self.blocks:
            self.parts[-1] += " " + text
            self.length += 1 + len(text)
            self.blocks[-1] = replace(self.blocks[-1], end=self.length)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def parse_date(text: str) -> str | None:
    """The first date written in `text`, as ISO ``YYYY-MM-DD``."""
    for pattern, order in _DATE_PATTERNS:
        m = pattern.search(text)
        if not m:
            continue
        parts = dict(zip(order, m.groups()))
        try:
            month = int(parts["mm"]) if "mm" in parts else month_number(parts["m"])
            return date(int(parts["y"]), month, int(parts["d"])).isoformat()
        except (ValueError, KeyError):
            continue
    return None


def month_number(name: str) -> int:
    """1-12 for a month's name or abbreviation ("Sept.", "june")."""
    abbrev = name.lower().rstrip(".")
    return next(i for i, m in enumerate(_MONTHS, start=1) if m.startswith(abbrev[:3]))


def _is_date_line(line: str) -> str | None:
    """The date, when a line holds a date and nothing else (bar a 'Published:'-like label)."""
    line = line.strip()
    if len(line) > 48:
        return None
    for pattern, _ in _DATE_PATTERNS:
        m = pattern.search(line)
        if m:
            rest = (line[: m.start()] + line[m.end():]).strip(" ,:-").lower()
            return parse_date(m.group(0)) if rest in _DATE_LABELS else None
    return None


def is_heading(line: str) -> bool:
    """A short line standing alone, without closing punctuation, that starts with a capital."""
    line = line.strip()
    words = line.split()
    return (
        0 < len(words) <= 16
        and len(line) <= 120
        and line[-1] not in _TERMINAL
        and (line[0].isupper() or line[0].isdigit())
        and not line.isdigit()
        and any(c.isalpha() for c in line)
    )


def _titleish(line: str) -> bool:
    """All capitals, or most longer words capitalised: how headings look, unlike sentences."""
    words = [w for w in re.findall(r"[^\W\d_]+", line) if len(w) > 3]
    return line.isupper() or (bool(words) and sum(w[0].isupper() for w in words) / len(words) >= 0.6)


def title_from_filename(stem: str, text: str) -> str:
    """'unicef-china-2023-annual-report' -> 'UNICEF China 2023 Annual Report'.

    A word keeps the all-capitals form when the text writes it that way (acronyms).
    """
    words = [w for w in re.split(r"[\s_\-.]+", stem) if w]
    out = []
    for w in words:
        upper = w.upper()
        if len(w) > 1 and re.search(rf"\b{re.escape(upper)}\b", text) and not re.search(rf"\b{re.escape(w.capitalize())}\b", text):
            out.append(upper)
        else:
            out.append(w[:1].upper() + w[1:])
    return " ".join(out) or stem


def parse_text(text: str, page_starts: list[int] | None = None, markdown: bool = False):
    """Split line-oriented text into blocks. Returns (blocks, first date line found).

    Paragraphs are separated by blank lines. A paragraph of one short line without closing
    punctuation is a heading; a paragraph that is only a date is metadata, not text.
    Markdown says where its headings are, so there only its own are: ``#`` lines of their
    level wherever they stand, and a line underlined by ``===`` (level 1) or ``---`` (2). A
    fenced code block (``` or ~~~) is one block, blank lines and ``#`` comments inside it too;
    a pipe table (a row of cells over a ``|---|`` line) is a table, its header row its context.
    """
    blocks: list[Block] = []
    found_date = None
    para: list[tuple[int, int]] = []

    def page_of(pos: int) -> int | None:
        return bisect.bisect_right(page_starts, pos) if page_starts else None

    def flush():
        nonlocal found_date
        if not para:
            return
        if markdown and _pipe_table(text, para, blocks, page_of):
            para.clear()
            return
        start, end = para[0][0], para[-1][1]
        chunk = text[start:end]
        if len(para) == 1:
            when = _is_date_line(chunk)
            if when:
                found_date = found_date or when
                para.clear()
                return
            if not markdown and is_heading(chunk):
                blocks.append(Block(start, end, "heading", 1, page_of(start)))
                para.clear()
                return
        blocks.append(Block(start, end, "text", 1, page_of(start)))
        para.clear()

    pos = 0
    fence: tuple[str, int] | None = None  # the open code fence's mark, and where its block starts
    for line in text.splitlines(keepends=True):
        start, body = pos, line.rstrip("\r\n")
        pos += len(line)
        stripped = body.strip()
        if fence is not None:  # inside a code block: everything is its text, up to the closing fence
            if stripped.startswith(fence[0]) and not stripped.strip(fence[0][0]):
                blocks.append(Block(fence[1], start + len(body.rstrip()), "text", 1, page_of(fence[1])))
                fence = None
            continue
        if not stripped or stripped == "\f":
            flush()
            continue
        lead = start + len(body) - len(body.lstrip())
        end = start + len(body.rstrip())
        if markdown and (m := _FENCE.match(stripped)) and not (m.group(1)[0] == "`" and "`" in stripped[m.end():]):
            flush()
            fence = (m.group(1), lead)
            continue
        if markdown and len(para) == 1 and (m := _UNDERLINE.match(stripped)):
            heading = para.pop()
            blocks.append(Block(heading[0], heading[1], "heading", 1 if m.group(1) == "=" else 2, page_of(heading[0])))
            continue
        if markdown and not para and _RULE.match(stripped):
            continue  # a thematic break: no text
        if markdown and (m := re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", stripped)):
            flush()
            head_start = lead + stripped.index(m.group(2)) if m.group(2) else lead
            blocks.append(Block(head_start, head_start + len(m.group(2)), "heading", len(m.group(1)), page_of(start)))
            continue
        if page_starts and para:
            # PDF text has no blank lines between blocks: spot headings run into the text.
            first = text[para[0][0]:para[0][1]]
            if len(para) == 1 and is_heading(first) and _titleish(first):
                blocks.append(Block(para[0][0], para[0][1], "heading", 1, page_of(para[0][0])))
                para.clear()
            elif stripped.isupper() and is_heading(stripped) and text[para[-1][1] - 1] in ".!?":
                flush()
        if page_starts and not para and stripped.isdigit():
            continue  # a page number
        if para and _is_date_line(stripped):
            flush()  # a date line stands alone even when no blank line sets it off
        para.append((lead, end))
    flush()
    if fence is not None:  # never closed: the code runs to the end
        blocks.append(Block(fence[1], len(text.rstrip()), "text", 1, page_of(fence[1])))
    return blocks, found_date


_FENCE = re.compile(r"(`{3,}|~{3,})")
_UNDERLINE = re.compile(r"([=-])\1*\s*$")  # under a paragraph's one line: a setext heading
_RULE = re.compile(r"(?:([-*_])\s*)(?:\1\s*){2,}$")  # ---, ***, ___ (spaces allowed) standing alone
TABLE_RULE = re.compile(r"\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")  # a Markdown table's |---|:--:| line


def _pipe_table(text: str, para: list[tuple[int, int]], blocks: list[Block], page_of) -> bool:
    """A Markdown table in a paragraph's lines (a row of cells over a |---| line): the lines
    before it as text, then the table, its header row as its context. False when there is none."""
    lines = [text[s:e] for s, e in para]
    at = next((j for j in range(len(lines) - 1) if "|" in lines[j] and "|" in lines[j + 1]
               and TABLE_RULE.fullmatch(lines[j + 1].strip())), None)
    if at is None:
        return False
    if at:
        blocks.append(Block(para[0][0], para[at - 1][1], "text", 1, page_of(para[0][0])))
    header = " | ".join(c.strip() for c in lines[at].strip().strip("|").split("|"))
    blocks.append(Block(para[at][0], para[-1][1], "table", 1, page_of(para[at][0]), header or None))
    return True


def sections(text: str, blocks, title: str):
    """Yield (block, section path) for text blocks; headings set the path ('A > B'). A heading
    that heads nothing (the next block is a heading of its level or above) is text itself: its
    words were otherwise in no passage (a cover's "Commission File Number 001-37845"). It goes
    with the section that follows, which it stands just before ("UNITED STATES" over
    "SECURITIES AND EXCHANGE COMMISSION", "PART I" over "ITEM 1. BUSINESS"); after a
    document's last text, with the section it ends (a last line without a full stop)."""
    path: list[tuple[int, str]] = []
    waiting: list[Block] = []  # headings of nothing, until the section they stand before begins
    last = max((i for i, b in enumerate(blocks) if b.kind != "heading"), default=-1)
    for i, block in enumerate(blocks):
        if block.kind == "heading":
            heading = " ".join(text[block.start:block.end].split())
            after = blocks[i + 1] if i + 1 < len(blocks) else None
            if heading.lower() == title.lower() and not path:
                if after is not None and after.kind != "heading":  # it opens the text, as a record's title does
                    yield replace(block, kind="text"), None
                continue
            if i > last or (after is not None and after.kind == "heading" and after.level <= block.level):
                waiting.append(replace(block, kind="text"))
                continue
            path = [(lvl, h) for lvl, h in path if lvl < block.level]
            path.append((block.level, heading))
            continue
        for held in waiting:
            yield held, " > ".join(h for _, h in path) or None
        waiting.clear()
        yield block, " > ".join(h for _, h in path) or None
    for held in waiting:
        yield held, " > ".join(h for _, h in path) or None
