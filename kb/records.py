"""The records kb passes around: frozen, plain data."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

__all__ = ["Document", "Passage", "Occurrence", "Result", "Place", "Counts", "Section", "IngestReport", "Record", "document_id", "passage_key", "STRONG", "PARTIAL"]

STRONG, PARTIAL = 0.5, 0.2  # relevance thresholds for "strong" and "partial" match


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    source: str
    date: str | None
    format: str
    content_hash: str
    pages: int | None = None
    passages: int = 0
    ingested_at: str | None = None
    file: str | None = None  # the copy kept in the home, relative to it
    organisation: str | None = None
    period: str | None = None  # the period covered: "FY2022", "Q1 2023", "quarter ended June 30, 2023"
    kind: str | None = None  # "annual report", "quarterly report", "press release", ...
    edited: tuple[str, ...] = ()  # fields a person set (kb documents edit, the API, a sidecar file)
    series: str | None = None  # the report series a person put it in (`kb.series` detects the rest)

    @property
    def name(self) -> str:
        """The source as shown to readers: a file's name, never the server's folders."""
        if self.source.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", self.source):
            return re.split(r"[\\/]", self.source)[-1]
        return self.source

    def summary(self) -> dict:
        return {"id": self.id, "title": self.title, "source": self.name, "date": self.date,
                "organisation": self.organisation, "period": self.period, "kind": self.kind}

    def to_dict(self, paths: bool = False) -> dict:
        """As the API gives it; `paths` adds where the file was read from (the CLI's --json)."""
        return {
            **self.summary(),
            "format": self.format,
            "pages": self.pages,
            "passages": self.passages,
            "ingested_at": self.ingested_at,
            "edited": list(self.edited),
            "series": self.series,
            **({"path": self.source} if paths else {}),
        }


@dataclass(frozen=True)
class Passage:
    """A unique passage text. `id` is derived from the cleaned text, so equal texts share one."""

    id: str
    key: int  # the int64 the indexes know it by
    text: str  # as in the source, for display
    clean: str  # cleaned, as embedded and indexed
    tokens: int


@dataclass(frozen=True)
class Occurrence:
    """Where a passage stands in a document: character offsets into the document text."""

    document_id: str
    ordinal: int
    section: str | None
    page: int | None
    start: int
    end: int


@dataclass(frozen=True)
class Counts:
    documents: int
    passages: int  # unique passage texts (one vector each)
    occurrences: int  # passages as the reports hold them: what people count


@dataclass(frozen=True)
class Section:
    name: str
    passages: int
    first: str | None = None  # the id of its first passage (one document's sections only)


@dataclass(frozen=True)
class Place:
    """A passage at one of its places (a document may repeat another's passage word for word)."""

    key: int
    passage: Passage
    occurrence: Occurrence
    document: Document


@dataclass(frozen=True)
class Result:
    rank: int
    score: float
    passage: Passage
    occurrence: Occurrence
    document: Document
    highlights: tuple[str, ...] = ()
    explain: dict | None = field(default=None, compare=False)
    relevance: float | None = None  # calibrated probability that the passage answers the query
    also: tuple[Place, ...] = ()  # the same passage, or nearly, in other editions of its series (`kb.series`)

    @property
    def strength(self) -> str | None:
        """Relevance in words, for people: strong, partial or weak."""
        if self.relevance is None:
            return None
        return "strong" if self.relevance >= STRONG else "partial" if self.relevance >= PARTIAL else "weak"

    def to_dict(self) -> dict:
        out = {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "relevance": None if self.relevance is None else round(self.relevance, 4),
            "match": self.strength,
            "passage_id": self.passage.id,
            "text": self.passage.text,
            "highlights": list(self.highlights),
            "section": self.occurrence.section,
            "page": self.occurrence.page,
            "document": self.document.summary(),
            "also_in": [{"passage_id": p.passage.id, "section": p.occurrence.section, "page": p.occurrence.page,
                         "document": p.document.summary()} for p in self.also],
        }
        if self.explain is not None:
            out["explain"] = self.explain
        return out


@dataclass
class IngestReport:
    """What one `ingest` run did, file by file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (from, to): recognised by content
    removed: list[str] = field(default_factory=list)  # gone from a --sync folder
    warnings: list[tuple[str, str]] = field(default_factory=list)  # ingested, but not all of it read
    passages_new: int = 0
    passages_reused: int = 0
    pages: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "moved": [{"from": a, "to": b} for a, b in self.moved],
            "removed": self.removed,
            "warnings": [{"path": p, "warning": w} for p, w in self.warnings],
            "pages": self.pages,
            "passages_embedded": self.passages_new,
            "passages_reused": self.passages_reused,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Record:
    """A document given as text rather than as a file; `source` identifies it across ingests."""

    source: str
    title: str
    text: str
    date: str | None = None




def document_id(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def passage_key(clean: str) -> tuple[str, int]:
    """Public id (16 hex digits of SHA-256 of what the encoder reads: the cleaned text, or
    with `embed_context` that text under its context) and the int64 the indexes use."""
    pid = hashlib.sha256(clean.encode()).hexdigest()[:16]
    return pid, int(pid, 16) >> 1
