"""A question asking for a figure: the line that labels it comes first within its document.

"Nike FY2023 cost of sales" names the 10-K by its title and asks for one line of its income
statement: "Cost of sales 28,925 25,231 24,576". Neither retriever ranks that line's passage
high: a table of figures embeds far from any question, and BM25 prefers the notes that say
"cost of sales" three times in prose. What marks the answer is the line itself. It holds
figures, and its words are the words the question asks beyond the document's title. A
sentence that mentions cost of sales among other things covers the question as well but is
mostly other words.

So each passage among the first `LABEL_DEPTH` hits is scored by its best labelling line:
a line holding a figure whose words cover at least half the IDF mass of what the question asks
beyond the passage's document title, scored by that share times the share of the line's words
that are the question's. Within each document, its passages are ranked again by their fused
score plus `LABEL_WEIGHT` times that, and go back into the places the document's passages
held, each place keeping its score. Documents keep their order and their scores, so a
document-level collection ranks exactly as before; only which of a document's passages shows
first changes.

A question naming a measure (`kb.glossary`) asks for lines no prose holds: a passage printing
the measure, then one holding a line it is computed from, come before the rest of their
document whatever the scores, and passages holding those lines are fetched from the report by
the lines' names when retrieval did not rank them (`with_lines`). Not when it asks why: then
the prose explaining the measure answers.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from index import Hit, SearchEngine
from index.analysis import Analyzer

from .structure import MONTH

__all__ = ["LABEL_DEPTH", "LABEL_WEIGHT", "LINE_FETCH", "label_lines", "label_scores", "labelled_first",
           "labels_what_is_asked", "with_lines"]

LABEL_DEPTH = 50  # hits looked at: the head the second stage reorders, as deep as anyone reads
LABEL_WEIGHT = 0.5  # of a fused score (about 0-1): a full label match outranks a near miss in prose
COVER = 0.5  # share of what the question asks that a line must hold to label it
LINE_FETCH = 3  # passages of the report fetched per name of a line a measure is computed from
LINE_WORDS = 30  # longer lines are prose, not a label and its figures (and are not analysed)
_FIGURE = re.compile(r"\d")
# a question asking what drove a measure wants the prose that explains it, not its figure's lines
_WHY = re.compile(r"\b(?:why|dr(?:ove|ive[ns]?|ivers?|iving)|reasons?|explain\w*|caus\w*|due\s+to|factors?|contribut\w*)\b", re.I)
# a date names the period, as a year does, not the line: "as of May 31, 2021" does not ask for a line saying "May"
_DATE = re.compile(rf"\b{MONTH}\s+\d{{1,2}}\b(?:,?\s+\d{{4}})?", re.I)

Lines = tuple[str, ...]  # a passage's lines that hold a figure, lower-cased


def label_lines(text: str) -> Lines:
    """The lines of `text` that hold a figure (a table row, a line of a statement), lower-cased;
    lines of more than `LINE_WORDS` words are prose and left out. Nothing is analysed here:
    stemming every line of fifty passages a search has not met cost more than the rest of
    this step, so a line is analysed only once a question's words are found in it."""
    return tuple(line.lower() for line in text.splitlines() if _FIGURE.search(line) and len(line.split()) <= LINE_WORDS)


