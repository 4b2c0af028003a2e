"""A document laid out for reading: paragraphs, headings and page markers from its stored
text, an anchor where each passage starts, and the marks for one passage and its sentences.

Offsets stay those of the stored text (what passages and citations point at); only what is
shown is repaired: sentences the source glued together ("care.Trained") get their space back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .knowledge import KnowledgeBase

__all__ = ["Block", "cells", "read", "repair", "sentence_numbers"]

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\n\s*\n|\s*\Z)", re.S)
_GLUED = re.compile(r"(?<=[a-z0-9%)][.!?:;])(?=[A-Z][A-Za-z])")  # "care.Trained", "goals.UNICEF", "partners:Trained"
_SOFT_BREAK = re.compile(r"[\xad\x02]\n(?=\w)")  # a word hyphenated at a line's end by the typesetter: joined
_WRAPPED = re.compile(r"(?<=[^\s.!?:;])[ \t]*\n[ \t]*(?=[a-z(])")  # a line wrapped inside a sentence


@dataclass
class Block:
    kind: str  # "heading", "paragraph", "table" or "page"
    pieces: list[tuple[str, int]] = field(default_factory=list)  # (text, 0 plain / 1 in the passage / 2 a marked sentence)
    anchors: list[str] = field(default_factory=list)  # ids of the passages that start here
    page: int | None = None
    rows: list[tuple[list[str], int, bool]] = field(default_factory=list)  # a table's rows: cells, mark level, labelled
    item: bool = False  # a bulleted paragraph: an item of a list with its neighbours


_BULLET = re.compile(r"[•●▪◦·]\s+|[-–]\s+(?=[A-Za-z])")  # a list item's marker, at a paragraph's start
_FIGURE = re.compile(r"^(?:\(?[-+]?[$€£¥]?\d[\d,]*(?:\.\d+)?%?\)?%?|[—–-]|n/?a|nm)$", re.I)


def cells(row: str) -> list[str]:
    """A table row's cells: split at " | " where the loader kept cells apart (HTML, Office),
    else a label followed by its figures, as a PDF's financial tables are laid out
    ("Net sales $ 2,634.3 $ 2,345.9" -> label, "$ 2,634.3", "$ 2,345.9")."""
    if " | " in row:
        return [c.strip() for c in row.split(" | ")]
    words = row.split()
    figures: list[str] = []
    while words and (_FIGURE.match(words[-1]) or (words[-1] in "$€£¥" and figures)):
        word = words.pop()
        if word in "$€£¥" and figures:
            figures[-1] = f"{word} {figures[-1]}"
        else:
            figures.append(word)
    label = " ".join(words)
    return ([label] if label else []) + figures[::-1]


def repair(text: str) -> str:
    """Display text: a space back between sentences the source glued together, lines the
    source wrapped inside a sentence joined, and words a typesetter hyphenated at a line's
    end (a soft hyphen) made whole. A hyphen of the text itself stays: "child-\nfriendly"
    reads "child-friendly", as the report meant."""
    text = _SOFT_BREAK.sub("", text)
    text = re.sub(r"(?<=\w-)\n(?=[a-z])", "", text)
    return _GLUED.sub(" ", _WRAPPED.sub(" ", text))


def read(kb: KnowledgeBase, doc_id: str, mark: str | None = None, sentences: tuple[int, ...] = ()) -> list[Block]:
    """The document as blocks, with the passage `mark` (an id) shown as such and its
    `sentences` (their numbers in the passage, as `sentence_numbers` gives them: the ones a
    result highlighted) marked."""
    doc = kb.document(doc_id)
    text, rows = kb.store.document_layout(doc.id)
    tables = kb.store.tables_of(doc.id)
    starts: dict[int, list[str]] = {}
    pages: list[tuple[int, int]] = []
    span = None
    for passage_id, _section, page, start, end in rows:
        starts.setdefault(start, []).append(passage_id)
        if page is not None and (not pages or pages[-1][1] != page):
            pages.append((start, page))
        if passage_id == mark and span is None:  # a passage repeated in the document: its first place, where its anchor is
            span = (start, end)
    chosen: list[tuple[int, int]] = []
    if span is not None and sentences:
        from .chunking import split_sentences

        spans = split_sentences(text, span[0], span[1])
        chosen = [spans[i] for i in sorted(set(sentences)) if 0 <= i < len(spans)]
    headings = {s.rsplit(" > ", 1)[-1].strip().lower() for _, s, _, _, _ in rows if s}
    blocks: list[Block] = []
    anchored: set[str] = set()
    page_at = iter(pages + [(len(text) + 1, -1)])
    next_page = next(page_at)
    for m in _PARAGRAPH.finditer(text):
        a, b = m.start(), m.end()
        while next_page[0] <= a or (next_page[0] < b and not blocks):
            if next_page[1] > 0:
                blocks.append(Block("page", page=next_page[1]))
            next_page = next(page_at)
        body = text[a:b]
        table = any(s < b and a < e for s, e in tables)
        kind = "table" if table else "heading" if len(body) < 200 and body.strip().lower() in headings else "paragraph"
        block = Block(kind)
        for s in sorted(k for k in starts if k < b):
            for pid in starts[s]:
                if pid not in anchored:
                    block.anchors.append(pid)
                    anchored.add(pid)
        if table:
            for line in re.finditer(r"[^\n]+", body):
                lo, hi = a + line.start(), a + line.end()
                level = max((lv for _, lv in _marked(text, lo, hi, span, chosen)), default=0)
                if line.group().strip():
                    row = cells(line.group().strip())
                    block.rows.append((row, level, len(row) > 1 and not _FIGURE.match(row[0].split()[0])))
        else:
            block.pieces = _marked(text, a, b, span, chosen)
            if kind == "paragraph" and (bullet := _BULLET.match(body)):
                block.item = True
                first, level = block.pieces[0]
                block.pieces[0] = (first[len(bullet.group(0)):] if first.startswith(bullet.group(0)) else first, level)
        blocks.append(block)
    return blocks


def _marked(text: str, a: int, b: int, span: tuple[int, int] | None, sentences: list[tuple[int, int]]) -> list[tuple[str, int]]:
    """text[a:b] as pieces: 1 where the passage overlaps it, 2 on its chosen sentences (spans
    of the text), 0 elsewhere; each piece repaired for display."""
    if span is None or span[1] <= a or span[0] >= b:
        return [(repair(text[a:b]), 0)]
    cuts = [(max(a, span[0]), min(b, span[1]), 1)]
    for s, e in sentences:
        s, e = max(s, a), min(e, b)
        if s < e:
            cuts.append((s, e, 2))
    edges = sorted({a, b, *(x for s, e, _ in cuts for x in (s, e))})
    out: list[tuple[str, int]] = []
    for lo, hi in zip(edges, edges[1:]):
        level = max((lv for s, e, lv in cuts if s <= lo and hi <= e), default=0)
        if out and out[-1][1] == level:
            out[-1] = (out[-1][0] + text[lo:hi], level)
        else:
            out.append((text[lo:hi], level))
    return [(repair(t), level) for t, level in out]


def sentence_numbers(text: str, highlights: tuple[str, ...]) -> list[int]:
    """The numbers (in `split_sentences` order) of a passage's highlighted sentences: what a
    result's link to the reader carries so the reader marks the same sentences."""
    from .chunking import split_sentences

    spans = split_sentences(text)
    wanted = {" ".join(h.split()) for h in highlights}
    return [i for i, (s, e) in enumerate(spans) if " ".join(text[s:e].split()) in wanted]
