"""A question that names its document: rank that document's passages by the rest of it.

"Ulta Beauty net income first quarter fiscal 2023" names a press release by its title and
asks for one figure in it. The title bonus (`kb.titles`) brings the release's
passages up; but among them, both retrievers prefer the ones that repeat the name: the
embedding of "About Ulta Beauty ... Ulta Beauty operates 1,359 stores" and BM25's
count of "ulta" both reward the boilerplate, while the passage that holds the net income
never says "Ulta". Among the named document's passages the name tells nothing (every one
of them is that document's), so they are ranked again by what the question asks beyond it:
the query's embedding with its component along the title's embedding taken out, and BM25
over the words the title does not hold. They go back into the places the document's
passages held, so which documents come first, and every other passage, stay as they were.
"""

from __future__ import annotations

import re
import threading
from typing import Callable, Collection, Hashable, Iterable, Mapping, Sequence

import numpy as np

from index import Hit, SearchEngine
from index.analysis import asked
from index.fusion import score_fusion

__all__ = ["LEGAL_FORMS", "NAMED_SHARE", "Organisations", "name_terms", "names", "within_named"]

NAMED_SHARE = 0.25  # of the query's IDF mass in the top document's title: below it, a few shared words are a topic, not a name
_WORD = re.compile(r"\S+")
_CAPITALS = re.compile(r"\b[A-Z]{2,5}\b")  # a word in capitals a trading symbol could be
# the words of a query in capitals, which make it a sentence beyond two: "WHAT WAS MMM'S COST OF
# SALES" says nothing by its case, an analyst's "MSFT FY2023 COGS" or "MMM D&A 2022" does
# (a period, a figure or a year is no word)
_WORDS = re.compile(r"(?<![\w&'-])[^\W\d_]+(?:[&'-][^\W\d_]+)*(?![\w&'-])")
LEGAL_FORMS = ("the inc incorporated corporation corp company co ltd limited plc llc llp lp group holdings "
               "sa ag nv bv gmbh spa")  # words of a legal form, which tell no organisation from another


def name_terms(organisation: str, analyser: Callable[[str], list[str]]) -> tuple[str, ...]:
    """The analysed words of an organisation's name that tell it apart from others: "3M
    Company" -> ("3m",), "JPMorgan Chase & Co." -> ("jpmorgan", "chase")."""
    forms = set(analyser(LEGAL_FORMS))
    return tuple(t for t in dict.fromkeys(analyser(organisation)) if t not in forms)


def names(query_terms: Collection[str], name: Sequence[str], idf: Sequence[float]) -> bool:
    """Does a query name the organisation whose `name_terms` are `name` (with their IDF)? It
    does when it holds at least half of the name's IDF mass: "JPMorgan net income" names
    JPMorgan Chase, "bank capital" does not name Bank of America."""
    mass = sum(idf)
    return mass > 0 and sum(w for t, w in zip(name, idf) if t in query_terms) >= 0.5 * mass