def with_lines(engine: SearchEngine, hits: list[Hit], documents: list[tuple[str, str]], heads: list[frozenset[str]],
               lines_asked: Sequence[str], passages_of: Callable[[str], np.ndarray], query: str,
               vector: np.ndarray | None) -> tuple[list[Hit], list[tuple[str, str]], list[frozenset[str]], int]:
    """The hits with the passages of the first hit's document that BM25 ranks best for each
    line asked (`LINE_FETCH` per name) put right after the first `LABEL_DEPTH`, at the score
    there, and how many hits `labelled_first` should then look at. A measure's lines sit in a
    statement that neither retriever ranks for "Adobe quick ratio FY2017" (no word of it is
    printed there): searched by the lines' own names, within the report the question is
    about, it is found (not when the question asks why: prose answers it). Each fetched hit
    gets its cosine and BM25 against the query, as every hit has them. `passages_of`: the
    sorted keys of a document's passages the search may return."""
    depth = min(len(hits), LABEL_DEPTH)
    if not lines_asked or not hits or _WHY.search(query):
        return hits, documents, heads, depth
    document, head = documents[0], heads[0]
    allowed = passages_of(document[0])
    known = {h.id for h in hits[:depth]}
    fetched: list[int] = []
    for line in lines_asked:
        for key, _ in engine.lexical.search(line, LINE_FETCH, allowed):
            if key not in known:
                known.add(key)
                fetched.append(key)
    if not fetched:
        return hits, documents, heads, depth
    ids = np.array(fetched, dtype=np.int64)
    cosine = engine.vectors.vectors(ids) @ vector if vector is not None else [None] * len(fetched)
    bm25 = engine.lexical.scores(query, ids)
    score = hits[depth - 1].score
    new = [Hit(key, score, None if c is None else float(c), None, float(b)) for key, c, b in zip(fetched, cosine, bm25)]
    rest = [i for i in range(depth, len(hits)) if hits[i].id not in known]
    return (hits[:depth] + new + [hits[i] for i in rest], documents[:depth] + [document] * len(new) + [documents[i] for i in rest],
            heads[:depth] + [head] * len(new) + [heads[i] for i in rest], depth + len(new))


def labelled_first(engine: SearchEngine, query: str, hits: list[Hit], documents: Sequence[tuple[str, str]],
                   heads: Sequence[frozenset[str]], lines_of: Callable[[list[int]], list[Lines]],
                   lines_asked: Sequence[str] = (), measures: Sequence[str] = (), depth: int = LABEL_DEPTH) -> list[Hit]:
    """`hits` with each document's passages among the first `depth` reordered among their
    own places, those with a line that labels what the query asks first. `documents`: each
    hit's document (id, title); `heads`: its title analysed; `depth`: how many hits to look
    at (`with_lines` adds to `LABEL_DEPTH`); `lines_of`: `label_lines` of
    each of a list of passage keys; `lines_asked`: names of lines the query asks for besides
    its own words (the lines a measure it names is computed from, `kb.glossary`); `measures`:
    the names of those measures.

    A measure is asked through its lines, so no prose can answer it: when the query names one,
    a passage with a line printing the measure itself (all of a name's words, "Effective tax
    rate 14.0 %") comes first within its document, then those labelled by the lines it is
    computed from (score at least `COVER`), then the rest, each group by score. Prose saying
    "inventory" does not give days inventory outstanding; the balance sheet's "Inventories"
    line does. Not when it asks why ("What drove 3M's operating margin change"): the prose
    that explains the measure answers, and its lines only add their labels' weight."""
    lexical = engine.lexical
    idf, also = _asked(engine, query, lines_asked)
    if not (idf or also) or len(hits) < 2:
        return hits
    top = hits[:depth]
    lines = lines_of([h.id for h in top])
    labels = label_scores(idf, lines, heads, lexical.analyzer, also)
    if not any(labels):
        return hits
    tier = [0] * len(top)  # 0 first
    if also and not _WHY.search(query):
        named = [dict(zip(words, lexical.idf(words).tolist())) for name in measures
                 if (words := [t for t in dict.fromkeys(lexical.analyzer(name)) if not _FIGURE.search(t)])]
        printed = label_scores({}, lines, heads, lexical.analyzer, named) if named else [0.0] * len(top)
        inputs = label_scores({}, lines, heads, lexical.analyzer, also)
        tier = [0 if p >= COVER else 1 if b >= COVER else 2 for p, b in zip(printed, inputs)]
    slots: dict[str, list[int]] = {}
    for i in range(len(top)):
        slots.setdefault(documents[i][0], []).append(i)
    out = list(hits)
    for places in slots.values():  # stable: ties keep their order
        ranked = sorted(places, key=lambda i: (tier[i], -(top[i].score + LABEL_WEIGHT * labels[i])))
        for slot, i in zip(places, ranked):  # the place keeps its score: order and scores agree
            if slot != i:
                out[slot] = top[i].rescored(top[slot].score)
    return out


