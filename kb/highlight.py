"""Pick the sentences of a passage that best answer the query."""

from __future__ import annotations

import math
import re
from typing import AbstractSet, Callable, Mapping, Sequence

import numpy as np

from .chunking import split_sentences
from .cleaning import clean_text
from .lru import LRU
from .structure import TABLE_RULE

__all__ = ["asks_figure", "best_sentences", "SentenceVectors", "Sentences"]

Split = tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]  # a passage's sentences, and the distinct terms of each


class SentenceVectors:
    """Embeds sentences through a bounded cache: popular passages are scored for free."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray], size: int = 20_000):
        self._embed, self._cache = embed, LRU(size)

    def __call__(self, sentences: list[str]) -> np.ndarray:
        return np.stack(self._cache.get_many(sentences, lambda new: list(self._embed(new))))


class Sentences:
    """Each passage's sentences with their analysed terms, through a bounded cache.

    Splitting and stemming ten results' sentences costs more than anything else a dense
    search does besides the encoder and the vector search; results come back often. A
    sentence's terms are a tuple, not a set: a set of fifteen strings takes four times the
    memory, and a server reads the sentences of up to 20,000 passages ahead (`Searcher.warm`).
    """

    def __init__(self, size: int = 20_000):
        self._cache = LRU(size)

    def __call__(self, texts: Sequence[str], analyze: Callable[[str], list[str]]) -> list[Split]:
        def split(missing: list[str]) -> list[Split]:
            out = []
            for text in missing:
                group = tuple(part for s, e in split_sentences(text) for part in _rows(text[s:e]))
                out.append((group, tuple(tuple(dict.fromkeys(analyze(s))) for s in group)))
            return out

        return self._cache.get_many(list(texts), split)


# a question answered by a number, a date or a year: "how many", "how much", "when ...", "which
# year", "what percentage", "number of"
_ASKS_FIGURE = re.compile(
    r"\bhow\s+(?:many|much|long|old|often|far)\b|^\W*when\b|\b(?:what|which)\s+(?:year|date|month|day|percentage|"
    r"per\s*cent|proportion|share|amount|number)\b|\b(?:number|percentage|proportion|amount)\s+of\b", re.IGNORECASE)


# what answers such a question: a figure, or a date written with its month ("in September")
_FIGURE_OR_DATE = re.compile(r"\d|\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\b")


def asks_figure(query: str) -> bool:
    """Whether a question asks for a figure (a count, an amount, a share, a date): English
    question words, as the analyser's stop words are English."""
    return _ASKS_FIGURE.search(query) is not None


_ENDS_IN_FIGURE = re.compile(r"[\d)%—–-]\s*\|?\s*$")  # a Markdown row ends in its closing pipe


def _rows(sentence: str) -> list[str]:
    """A table's rows have no full stops, so a table is one "sentence" to the splitter; its
    rows are what answer ("Cost of sales 28,925 25,231 24,576"). Three lines or more, two
    thirds of them ending in a figure, are rows; anything else stays whole."""
    lines = [line for line in sentence.split("\n") if line.strip() and not TABLE_RULE.fullmatch(line.strip())]
    if len(lines) >= 3 and 3 * sum(bool(_ENDS_IN_FIGURE.search(line)) for line in lines) >= 2 * len(lines):
        return [line.strip() for line in lines]
    return [sentence]


def _held(held: AbstractSet[str], weight: Mapping[str, float], tie: float) -> float:
    """How many query terms a sentence holds, and `tie` times their summed rarity."""
    return len(held) + tie * math.fsum([weight.get(w, 0.0) for w in held]) if held else 0.0


def _line_share(line: frozenset[str], terms: tuple[str, ...]) -> float:
    """How much of `line` a sentence holds, times how much of the sentence's words (figures
    aside) are the line's: "Total assets" is the line "total assets" more than "Total current
    assets" is."""
    held = len(line.intersection(terms))
    if not held:
        return 0.0
    words = sum(1 for t in terms if not any(c.isdigit() for c in t))
    return held / len(line) * held / words


