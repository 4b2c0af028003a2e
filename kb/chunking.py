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
from .structure import TABLE_RULE, LoadedDocument, sections

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
# Chinese and Japanese sentences end in full-width marks and need no space after them.
_CJK_END = re.compile(r"[。！？]+[」』”’）)]*")
MAX_PIECE_CHARS = 2_000  # a longer "sentence" (a table dump, text without stops) is cut first
MAX_PASSAGE_CHARS = 4_000  # whatever the tokens: a 100-letter "word" is one [UNK] word piece
FRAGMENT_TOKENS = 8  # a run of text under this many word pieces beside a table is no passage on its own


@dataclass(frozen=True)
class Chunk:
    text: str  # the original text of the span, for display
    clean: str  # what is embedded and indexed
    start: int
    end: int
    section: str | None
    page: int | None
    tokens: int
    context: str | None = None  # a table's title and column headings, which `clean` starts with


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
    decimals; a colon ends a sentence only when glued to a capitalised word (list items). A
    blank line ends one too: a line above it without a full stop (a caption, a list's last
    item, a signature) is no part of the next paragraph's first sentence.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for begin, stop in _paragraphs(text, start, end):
        for m in _CJK_END.finditer(text, begin, stop):
            spans += _split_latin(text, begin, m.end())
            begin = m.end()
        spans += _split_latin(text, begin, stop)
    return spans


_BLANK_LINE = re.compile(r"\n[ \t\f]*\n")


