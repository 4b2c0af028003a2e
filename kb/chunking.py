"""Sentence-aware chunking, sized by the embedding model's own tokenizer.

Passages are runs of whole sentences within one section, balanced in size, never longer than
the model reads (so nothing is silently truncated), with a few trailing sentences of each
passage repeated at the start of the next (overlap). A sentence longer than a passage on its
own is split at word boundaries.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from .cleaning import clean_text
from .structure import LoadedDocument, sections

__all__ = ["Chunk", "split_sentences", "chunk_document"]

TokenCounter = Callable[[Sequence[str]], list[int]]

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "no", "nos", "fig", "figs",
    "al", "inc", "ltd", "co", "corp", "dept", "approx", "est", "vol", "pp", "p", "art", "sec",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "eg", "ie",
}
# A terminator, optional closing quotes/brackets, then white space or (glued) a capitalised word.
_BOUNDARY = re.compile(r"""([.!?]+|:)(["'’”)\]]*)(\s+|(?=[A-Z][a-z]|[A-Z]{2,}\b))""")
_OPENERS = "\"'‘“([" 


@dataclass(frozen=True)
class Chunk:
    text: str  # the original text of the span, for display
    clean: str  # what is embedded and indexed
    start: int
    end: int
    section: str | None
    page: int | None
    tokens: int


def _is_abbreviation(text: str, dot: int) -> bool:
    m = re.search(r"([\w.]+)$", text[max(0, dot - 20):dot])
    if not m:
        return False
    word = m.group(1)
    return (
        word.lower().replace(".", "") in _ABBREVIATIONS
        or (len(word) == 1 and word.isupper())
        or bool(re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word))
    )


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans in text[start:end], stripped of surrounding white space.

    Handles sentences glued by a lost space ("vulnerable.To"), abbreviations, initials and
    decimals; a colon ends a sentence only when glued to a capitalised word (list items).
    """
    end = len(text) if end is None else end
    spans, begin = [], start
    for m in _BOUNDARY.finditer(text, start, end):
        term, space = m.group(1), m.group(3)
        after = text[m.end():m.end() + 1]
        if space:
            if term == ":" or not after or not (after.isupper() or after.isdigit() or after in _OPENERS):
                continue
            if term == "." and _is_abbreviation(text, m.start(1)):
                continue
        else:
            before = text[m.start(1) - 1] if m.start(1) > start else ""
            if not (before.islower() or before.isdigit() or before in "%)"):
                continue
        stop = m.start(3)
        if text[begin:stop].strip():
            spans.append(_strip(text, begin, stop))
        begin = m.end()
    if text[begin:end].strip():
        spans.append(_strip(text, begin, end))
    return spans


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


@dataclass
class _Piece:
    start: int
    end: int
    clean: str
    tokens: int
    page: int | None
    section: str | None


def _split_long(text: str, piece: _Piece, limit: int, count: TokenCounter) -> list[_Piece]:
    """Cut an over-long sentence into runs of whole words of at most `limit` tokens."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[piece.start:piece.end])]
    words = [(piece.start + s, piece.start + e) for s, e in words]
    counts = count([clean_text(text[s:e]) for s, e in words])
    out, run, total = [], [], 0
    for (s, e), n in zip(words, counts):
        n = min(n, limit)  # a single "word" above the limit (a URL, a table row) is cut by the model
        if run and total + n > limit:
            out.append(run)
            run, total = [], 0
        run.append((s, e))
        total += n
    if run:
        out.append(run)
    pieces = []
    for run in out:
        s, e = run[0][0], run[-1][1]
        c = clean_text(text[s:e])
        pieces.append(_Piece(s, e, c, 0, piece.page, piece.section))
    for p, n in zip(pieces, count([p.clean for p in pieces])):
        p.tokens = n
    return pieces


def _pack(pieces: list[_Piece], target: int, overlap: int) -> list[list[_Piece]]:
    """Greedy packing into balanced runs of at most `target` tokens, with sentence overlap."""
    total = sum(p.tokens for p in pieces)
    step = max(1, target - overlap)  # new tokens each passage after the first can hold
    n = max(1, math.ceil(max(0, total - overlap) / step))
    goal = math.ceil((total - overlap) / n) + overlap if total > overlap else target
    runs, run, size = [], [], 0
    for p in pieces:
        if run and (size + p.tokens > target or size >= goal):
            runs.append(run)
            carry, carried = [], 0
            for q in reversed(run):
                if carried + q.tokens > overlap or len(carry) + 1 >= len(run):
                    break
                carry.insert(0, q)
                carried += q.tokens
            if carried + p.tokens > target:
                carry, carried = [], 0
            run, size = carry, carried
        run.append(p)
        size += p.tokens
    if run:
        runs.append(run)
    if len(runs) > 1:  # fold a small tail into the passage before it when that one has room
        fresh = [p for p in runs[-1] if p not in runs[-2]]
        if sum(p.tokens for p in runs[-2] + fresh) <= target:
            runs[-2:] = [runs[-2] + fresh]
    return runs


def chunk_document(
    doc: LoadedDocument,
    count_tokens: TokenCounter,
    max_tokens: int,
    target: int = 200,
    overlap: int = 32,
) -> list[Chunk]:
    """Passages of `doc`, in reading order. `max_tokens` is the model's hard limit."""
    target = max(8, min(target, max_tokens))
    overlap = min(overlap, target // 2)
    text = doc.text
    pieces: list[_Piece] = []
    for block, section in sections(text, doc.blocks, doc.title):
        for s, e in split_sentences(text, block.start, block.end):
            c = clean_text(text[s:e])
            if c:
                pieces.append(_Piece(s, e, c, 0, block.page, section))
    for p, n in zip(pieces, count_tokens([p.clean for p in pieces])):
        p.tokens = n
    sized: list[_Piece] = []
    for p in pieces:
        sized.extend(_split_long(text, p, target, count_tokens) if p.tokens > target else [p])
    chunks: list[Chunk] = []
    i = 0
    while i < len(sized):  # pack each section on its own
        j = i
        while j < len(sized) and sized[j].section == sized[i].section:
            j += 1
        for run in _pack(sized[i:j], target, overlap):
            chunks.append(_chunk(text, run))
        i = j
    return _enforce_limit(text, chunks, count_tokens, max_tokens)


def _chunk(text: str, run: list[_Piece]) -> Chunk:
    s, e = run[0].start, run[-1].end
    return Chunk(text[s:e], " ".join(p.clean for p in run), s, e, run[0].section, run[0].page, sum(p.tokens for p in run))


def _enforce_limit(text: str, chunks: list[Chunk], count: TokenCounter, max_tokens: int) -> list[Chunk]:
    """Recount whole passages (joining can merge word pieces) and re-cut any above the limit."""
    counts = count([c.clean for c in chunks])
    out = []
    for chunk, n in zip(chunks, counts):
        if n <= max_tokens:
            out.append(Chunk(chunk.text, chunk.clean, chunk.start, chunk.end, chunk.section, chunk.page, n))
            continue
        piece = _Piece(chunk.start, chunk.end, chunk.clean, n, chunk.page, chunk.section)
        halves = _split_long(text, piece, max(1, max_tokens // 2), count)
        out.extend(_enforce_limit(text, [_chunk(text, [h]) for h in halves], count, max_tokens))
    return out