def labels_what_is_asked(engine: SearchEngine, query: str, lines: Lines, head: frozenset[str],
                         lines_asked: Sequence[str] = ()) -> bool:
    """Whether one of a passage's lines labels what the query asks (as `labelled_first`
    scores it): evidence that it answers which the calibrated relevance does not read, as a
    statement's "Total current assets" line answers "current ratio" in no word of the question.
    A line must hold at least `COVER` of what is asked and be mostly made of it (score at least
    `COVER`): a prose line holding one word of an off-topic question is no evidence."""
    idf, also = _asked(engine, query, lines_asked)
    return bool(idf or also) and label_scores(idf, [lines], [head], engine.lexical.analyzer, also)[0] >= COVER


def _asked(engine: SearchEngine, query: str, lines_asked: Sequence[str]) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The query's words a line may be asked for (no figures, dates or years), and the words of
    each line named besides, each with its IDF."""
    lexical = engine.lexical
    terms = [t for t in dict.fromkeys(lexical.analyzer(_DATE.sub(" ", query))) if not _FIGURE.search(t)]
    named = [[t for t in dict.fromkeys(lexical.analyzer(line)) if not _FIGURE.search(t)] for line in lines_asked]
    also = [dict(zip(line, lexical.idf(line).tolist())) for line in named if line]
    return dict(zip(terms, lexical.idf(terms).tolist())), also


def label_scores(idf: dict[str, float], lines: Sequence[Lines], heads: Sequence[frozenset[str]],
                 analyser: Analyzer, also: Sequence[dict[str, float]] = ()) -> list[float]:
    """Each passage's best labelling line (`_label_score`), given the query's terms and their
    IDF, each passage's `label_lines` and its document's analysed title; or, if higher, its
    best line labelled by one of `also` (the terms of a line's name asked for besides, with
    their IDF: all of it is asked, its document's title aside).

    What is asked counts only the query's words that some line among these passages holds:
    "... Give a response to the question by relying on the details shown in the income
    statement" asks in words no statement line has, and they would otherwise outweigh
    "cost of sales" (their IDF is high because reports seldom use them)."""
    starts = {t[:4] for t in idf} | {t[:4] for line in also for t in line}
    words = [_words(passage, starts, analyser) for passage in lines]
    seen = {t for passage in words for line in passage for t in line}
    asked = {t: w for t, w in idf.items() if t in seen}
    return [max([_label_score(passage, asked, head)] + [_label_score(passage, line, frozenset()) for line in also])
            for passage, head in zip(words, heads)]


def _words(lines: Lines, starts: set[str], analyser: Analyzer) -> list[tuple[str, ...]]:
    """The analysed words (figures left out) of each line that holds the first four letters
    of a query term (a stem begins as its word does); other lines cannot match and are not
    analysed."""
    out = []
    for line in lines:
        if line.isascii() and not any(s in line for s in starts):
            continue
        kept = _analysed(line, analyser)
        if kept:
            out.append(kept)
    return out


@lru_cache(maxsize=1 << 16)
def _analysed(line: str, analyser: Analyzer) -> tuple[str, ...]:
    """A line's analysed words, figures left out: a statement's lines recur in search after
    search (the same passages come back for questions about the same report), and a line
    asked for by several names is looked at for each."""
    return tuple(t for t in analyser(line) if not _FIGURE.search(t))


def _label_score(lines: list[tuple[str, ...]], idf: dict[str, float], head: frozenset[str]) -> float:
    """The best line's share of the IDF mass asked beyond the title, times the share of the
    line's words that are the query's; 0 below `COVER`."""
    if not lines:
        return 0.0
    asked = {t: w for t, w in idf.items() if t not in head}
    mass = math.fsum(asked.values())  # exactly rounded: a set's order (the hash seed) cannot move a line across COVER
    best = 0.0
    if mass <= 0:
        return best
    for words in lines:
        held = asked.keys() & set(words)
        if held:
            cover = math.fsum(asked[t] for t in held) / mass
            if cover >= COVER:
                best = max(best, cover * sum(1 for t in words if t in held) / len(words))
    return best