def _paragraphs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each run of text[start:end] between blank lines."""
    out, begin = [], start
    for m in _BLANK_LINE.finditer(text, start, end):
        out.append((begin, m.start()))
        begin = m.end()
    return out + [(begin, end)]


def _split_latin(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, begin = [], start
    for m in _BOUNDARY.finditer(text, start, end):
        term, space = m.group(1), m.group(3)
        after = text[m.end():m.end() + 1]
        if space:
            opens = after.isupper() or after.isdigit() or after in _OPENERS or (after == "|" and "\n" in space)  # a table row
            if term == ":" or not after or not opens:
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
    context: str | None = None


def _windows(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Cut text[start:end] into spans of at most `size` characters, at white space or
    punctuation where there is some near the end of a window, anywhere where there is none."""
    out = []
    while end - start > size:
        cut = start + size
        for i in range(cut, start + size // 2, -1):
            if text[i - 1].isspace() or text[i - 1] in ",;，、；：":
                cut = i
                break
        out.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        out.append((start, end))
    return out


def _fit(text: str, spans: list[tuple[int, int]], limit: int, count: TokenCounter) -> list[tuple[tuple[int, int], int]]:
    """(span, tokens) with every span cut until it holds at most `limit` tokens. Iterative:
    a span over the limit is cut into windows sized from its own characters per token."""
    out, todo = [], list(spans)
    while todo:
        counts = count([clean_text(text[s:e]) for s, e in todo])
        again = []
        for (s, e), n in zip(todo, counts):
            if n <= limit or e - s <= 1:
                out.append(((s, e), n))
            else:
                size = max(1, min(e - s - 1, int((e - s) * limit / n * 0.9)))
                again += _windows(text, s, e, size)
        todo = again
    return sorted(out)


def _split_long(text: str, piece: _Piece, limit: int, count: TokenCounter) -> list[_Piece]:
    """Cut an over-long sentence into runs of whole words of at most `limit` tokens; a word
    longer than that on its own (text without spaces, a long run of figures) is cut inside."""
    words = [(piece.start + m.start(), piece.start + m.end()) for m in re.finditer(r"\S+", text[piece.start:piece.end])]
    spans = [w for s, e in words for w in _windows(text, s, e, 4 * limit)]
    out: list[list[tuple[int, int]]] = []
    run: list[tuple[int, int]] = []
    total = 0
    for (s, e), n in _fit(text, spans, limit, count):
        if run and total + n > limit:
            out.append(run)
            run, total = [], 0
        run.append((s, e))
        total += n
    if run:
        out.append(run)
    pieces = [_Piece(run[0][0], run[-1][1], clean_text(text[run[0][0]:run[-1][1]]), 0, piece.page, piece.section, piece.context)
              for run in out]
    for p, n in zip(pieces, count([p.clean for p in pieces])):
        p.tokens = n
    return pieces


def _pack(pieces: list[_Piece], target: int, overlap: int) -> list[list[_Piece]]:
    """Greedy packing into balanced runs of at most `target` tokens, with sentence overlap."""
    total = sum(p.tokens for p in pieces)
    step = max(1, target - overlap)  # new tokens each passage after the first can hold
    n = max(1, math.ceil(max(0, total - overlap) / step))
    goal = math.ceil((total - overlap) / n) + overlap if total > overlap else target
    runs: list[list[_Piece]] = []
    run: list[_Piece] = []
    size = 0
    for p in pieces:
        if run and (size + p.tokens > target or size >= goal
                    or sum(len(q.clean) for q in run) + len(p.clean) > MAX_PASSAGE_CHARS):
            runs.append(run)
            carry: list[_Piece] = []
            carried = 0
            for q in reversed(run):
                if carried + q.tokens > overlap or len(carry) + 1 >= len(run) or len(q.clean) > MAX_PASSAGE_CHARS // 4:
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
        if sum(p.tokens for p in runs[-2] + fresh) <= target and sum(len(p.clean) for p in runs[-2] + fresh) <= MAX_PASSAGE_CHARS:
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
    contexts = {b.context for b in doc.blocks if b.context}
    room = dict(zip(contexts, count_tokens(list(contexts))))  # what a table's title and columns cost
    overlap = min(overlap, target // 2)
    text = doc.text
    pieces: list[_Piece] = []
    for block, section in sections(text, doc.blocks, doc.title):
        if block.kind == "table":  # one row a piece: a row is never cut from its figures (a Markdown |---| line is none)
            spans = [(block.start + m.start(), block.start + m.end()) for m in re.finditer(r"[^\n]+", text[block.start:block.end])
                     if not TABLE_RULE.fullmatch(m.group().strip())]
        else:
            spans = split_sentences(text, block.start, block.end)
        for span_start, span_end in spans:
            for s, e in _windows(text, span_start, span_end, MAX_PIECE_CHARS):
                c = clean_text(text[s:e])
                if c:
                    pieces.append(_Piece(s, e, c, 0, block.page, section, block.context))
    for p, n in zip(pieces, count_tokens([p.clean for p in pieces])):
        p.tokens = n
    _fold_fragments(pieces)
    sized: list[_Piece] = []
    for p in pieces:
        limit = max(8, target - room.get(p.context, 0)) if p.context else target
        sized.extend(_split_long(text, p, limit, count_tokens) if p.tokens > limit else [p])
    chunks: list[Chunk] = []
    for i, j in _runs(sized):  # pack each section (and each table) on its own
        context = sized[i].context
        budget = max(8, target - room.get(context, 0)) if context else target
        for group in _by_page(sized[i:j], budget // 4):
            for run in _pack(group, budget, 0 if context else overlap):
                chunks.append(_chunk(text, run))
    return _enforce_limit(text, chunks, count_tokens, max_tokens)


def _runs(pieces: list[_Piece]) -> list[tuple[int, int]]:
    """(start, end) of each run of consecutive pieces of one section and one table (or of
    the section's text), which are packed on their own."""
    runs: list[tuple[int, int]] = []
    for i, p in enumerate(pieces):
        if runs and (pieces[runs[-1][0]].section, pieces[runs[-1][0]].context) == (p.section, p.context):
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def _fold_fragments(pieces: list[_Piece]) -> None:
    """A run of text under `FRAGMENT_TOKENS` word pieces beside a table of its section on the
    same page ("Current assets" over a balance sheet's first rows, "(Dollars in millions)", a
    column heading's stray line) joins the table after it, or else the one before it: on its
    own it was a passage with nothing to read or cite, and shown for questions it does not
    answer, while the rows it heads lost its words. A section holding only such a run keeps it
    ("None." under "Item 1B. Unresolved Staff Comments" answers with its heading)."""
    runs = _runs(pieces)
    for k, (i, j) in enumerate(runs):
        if pieces[i].context is not None or sum(p.tokens for p in pieces[i:j]) >= FRAGMENT_TOKENS:
            continue
        after = runs[k + 1][0] if k + 1 < len(runs) else None
        before = runs[k - 1][1] - 1 if k > 0 else None
        for edge, other in ((j - 1, after), (i, before)):
            if other is not None and pieces[other].context is not None and pieces[other].section == pieces[i].section \
                    and pieces[other].page == pieces[edge].page:
                for p in pieces[i:j]:
                    p.context = pieces[other].context
                break


def _by_page(pieces: list[_Piece], least: int) -> list[list[_Piece]]:
    """A section's pieces cut where the page turns, so that a passage cites one page: a
    passage packed across a page break was cited by the page it began on, and the figure or
    line it holds on the next page was not found on its page. A page's share under `least`
    tokens (the last line of a paragraph carried over, a table's last row) stays with the
    piece of the section before it, or after it when it comes first."""
    groups: list[list[_Piece]] = []
    for p in pieces:
        if groups and groups[-1][-1].page == p.page:
            groups[-1].append(p)
        else:
            groups.append([p])
    merged: list[list[_Piece]] = []
    for group in groups:
        if merged and (sum(p.tokens for p in group) < least or sum(p.tokens for p in merged[-1]) < least):
            merged[-1] = merged[-1] + group
        else:
            merged.append(group)
    return merged


def _chunk(text: str, run: list[_Piece]) -> Chunk:
    s, e = run[0].start, run[-1].end
    body = " ".join(p.clean for p in run)
    context = run[0].context
    clean = f"{context}\n{body}" if context else body  # a table's rows under its title and columns
    return Chunk(text[s:e], clean, s, e, run[0].section, run[0].page, sum(p.tokens for p in run), context)


def _enforce_limit(text: str, chunks: list[Chunk], count: TokenCounter, max_tokens: int) -> list[Chunk]:
    """Recount whole passages (joining can merge word pieces) and re-cut any above the limit.
    Iterative and bounded: each round cuts to a smaller share of the limit."""
    out: list[Chunk] = []
    todo, share = chunks, 2
    while todo:
        again = []
        for chunk, n in zip(todo, count([c.clean for c in todo])):
            if n <= max_tokens:
                out.append(Chunk(chunk.text, chunk.clean, chunk.start, chunk.end, chunk.section, chunk.page, n, chunk.context))
                continue
            room = count([chunk.context])[0] if chunk.context else 0
            piece = _Piece(chunk.start, chunk.end, chunk.clean, n, chunk.page, chunk.section, chunk.context)
            again += [_chunk(text, [h]) for h in _split_long(text, piece, max(1, (max_tokens - room) // share), count)]
        todo, share = again, share * 2
    return sorted(out, key=lambda c: (c.start, c.end))
