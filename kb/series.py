"""Report series: the editions of one organisation's report across years or quarters.

A series is found from what each document already knows (`kb.metadata`): the same
organisation and kind ("Lockheed Martin Corporation", "annual report"), or, without them,
the same title once its years and periods are taken out ("UNICEF China 2022 Annual Report"
and "UNICEF China 2023 Annual Report"). A person may set a document's series by name (it
then wins), or "none" to keep it out of any. Two documents make a series only when they
are different editions (another year or period).

Search uses series to fold boilerplate: a passage repeated nearly word for word in several
editions is one result that says which other editions hold it, showing the newest edition
unless the query names a year (`fold`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from index.analysis import full_year

from .lru import LRU
from .records import Document, Place

__all__ = ["Edition", "Series", "find_series", "edition_year", "fold", "query_years", "NEAR_DUPLICATE"]

_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_FY_SHORT = re.compile(r"\bFY\s*'?(\d{2})\b", re.I)
_PERIOD_WORDS = re.compile(
    r"\b(?:FY\s*'?\d{2,4}|Q[1-4]|H[12]|(?:19|20)\d{2}(?:\s*[-–/]\s*\d{2,4})?|fiscal|year|quarter|half|ended|ending|"
    r"first|second|third|fourth|annual|interim|january|february|march|april|may|june|july|august|september|"
    r"october|november|december|\d{1,2})\b", re.I)
NEAR_DUPLICATE = 0.8  # share of words two passages have in common (Jaccard) to count as one boilerplate
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Edition:
    document: Document
    year: int | None
    label: str  # what tells it from the other editions: its period, or its year


@dataclass(frozen=True)
class Series:
    id: str  # a slug of the name: stable across restarts, safe in a URL
    name: str
    editions: tuple[Edition, ...]  # newest first

    @property
    def years(self) -> list[int]:
        return sorted({e.year for e in self.editions if e.year is not None}, reverse=True)

    def edition(self, doc_id: str) -> Edition | None:
        return next((e for e in self.editions if e.document.id == doc_id), None)

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "editions": [
            {"year": e.year, "label": e.label, "document": e.document.summary()} for e in self.editions]}


def edition_year(doc: Document) -> int | None:
    """The year a document reports on: its period's year, else its date's, else its title's."""
    for text in (doc.period, doc.date, doc.title):
        if text:
            if m := _YEAR.search(text):
                return int(m.group(1))
            if m := _FY_SHORT.search(text):
                return 2000 + int(m.group(1))
    return None


def _name(doc: Document) -> str | None:
    """The series a document would belong to, by name (None: it stands alone)."""
    if doc.series:
        return None if doc.series.strip().lower() == "none" else doc.series
    if doc.organisation and doc.kind:
        return f"{doc.organisation} · {doc.kind}"
    if not (_YEAR.search(doc.title) or _FY_SHORT.search(doc.title) or re.search(r"\bQ[1-4]\b", doc.title)):
        return None  # a title that names no year or period is not an edition ("Algorithm 245" is not one)
    stripped = " ".join(_PERIOD_WORDS.sub(" ", doc.title).replace("()", " ").split()).strip(" -–·,:")
    return stripped if len(stripped.split()) >= 2 and stripped != doc.title else None


