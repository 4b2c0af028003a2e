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

__all__ = ["Block", "read", "repair"]

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\n\s*\n|\s*\Z)", re.S)
_GLUED = re.compile(r"(?<=[a-z0-9%)][.!?:;])(?=[A-Z][A-Za-z])")  # "care.Trained", "goals.UNICEF", "partners:Trained"
_SOFT_BREAK = re.compile(r"[\xad\x02]\n(?=\w)")  # a word hyphenated at a line's end by the typesetter: joined
_WRAPPED = re.compile(r"(?<=[^\s.!?:;])[ \t]*\n[ \t]*(?=[a-z(])")  # a line wrapped inside a sentence


@dataclass
class Block:
    kind: str  # "heading", "paragraph" or "page"
    pieces: list[tuple[str, bool]] = field(default_factory=list)  # (text, marked)
    anchors: list[str] = field(default_factory=list)  # ids of the passages that start here
    page: int | None = None


def repair(text: str) -> str:
    """Display text: a space back between sentences the source glued together, lines the
    source wrapped inside a sentence joined, and words a typesetter hyphenated at a line's
    end (a soft hyphen) made whole. A hyphen of the text itself stays: "child-\nfriendly"
    reads "child-friendly", as the report meant."""
    text = _SOFT_BREAK.sub("", text)
    text = re.sub(r"(?<=\w-)\n(?=[a-z])", "", text)
    return _GLUED.sub(" ", _WRAPPED.sub(" ", text))


def read(kb: KnowledgeBase, doc_id: str, mark: str | None = None, sentences: tuple[str, ...] = ()) -> list[Block]:
    """The document as blocks, with the passage `mark` (an id) and its `sentences` marked."""
    doc = kb.document(doc_id)
    text, rows = kb.store.document_layout(doc.id)
    starts: dict[int, list[str]] = {}
    pages: list[tuple[int, int]] = []
    span = None
    for passage_id, _section, page, start, end in rows:
        starts.setdefault(start, []).append(passage_id)
        if page is not None and (not pages or pages[-1][1] != page):
            pages.append((start, page))
        if passage_id == mark and span is None:  # a passage repeated in the document: its first place, where its anchor is
            span = (start, end)
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
        kind = "heading" if len(body) < 200 and body.strip().lower() in headings else "paragraph"
        block = Block(kind)
        for s in sorted(k for k in starts if k < b):
            for pid in starts[s]:
                if pid not in anchored:
                    block.anchors.append(pid)
                    anchored.add(pid)
        block.pieces = _marked(text, a, b, span, sentences)
        blocks.append(block)
    return blocks


def _marked(text: str, a: int, b: int, span: tuple[int, int] | None, sentences: tuple[str, ...]) -> list[tuple[str, bool]]:
    """text[a:b] as pieces, marked where the marked passage overlaps it (its highlighted
    sentences, when given, else all of it), each piece repaired for display."""
    if span is None or span[1] <= a or span[0] >= b:
        return [(repair(text[a:b]), False)]
    lo, hi = max(a, span[0]), min(b, span[1])
    cuts = [(lo, hi)]
    if sentences:
        found = [(text.find(s, lo, hi), len(s)) for s in sentences if s]
        cuts = sorted((at, at + n) for at, n in found if at >= 0) or cuts
    out, pos = [], a
    for s, e in cuts:
        if s < pos:
            continue
        if s > pos:
            out.append((repair(text[pos:s]), False))
        out.append((repair(text[s:e]), True))
        pos = e
    if pos < b:
        out.append((repair(text[pos:b]), False))
    return out
