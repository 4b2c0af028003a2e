"""The title prior: a question naming a report, its organisation or its year ranks that report's
passages first.

A passage of a financial statement never says whose statement it is; its document's title
("Lockheed Martin Corporation Form 10-K FY2021") does. So each hit gains `title_weight` times
the share of the query's IDF mass its document's title holds.

That share alone is too weak in three cases, each with its own rule:
- **Years.** A year fills passages (every edition also gives the year before's figures), so its
  IDF is low and the share barely tells the FY2022 edition from the FY2021 one. When the
  question names a series (a word of its title besides the year) and a year one of its
  editions reports on, that edition gains `title_weight` besides, and editions of earlier
  years lose their title bonus and as much again: they cannot report on the year asked about
  (their statements end before it), yet their tables read like the question. When the
  question also names the series' organisation, a company and a year are a strong sign, where
  a year and one word of a title ("algorithms ... 1970") are a weak one: the edition of that
  year gains `NAMED_YEAR` title weights more, and earlier editions lose `OTHERS`, as another
  organisation's documents do ("Lockheed Martin's gross profit in 2022" found the 2021
  report's statement of earnings first, a whole fused score above the 2022 report's).
- **Organisations.** A company's name fills its own reports, so its IDF is low too, and its
  share of a question that names it among many other words is small ("3M purchases of
  property, plant and equipment in 2022"). A question naming an organisation
  (`kb.named.names`) gives its documents `title_weight` as well, and the documents of other
  organisations lose their title bonus and `OTHERS` title weights (a whole fused score), so
  they follow the named organisation's: a question about Microsoft's equity is not answered
  by Nike's balance sheet, however alike they read, nor one about Microsoft's free cash flow
  by 3M's, which prints the words.
- **Repeated passages.** A paragraph repeated word for word across editions is one passage,
  in each of them. It takes the best of their bonuses, and counts as that document's from
  here on (`kb.named`, `kb.labels` group passages by it).
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Callable, Mapping, Sequence

from index import Hit
from index.analysis import asked
from index.lexical import LexicalIndex

from .named import Organisations, names
from .series import Edition, Series, query_years

__all__ = ["by_title"]

# title weights another organisation's document loses when a question names one among the
# candidates: with `title_weight` 0.1, a whole fused score (they run about 0-1), so what the
# named organisation reports comes first ("Microsoft free cash flow" showed 3M's, which prints
# "free cash flow"; Microsoft's report does not)
OTHERS = 10.0
# title weights the edition of a year the question names gains, when the question also names
# its organisation: half a fused score, so its passages come before a later edition's (which
# prints that year's figures too, beside its own) unless those read far better ("Lockheed
# Martin's 2020 net sales from the US Government" found the FY2022 report first, its
# three-year table a little closer to the words)
NAMED_YEAR = 5.0
Documents = tuple[tuple[str, str], ...]  # (id, title) of every document a passage occurs in, its first place's first


def by_title(lexical: LexicalIndex, query: str, hits: list[Hit], options: Sequence[Documents],
             heads_of: Callable[[list[tuple[str, str]]], list[frozenset[str]]],
             series_of: Callable[[], Mapping[str, Series]], organisations: Organisations,
             title_weight: float) -> tuple[list[Hit], list[tuple[str, str]], list[frozenset[str]]]:
    """`hits` with the title prior added to their scores, reordered; with each hit's document
    (id, title) and its analysed title, in the same order. `options`: each hit's documents;
    `heads_of`: analysed titles; `series_of`: document id -> its series (read only when the
    query names a year); `organisations`: the documents' organisations (`kb.named`), whose
    names' IDF it looks up once per engine."""
    terms = asked(lexical.analyzer(query))
    idf = dict(zip(terms, lexical.idf(terms).tolist()))
    weight = title_weight / (sum(idf.values()) or 1.0)
    years = query_years(query)
    named = set(terms) - {str(y) for y in years}
    series = series_of() if years else {}
    flat = list(dict.fromkeys(chain.from_iterable(options)))
    head_of = dict(zip(flat, heads_of(flat)))
    of = organisations.terms  # document id -> the words of its organisation's name
    naming = {name: names(idf, name, organisations.weights(name)) for name in {of[doc] for doc, _ in flat if doc in of}}
    someone = any(naming.values())  # the query names an organisation among these documents
    by_document: dict[str, float] = {}  # the bonus depends on the document alone (each is in `flat` once)
    for doc, title in flat:
        common = head_of[(doc, title)].intersection(idf)
        bonus = weight * math.fsum([idf[t] for t in common]) if common else 0.0  # exact: no set order in it
        found = series.get(doc) if bonus else None
        edition = found.edition(doc) if found is not None and not common.isdisjoint(named) else None
        toward = _edition_bonus(found, edition, years) if found is not None and edition is not None else 0.0
        if doc in of and naming[of[doc]]:  # the company asked about: a year it names is a strong sign
            toward = NAMED_YEAR + 1.0 if toward > 0 else -OTHERS if toward < 0 else 1.0
        elif toward >= 0 and doc in of and someone:
            toward -= OTHERS
        by_document[doc] = (bonus if toward >= 0 else 0.0) + toward * title_weight
    # the best of a passage's documents; `max` keeps the first of equals: its first place
    documents = [o[0] if len(o) == 1 else max(o, key=lambda d: by_document[d[0]]) for o in options]
    heads = [head_of[d] for d in documents]
    if not any(by_document.values()):
        return hits, documents, heads
    scores = [h.score + by_document[doc] for h, (doc, _) in zip(hits, documents)]
    order = sorted(range(len(hits)), key=scores.__getitem__, reverse=True)
    return ([hits[i].rescored(scores[i]) if scores[i] != hits[i].score else hits[i] for i in order],
            [documents[i] for i in order], [heads[i] for i in order])


def _edition_bonus(series: Series, edition: Edition, years: set[int]) -> float:
    """+1 for the edition of a year the question names, -1 for an edition of a year before the
    first such, 0 otherwise (and when no edition reports on a year it names)."""
    asked = [e.year for e in series.editions if e.year is not None and e.year in years]
    if not asked or edition.year is None:
        return 0.0
    return 1.0 if edition.year in years else -1.0 if edition.year < min(asked) else 0.0