def _slug(name: str) -> str:
    """An id for URLs and filters: the name's ASCII letters and digits; for a name mostly in
    another script, a digest of it."""
    import hashlib
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:60].strip("-")
    if len(slug) < max(3, len(name) // 3):
        slug = (slug + "-" if slug else "") + hashlib.sha1(name.encode()).hexdigest()[:10]
    return slug


def find_series(documents: Iterable[Document]) -> list[Series]:
    """Every series among `documents`: two or more editions with different years or periods,
    or any group a person named. Editions newest first; series by name."""
    groups: dict[str, list[Document]] = {}
    names: dict[str, str] = {}
    for doc in documents:
        name = _name(doc)
        if name:
            key = _slug(name)
            groups.setdefault(key, []).append(doc)
            names.setdefault(key, name)
    out = []
    for key, docs in groups.items():
        editions = [Edition(d, y, d.period or (str(y) if y else d.title)) for d in docs for y in (edition_year(d),)]
        named = any(d.series for d in docs)
        dated = {e.label for e in editions if e.year is not None or e.document.period}
        if len(dated) < 2 and not named:  # editions differ by year or period, or a person said so
            continue
        editions.sort(key=lambda e: (e.year or 0, e.document.date or "", e.label), reverse=True)
        out.append(Series(key, names[key], tuple(editions)))
    return sorted(out, key=lambda s: s.name.lower())


def query_years(query: str) -> set[int]:
    """The years a query names ("2021", "FY2022", "FY22")."""
    years = {int(y) for y in _YEAR.findall(query)}
    years.update(full_year(y) for y in _FY_SHORT.findall(query))
    return years


_Signature = tuple[frozenset[str], frozenset[str]]  # a passage's words (years aside), and its figures


def _signature(text: str) -> _Signature:
    """A passage's words, years left out (an edition's year is what changes in boilerplate),
    and its figures."""
    words = frozenset(w for w in map(str.lower, _WORD.findall(text)) if not _YEAR.fullmatch(w))
    return words, frozenset(w for w in words if w[0].isdigit())


def _alike(a: _Signature, b: _Signature) -> bool:
    """Nearly word for word, with the same figures: two editions' passages that differ in a
    figure ("opened 21 new libraries", "opened 22") each say something the other does not."""
    (wa, fa), (wb, fb) = a, b
    if not (wa and wb) or fa != fb or min(len(wa), len(wb)) < NEAR_DUPLICATE * max(len(wa), len(wb)):
        return False
    return len(wa & wb) / len(wa | wb) >= NEAR_DUPLICATE


def fold(ranked: Sequence[Sequence[Place]], series_of: dict[str, Series], years: set[int],
         signatures: LRU | None = None) -> list[tuple[int, Place, tuple[Place, ...]]]:
    """Ranked passages (each with all its places, first place first) as results: passages of
    editions of one series that are the same or nearly so (`NEAR_DUPLICATE`) become one
    result. Each result is (the index in `ranked` of its best passage, the place shown, the
    other editions' places, newest first). The place shown is the edition of a year the query
    names, else the newest. `signatures` keeps each passage's words between searches (by key:
    a passage's key is a hash of its text)."""
    groups: list[tuple[int, str | None, _Signature, list[Place]]] = []
    empty: _Signature = (frozenset(), frozenset())
    serial = [next((p for p in places if p.document.id in series_of), None) for places in ranked]
    texts = {places[0].key: places[0].passage.clean for places, s in zip(ranked, serial) if s is not None}
    compute = lambda keys: [_signature(texts[k]) for k in keys]  # noqa: E731
    found = dict(zip(texts, signatures.get_many(list(texts), compute) if signatures is not None else compute(list(texts))))
    for i, places in enumerate(ranked):
        first = places[0]
        series = series_of[serial[i].document.id].id if serial[i] is not None else None  # type: ignore[union-attr]
        sig = found[first.key] if series else empty
        home = None
        if series:
            home = next((g for g in groups if g[1] == series and _alike(g[2], sig)), None)
        if home is None:
            groups.append((i, series, sig, list(places) if series else [first]))
        else:
            home[3].extend(places)
    out: list[tuple[int, Place, tuple[Place, ...]]] = []
    for i, series, _, places in groups:
        if series is None:
            out.append((i, places[0], ()))
            continue
        by_doc: dict[str, Place] = {}
        for p in places:  # one place per edition of the series: the best-ranked passage there
            if (s := series_of.get(p.document.id)) is not None and s.id == series:
                by_doc.setdefault(p.document.id, p)
        editions = list(by_doc.values())
        year = {p.document.id: edition_year(p.document) or 0 for p in editions}
        editions.sort(key=lambda p: (year[p.document.id] in years, year[p.document.id], p.document.date or ""), reverse=True)
        out.append((i, editions[0], tuple(editions[1:])))
    return out