class Organisations:
    """The organisations of a collection's documents, as one engine's searches read them: the
    words of each name that tell it apart, their IDF, and the passages of those a query names.
    Made per engine (every write replaces it), so none of it goes stale."""

    def __init__(self, engine: SearchEngine, documents: Iterable[tuple[str, str]],
                 passages_of: Callable[[list[str]], np.ndarray], symbols: Callable[[], Mapping[str, str]] | None = None):
        """`documents`: (id, organisation) of the documents that have one; `passages_of`: the
        keys of the passages of some documents; `symbols`: trading symbol -> the organisation
        whose documents print it (`kb.metadata.trading_symbols`), called the first time a
        query writes a word in capitals (it reads the documents' covers)."""
        self._lexical, self._passages_of = engine.lexical, passages_of
        self.terms = {doc: terms for doc, organisation in documents
                      for terms in [name_terms(organisation, self._lexical.analyzer)] if terms}  # document id -> name terms
        self._symbols_of = symbols
        self._symbols: dict[str, str] | None = None if symbols else {}
        self._symbol: re.Pattern | None = None
        self._plain: dict[str, bool] = {}  # symbol -> whether it names its organisation here (`_names`)
        self._idf: dict[tuple[str, ...], list[float]] = {}
        self._passages: dict[tuple[str, ...], np.ndarray] = {}
        self._lock = threading.Lock()

    def spelled_out(self, query: str) -> str:
        """The query with each trading symbol it writes, in capitals as printed ("MMM", "AMD's"),
        replaced by the organisation's name: "MMM long-term debt" asks what "3M Company long-term
        debt" asks, and finds it the same way (the title prior, the edition of the year named,
        the name's words in the relevance), where "mmm" is printed on one cover page. A word
        in lower case is a word ("cost of sales" is not Costco's "COST"), and so is a symbol
        the collection uses as one (`_names`)."""
        if not _CAPITALS.search(query) or (not any(c.islower() for c in query) and len(_WORDS.findall(query)) > 2):
            return query  # no word in capitals, or a sentence in capitals throughout (it says nothing by its case)
        if self._symbols is None:
            with self._lock:
                if self._symbols is None and self._symbols_of is not None:
                    found = dict(self._symbols_of())
                    self._symbol = re.compile(r"(?<![\w&.-])(" + "|".join(map(re.escape, sorted(found, key=len, reverse=True)))
                                              + r")(?![\w&-]|\.\w)") if found else None
                    self._symbols = found
        if self._symbol is None:
            return query
        symbols = self._symbols or {}
        return self._symbol.sub(lambda m: symbols[m.group(1)] if self._names(m.group(1)) else m.group(1), query)

    def _names(self, symbol: str) -> bool:
        """Whether a symbol says nothing else here: its word is not a stop word, and the rest of
        the collection holds it in no more passages than its organisation's documents do
        ("COST" is Costco's symbol, but "cost" fills every filing; "IT" is a word)."""
        with self._lock:
            found = self._plain.get(symbol)
        if found is None:
            terms = self._lexical.analyzer(symbol)
            name = name_terms((self._symbols or {})[symbol], self._lexical.analyzer)
            own = [doc for doc, terms_of in self.terms.items() if terms_of == name]
            found = len(terms) == 1
            if found:
                everywhere = float(self._lexical.df(terms)[0])
                within = float(self._lexical.df(terms, self.passages(tuple(sorted(own))))[0]) if own else 0.0
                found = everywhere - within <= within
            with self._lock:
                self._plain[symbol] = found
        return found

    def named(self, query: str) -> tuple[str, ...]:
        """The ids of the documents whose organisation the query names (`names`), sorted."""
        if not self.terms:
            return ()
        terms = asked(self._lexical.analyzer(query))
        idf = dict(zip(terms, self._lexical.idf(terms).tolist()))
        return tuple(sorted(doc for doc, name in self.terms.items() if names(idf, name, self.weights(name))))

    def weights(self, name: tuple[str, ...]) -> list[float]:
        """The IDF of a name's terms (as `terms` gives them), looked up once per engine."""
        with self._lock:
            found = self._idf.get(name)
        if found is None:
            found = self._lexical.idf(list(name)).tolist()
            with self._lock:
                self._idf[name] = found
        return found

    def passages(self, documents: tuple[str, ...]) -> np.ndarray:
        """The sorted keys of the passages of `documents` (as `named` gives them), remembered."""
        with self._lock:
            found = self._passages.get(documents)
        if found is None:
            found = np.unique(np.asarray(self._passages_of(list(documents)), dtype=np.int64))
            with self._lock:
                if len(self._passages) > 256:  # bounded
                    self._passages.clear()
                self._passages[documents] = found
        return found


def within_named(engine: SearchEngine, query: str, hits: list[Hit], documents: list[tuple[str, str]],
                 heads: list[frozenset[str]], vector: np.ndarray, title_vector: Callable[[str], np.ndarray]) -> list[Hit]:
    """`hits` with the passages of the first hit's document reordered among their own places,
    when the query names that document (its title holds `NAMED_SHARE` of the query's IDF mass)
    and asks something beyond the name. `documents`: each hit's document (id, title); `heads`:
    its title analysed; `vector`: the query's unit embedding; `title_vector`: a title's unit embedding."""
    if not hits or not heads[0] or vector is None:
        return hits
    lexical, head = engine.lexical, heads[0]
    terms = asked(lexical.analyzer(query))
    idf = lexical.idf(terms)
    if idf.sum() <= 0 or sum(w for t, w in zip(terms, idf.tolist()) if t in head) < NAMED_SHARE * idf.sum():
        return hits
    words = _WORD.findall(query)
    rest = [w for w in words if not _names(lexical.analyzer(w), head)]
    slots = [i for i, d in enumerate(documents) if d[0] == documents[0][0]]
    if len(rest) == len(words) or not lexical.terms(" ".join(rest)) or len(slots) < 2:
        return hits
    remainder = " ".join(rest)
    t = title_vector(documents[0][1])
    residual = vector - float(vector @ t) * t
    norm = float(np.linalg.norm(residual))
    if norm < 1e-6:
        return hits
    ids = np.array([hits[i].id for i in slots], dtype=np.int64)
    dense = (engine.vectors.vectors(ids) @ (residual / norm)).tolist()
    lexical_scores = lexical.scores(remainder, ids).tolist()
    weight = engine.query_dense_weight(remainder)
    slot_of: dict[Hashable, int] = {hits[i].id: i for i in slots}
    ranked = score_fusion([list(zip(slot_of, dense)), list(zip(slot_of, lexical_scores))], (weight, 1.0 - weight))
    out = list(hits)
    for slot, (key, _) in zip(slots, ranked):  # the place keeps its score: order and scores agree
        out[slot] = hits[slot_of[key]].rescored(hits[slot].score)
    return out


def _names(terms: list[str], head: frozenset[str]) -> bool:
    """A word is part of the name when the title holds every term it analyses to (a stop
    word analyses to none and stays with the question)."""
    return bool(terms) and head.issuperset(terms)