def best_sentences(
    query_vector: np.ndarray | None,
    query_terms: set[str],
    passages: Sequence[Split],
    embed: Callable[[list[str]], np.ndarray] | None,
    most: int = 2,
    embed_top: int = 3,
    titled: Sequence[frozenset[str]] | None = None,
    rarity: Mapping[str, float] | None = None,
    lines: Sequence[frozenset[str]] = (),
    rest: AbstractSet[str] = frozenset(),
    figure_asked: bool = False,
) -> list[tuple[str, ...]]:
    """For each passage (as `Sentences` gives it), up to `most` of its sentences, as they
    stand in the text, the one that answers best first.

    The first `embed_top` passages are scored by the embedder: cosine similarity of each
    sentence to the query (all in one batch), keeping sentences close to the passage's best,
    unless one of their sentences holds at least a third of the query's terms. The rest, or all
    when there is no embedder, by how many distinct query terms a sentence holds. Embedding
    sentences is the costly part of a search, hence the split; a third, not half: a long
    question or claim is seldom met by a sentence holding half its words, yet one holding a
    third of them mostly answers in them (bench/scale.py measures what the model costs). When the query
    names figures or codes ("748,000", "10-K") and a passage holds them, only the sentences
    holding the most of them are candidates: "748,000" is not answered by "74,000 teachers".
    (Not those its document's title holds: the "2023" of "Nike FY2023 cost of sales" names the
    report, and the statement's column headings "2023 2022 2021" do not answer.) A table's
    rows are its sentences (`_rows`).
    `titled`: for each passage, the query terms its document's title holds. In deciding
    whether a sentence holds a third of the query's terms they count as held (beside at least one of
    the sentence's own, so the sentence chosen by terms holds one): "Ulta Beauty net income
    first quarter fiscal 2023" is answered in its own words by "Net income increased 4.7% ... in
    the first quarter" of the release titled "Ulta Beauty Announces First Quarter Fiscal 2023
    Results", which never says "Ulta" again.
    `rarity`: each word the query asks and its weight in the collection (BM25's IDF), words no
    passage holds too (`query_terms` are those it holds): a sentence answers in the query's own
    words when it holds a third of that weight (without `rarity`, a third of the terms). Asked in
    everyday words, a question shares only common words with the text: "artificial intelligence
    gadgets for children" holds "children" alone of what the report writes, and counted among
    the words it holds, that one word was a third of the question, so "Reached more than 1.1
    million children" answered it. By terms, sentences
    holding as many terms are ordered by the summed rarity of those they hold, not by place:
    "How many teachers were trained" is answered by "74,000 teachers", not by "Trained almost
    748,000 health professionals", which comes first and holds "trained", a commoner word.
    `lines`: the terms of each line asked for besides the query's words (the lines a measure
    it names is computed from, `kb.glossary`; the caller leaves the measure's own name out of
    `query_terms`, or "working capital" is answered by "Work in process"). A sentence holding
    all of one's terms answers in its own words, as one holding a third of the query's terms does
    ("Total current assets" for "current ratio"); by terms, the share of a line a sentence
    holds is worth half a query term: "Total assets" answers "Microsoft return on assets", not
    "Operating lease right-of-use assets", yet "Free cash flow conversion 66 %", which 3M
    prints, answers "3M free cash flow conversion" before the "Net cash provided by operating
    activities" it is computed from (it holds "conversion").
    `figure_asked`: the question asks for a figure ("how many", "when": `asks_figure`) without
    naming one: sentences holding a figure or a month come first among those that answer (holding
    half the query terms the best one holds, or close to the best by the model): "how many
    children got protection services" is answered by "... these services for more than 2
    million children", not by "UNICEF aims for all children to be safe ... child protection
    systems ... services", which holds more of its words and no number.
    A passage no sentence of which answers so, yet holding a query word (one its title holds
    too, or a word of `rest`: a measure's own name, left out of `query_terms` above), shows the
    sentence holding most of them: every result that matched shows where.
    """
    use_model = embed is not None and query_vector is not None
    matched = query_terms | rest  # what a result that answers in no sentence shows where it holds
    weight = dict(rarity or {})
    tie = 0.25 / max(1e-9, math.fsum(weight.get(t, 0.0) for t in query_terms))  # all of them weigh a quarter of a term
    exact = {t for t in query_terms if any(c.isdigit() for c in t) or "-" in t}  # figures and codes
    # a passage one of whose sentences holds a third of what the query asks or more is highlighted
    # by terms: that sentence answers in the query's own words, and embedding it costs most of a search
    if rarity:
        enough = math.fsum(weight.get(t, 0.0) for t in query_terms | weight.keys()) / 3.0
    else:
        enough = max(1, (len(query_terms) + 2) // 3)
    given = list(titled) if titled is not None else [frozenset()] * len(passages)

    def holds(t: tuple[str, ...], n: int) -> float:  # the title's terms count only beside one of the sentence's own
        own = query_terms.intersection(t)
        if not own:
            return 0.0
        held = own | given[n]
        return math.fsum(weight.get(w, 0.0) for w in held) if rarity else len(held)

    by_model = {n for n, (group, terms) in enumerate(passages[:embed_top])
                if use_model and group and max((holds(t, n) for t in terms), default=0.0) < enough - 1e-12
                and not any(line.issubset(t) for line in lines for t in terms)}
    top = [s for n, (group, _) in enumerate(passages) if n in by_model for s in group]
    dense = iter(embed([clean_text(s) for s in top]) @ query_vector if top and embed is not None else [])
    out: list[tuple[str, ...]] = []
    for n, (group, terms) in enumerate(passages):
        if not group:
            out.append(())
            continue
        asked = exact - given[n]  # a year its title holds names the report, not a figure in it
        held = [len(asked.intersection(t)) for t in terms] if asked else None
        figures = [_FIGURE_OR_DATE.search(sentence) is not None for sentence in group] if figure_asked else None
        if n in by_model:
            cosines = np.array([next(dense) for _ in group], dtype=np.float32)
            keep = _best_by_model(cosines, held, most, figures)
        else:  # how many terms a sentence holds, then a line asked for and how rare they are (below one term's worth)
            # asked through lines, the query's words its title holds name the report: "(Dollars in
            # millions) 2023 2022" does not answer "Nike return on equity FY2023". (In prose they
            # help: "In fiscal 2021, NIKE, Inc. achieved record Revenues" answers its revenue growth.)
            wanted = query_terms - given[n] if lines else query_terms
            own = [_held(wanted.intersection(t), weight, tie) + (0.5 * max(_line_share(line, t) for line in lines) if lines else 0.0)
                   for t in terms]
            keep = _best(own, held, most, gap=0.5, floor=1e-9 if lines else 1.0, figures=figures)  # a query term held, or part of a line asked for
        if not keep:  # nothing answers in the query's own words: the sentence holding most of what matched
            held_terms = [_held(matched.intersection(t), weight, tie) for t in terms]
            if max(held_terms) >= 1.0:
                keep = [held_terms.index(max(held_terms))]
        out.append(tuple(group[j] for j in keep))  # best first: the page shows the first as the answer
    return out


def _best(own: list[float], held: list[int] | None, most: int, gap: float, floor: float,
          figures: list[bool] | None = None) -> list[int]:
    """The places of up to `most` of the best scores in `own`, best first (ties in order), that
    are within `gap` of the best and at least `floor`; when `held` (each sentence's count of the
    query's figures and codes) is above 0 somewhere, only the sentences holding the most of them,
    by score; else, given `figures` (whether each sentence holds a figure or a date: one is
    asked for), only those holding one, when one of them scores at least `floor` and half the
    best. Plain lists: a passage has a few sentences, where NumPy's calls cost more than the
    arithmetic."""
    if held is not None and max(held) > 0:  # a figure or code the query names: the sentence holding it answers
        most_held, low = max(held), min(own)
        own = [o - low + 1.0 if h == most_held else -math.inf for o, h in zip(own, held)]
        gap, floor = math.inf, 1.0
    elif figures is not None:
        half = max(floor, max(own) / 2)  # holding half what the best holds, or more
        if any(f and o >= half for o, f in zip(own, figures)):
            own = [o if f else -math.inf for o, f in zip(own, figures)]
    bar = max(max(own) - gap, floor)
    return [j for j in sorted(range(len(own)), key=lambda j: -own[j])[:most] if own[j] >= bar]


def _best_by_model(cosines: np.ndarray, held: list[int] | None, most: int, figures: list[bool] | None = None) -> list[int]:
    """`_best` for sentences scored by the embedder, close to the passage's best (in float32,
    as the embedder gives them); a sentence holding a figure asked for must be as close."""
    gap, floor = 0.08, 0.2
    if held is not None and max(held) > 0:
        counts = np.array(held, dtype=np.float32)
        cosines = np.where(counts == counts.max(), cosines - cosines.min() + 1.0, -np.inf)
        gap, floor = np.inf, 1.0
    elif figures is not None:
        close = cosines >= max(float(cosines.max()) - gap, floor)
        with_figure = np.array(figures) & close
        if with_figure.any():
            cosines = np.where(with_figure, cosines, -np.inf)
    best = float(cosines.max())
    return [int(j) for j in np.argsort(-cosines, kind="stable")[:most] if cosines[j] >= max(best - gap, floor)]
