"""Passages related to a passage: "more like this" (the same topic in other reports and
editions) and "compare editions" (the closest passage in each other edition of its series).

Both start from the passage's stored vector: nothing is embedded, so they cost one vector
search each (per edition, restricted to that edition's passages).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import NotFound
from .knowledge import KnowledgeBase
from .reading import find_passage
from .records import Place, Result
from .series import Edition, Series

__all__ = ["Comparison", "more_like_this", "compare_editions", "place_dict"]


def _place(kb: KnowledgeBase, passage_id: str) -> tuple[Place, np.ndarray]:
    """The passage at its first place, and its stored vector."""
    place = find_passage(kb, passage_id)
    engine = kb.engine()
    if engine is None:
        raise NotFound(f"no passage with id {passage_id!r}")
    return place, engine.vectors.vectors(np.array([place.key], dtype=np.int64))[0]


def more_like_this(kb: KnowledgeBase, passage_id: str, k: int = 10) -> tuple[Place, list[Result]]:
    """The passage, and the `k` passages of other documents closest to it in meaning (its own
    report is left out: "more like this" is for finding the topic elsewhere)."""
    source, vector = _place(kb, passage_id)
    k = max(1, min(int(k), kb.settings.max_k))
    engine = kb.engine()
    assert engine is not None
    others = np.setdiff1d(engine.vectors.ids(), np.fromiter(kb.store.passages_of([source.document.id]), dtype=np.int64))
    hits = engine.search("", k, "dense", others, vector) if len(others) else []
    places = kb.store.places([h.id for h in hits])
    results: list[Result] = []
    for hit in hits:
        shown = next((p for p in places.get(hit.id, []) if p.document.id != source.document.id), None)
        if shown is not None:
            results.append(Result(len(results) + 1, float(hit.score), shown.passage, shown.occurrence, shown.document))
    return source, results


def place_dict(place: Place) -> dict:
    return {"passage_id": place.passage.id, "text": place.passage.text, "section": place.occurrence.section,
            "page": place.occurrence.page, "document": place.document.summary()}


@dataclass(frozen=True)
class Comparison:
    source: Place
    series: Series
    editions: tuple[tuple[Edition, Place | None, float | None], ...]  # each other edition: closest passage, cosine

    def to_dict(self) -> dict:
        return {"passage": place_dict(self.source), "series": {"id": self.series.id, "name": self.series.name},
                "editions": [{"year": e.year, "label": e.label, "document": e.document.summary(),
                              "passage": place_dict(p) if p else None,
                              "similarity": None if cos is None else round(cos, 4)} for e, p, cos in self.editions]}


def compare_editions(kb: KnowledgeBase, passage_id: str) -> Comparison:
    """For a passage in a report series, the closest passage in each other edition (newest
    first), with its cosine, side by side. Raises `NotFound` when the passage's report is in
    no series."""
    source, vector = _place(kb, passage_id)
    series = kb.series_of().get(source.document.id)
    if series is None:
        raise NotFound(f"{source.document.title!r} is not part of a report series")
    engine = kb.engine()
    assert engine is not None
    rows = []
    for edition in series.editions:
        if edition.document.id == source.document.id:
            continue
        allowed = np.fromiter(kb.store.passages_of([edition.document.id]), dtype=np.int64)
        hits = engine.search("", 1, "dense", allowed, vector) if len(allowed) else []
        place = None
        if hits:
            found = kb.store.places([hits[0].id], {"document": [edition.document.id]}).get(hits[0].id)
            place = found[0] if found else None
        rows.append((edition, place, float(hits[0].score) if place is not None else None))
    return Comparison(source, series, tuple(rows))
