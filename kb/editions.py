"""A search's view of the report series among a store's documents (`kb.series` finds them and
folds editions, as pure functions): the series found again after each write, the documents a
`series` or `year` filter selects, and one passage's editions folded into one result."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from index import Hit

from .lru import LRU
from .records import Place
from .series import Series, edition_year, find_series, fold, query_years

if TYPE_CHECKING:  # pragma: no cover
    from .store import PassageStore

__all__ = ["Editions"]


class Editions:
    """The series of one store's documents, remembered per store generation."""

    def __init__(self, store: PassageStore):
        self.store = store
        self._lock = threading.Lock()
        self._found: tuple[int, list[Series], dict[str, Series]] | None = None  # (generation, series, by document)
        self._signatures = LRU(50_000)  # passages' words, for folding editions (`kb.series.fold`)

    def series(self, generation: int | None = None) -> list[Series]:
        """The report series among the documents (`kb.series`), found again after each write.
        `generation`: the store's, when the caller has just read it (a search's snapshot)."""
        return self._at(generation)[1]

    def series_of(self, generation: int | None = None) -> dict[str, Series]:
        """Document id -> its series, for the documents in one."""
        return self._at(generation)[2]

    def _at(self, generation: int | None) -> tuple[int, list[Series], dict[str, Series]]:
        generation = self.store.generation() if generation is None else generation
        with self._lock:
            if self._found is None or self._found[0] != generation:
                found = find_series(self.store.documents())
                self._found = (generation, found, {e.document.id: x for x in found for e in x.editions})
            return self._found

    def store_filters(self, filters: dict | None) -> dict | None:
        """Validated filters as the store reads them: `series` and `year` become the documents
        they select (intersected with a `document` filter); none selected selects nothing."""
        if not filters or not ({"series", "year"} & set(filters)):
            return filters
        out = {k: v for k, v in filters.items() if k not in ("series", "year")}
        docs = {d.id: d for d in self.store.documents()}
        chosen = set(out.get("document", docs))
        if "series" in filters:
            found = next((x for x in self.series() if x.id == filters["series"]), None)
            chosen &= {e.document.id for e in found.editions} if found else set()
        if "year" in filters:
            years = set(filters["year"])
            chosen &= {d for d in docs if edition_year(docs[d]) in years}
        out["document"] = sorted(chosen) or ["\u0000none"]  # an id no document has
        return out

    def fold(self, hits: list[Hit], filters: dict | None, series_of: dict[str, Series], query: str):
        """Hits with the same or nearly the same passage in several editions of a series folded
        into one (`kb.series.fold`): (hits, rows as `results_for` gives them, other editions
        per hit). The hit keeps the best member's score and evidence; it shows the edition the
        query names by year, else the newest."""
        rows = self.store.results_for([h.id for h in hits], filters)  # first places
        serial = [h.id for h in hits if h.id in rows and rows[h.id][2].id in series_of]
        if not serial:  # nothing of a series among them: nothing to fold
            kept = [h for h in hits if h.id in rows]
            return kept, rows, [()] * len(kept)
        places = {k: [Place(k, *row)] for k, row in rows.items()}
        places.update(self.store.places(serial, filters))  # every place of the passages in a series
        kept = [h for h in hits if h.id in places]
        folded = fold([places[h.id] for h in kept], series_of, query_years(query), self._signatures)
        out_hits, rows, also = [], {}, []
        for i, shown, others in folded:
            hit = kept[i] if shown.key == kept[i].id else kept[i]._replace(id=shown.key)
            if hit.id in rows:  # the shown place's passage is already a result
                continue
            out_hits.append(hit)
            rows[hit.id] = (shown.passage, shown.occurrence, shown.document)
            also.append(others)
        return out_hits, rows, also
