"""The passage store: documents, unique passages (with their vectors) and where they occur.

`PassageStore` is the protocol every caller is typed against; `kb.sqlitestore.SQLiteStore` is
the embedded default and `kb.pgstore.PostgresStore` the server-backed one. What both derive the
same way from their own SQL lives here: `DerivedReads`, and the rows -> records helpers. The
store is the source of truth: the FAISS and BM25 indexes are derived from it and can always be
rebuilt from it without re-embedding, which is what makes a crash mid-ingest harmless. Every
write bumps a generation number that index files are stamped with.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import ContextManager, Iterable, Iterator, Protocol, Sequence

import numpy as np

from .records import Document, Occurrence, Passage, Place

__all__ = ["PassageStore", "Filters", "EDITABLE", "ROW_COLUMNS", "WORD"]

EDITABLE = ("title", "organisation", "date", "period", "kind", "series")  # document fields people may set

Filters = dict  # validated by KnowledgeBase: document, section, date_from, date_to

WORD = re.compile(r"[^\W\d_]{3,}")  # a word for spelling suggestions: 3+ letters

DOC_COLUMNS = ("d.id, d.title, d.source, d.date, d.format, d.content_hash, d.pages, d.ingested_at, d.file, "
                "d.organisation, d.period, d.kind, d.edits, d.series")
FIRST_PLACE = "ORDER BY d.ingested_at, o.document, o.ordinal"  # a passage's first place: its first row in this order
# every column of every table, in the order `rows()` gives and `load_rows()` takes them (a
# passage's vector as a float32 array): what copying a store between backends moves
ROW_COLUMNS = {
    "meta": ("key", "value"),
    "documents": ("id", "source", "title", "date", "format", "content_hash", "fingerprint", "pages", "file", "text",
                  "ingested_at", "organisation", "period", "kind", "edits", "series", "tables"),
    "passages": ("key", "id", "text", "clean", "tokens", "vector"),
    "occurrences": ("document", "ordinal", "passage", "section", "page", "start", "end"),
}


class PassageStore(Protocol):
    def generation(self) -> int: ...
    def get_meta(self, key: str) -> str | None: ...
    def document(self, doc_id: str) -> Document | None: ...
    def documents(self) -> list[Document]: ...
    def fingerprint(self, doc_id: str) -> str | None: ...
    def known_keys(self, keys: Iterable[int]) -> set[int]: ...
    def commit(self, docs: Sequence[tuple], new_passages: Sequence[tuple[Passage, np.ndarray]], meta: dict) -> list[int]: ...
    def edit_document(self, doc_id: str, changes: dict[str, str | None]) -> Document | None: ...
    def move_document(self, doc_id: str, new_id: str, source: str, file: str | None) -> None: ...
    def remove_document(self, doc_id: str) -> list[int]: ...
    def results_for(self, keys: Sequence[int], filters: Filters | None = None) -> dict: ...
    def places(self, keys: Sequence[int], filters: Filters | None = None) -> dict[int, list[Place]]: ...
    def every_document_for(self, keys: Sequence[int]) -> dict[int, tuple[tuple[str, str], ...]]: ...
    def title_vectors(self, model: str, titles: Sequence[str]) -> dict[str, np.ndarray]: ...
    def titles_without_vectors(self, model: str) -> list[str]: ...
    def add_title_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None: ...
    def headings_for(self, keys: Sequence[int]) -> dict[int, str]: ...
    def passages_of(self, doc_ids: Sequence[str]) -> set[int]: ...
    def document_heads(self, doc_ids: Sequence[str], chars: int) -> dict[str, str]: ...
    def around(self, doc_id: str, ordinal: int) -> tuple[str, str]: ...
    def tables_of(self, doc_id: str) -> list[tuple[int, int]]: ...
    def allowed_keys(self, filters: Filters) -> np.ndarray: ...
    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]: ...
    def all_texts(self, texts: bool = True) -> tuple[np.ndarray, list[str] | None, list[str]]: ...
    def clean_texts(self, keys: np.ndarray) -> list[str]: ...
    def texts(self, keys: Sequence[int]) -> dict[int, str]: ...
    def passage_sources(self) -> dict[int, list[str]]: ...
    def counts(self) -> dict: ...
    def words(self, limit: int = 200_000) -> set[str]: ...
    def sections(self, doc_id: str | None = None) -> list[tuple[str, int]]: ...
    def neighbours(self, doc_id: str, ordinal: int, around: int = 1) -> list[tuple[int, str]]: ...
    def document_layout(self, doc_id: str) -> tuple[str, list[tuple[str, str | None, int | None, int, int]]]: ...
    def document_passages(self, doc_id: str, offset: int = 0, limit: int = -1) -> list[tuple[int, str, str | None, int | None, str]]: ...
    def passage_by_id(self, passage_id: str) -> tuple[int, str] | None: ...
    def reading(self) -> ContextManager: ...
    def exclusive(self) -> ContextManager:
        """Held by one writer at a time across every process using this store."""
    def rows(self, batch: int = 5000) -> Iterator[tuple[str, list[tuple]]]:
        """Every row, as (table, rows) batches (`ROW_COLUMNS`), for copying a store."""
    def load_rows(self, batches: Iterable[tuple[str, list[tuple]]]) -> None:
        """Write `rows()` of another store into this empty one, in one transaction."""
    def close(self) -> None: ...


class DerivedReads:
    """Reads both stores derive the same way from their own SQL primitives (`get_meta`,
    `_documents`, `_place_rows`, `_places_in_order`, `_passage_column`); `_PARAM` is the
    driver's placeholder."""

    _PARAM = "?"

    def get_meta(self, key: str) -> str | None:
        raise NotImplementedError

    def _documents(self, where: str = "", args: tuple = ()) -> list[Document]:
        raise NotImplementedError

    def _place_rows(self, keys: Sequence[int], filters: Filters | None) -> Iterable[tuple]:
        raise NotImplementedError

    def _places_in_order(self, keys: Sequence[int]) -> Iterable[tuple[int, str, str, str | None]]:
        """(key, document id, title, section) of every place of each of `keys` still stored,
        each passage's first place (as `results_for` picks it) first; no passage text is read."""
        raise NotImplementedError

    def _passage_column(self, keys: list[int], column: str) -> dict[int, str]:
        """key -> `column` ("text" or "clean") of each of `keys` (distinct) still stored."""
        raise NotImplementedError

    def clean_texts(self, keys: np.ndarray) -> list[str]:
        """The cleaned texts of passages `keys`, in that order (what `LexicalIndex.rebuild` fetches)."""
        wanted = [int(k) for k in keys]
        found = self._passage_column(list(dict.fromkeys(wanted)), "clean")
        return [found[k] for k in wanted]

    def texts(self, keys: Sequence[int]) -> dict[int, str]:
        """key -> the text (lines as laid out) of each of `keys` still stored: what `kb.labels`
        reads a passage's lines from, without its places."""
        return self._passage_column([int(k) for k in dict.fromkeys(keys)], "text")

    def _first_places(self, keys: Sequence[int]) -> dict[int, tuple[str, str, str | None]]:
        out: dict[int, tuple[str, str, str | None]] = {}
        for key, doc, title, section in self._places_in_order(keys):
            out.setdefault(key, (doc, title, section))
        return out

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def document(self, doc_id: str) -> Document | None:
        found = self._documents(f"WHERE d.id = {self._PARAM}", (doc_id,))
        return found[0] if found else None

    def documents(self) -> list[Document]:
        return self._documents()

    def results_for(self, keys: Sequence[int], filters: Filters | None = None) -> dict:
        """key -> (Passage, Occurrence, Document): each passage at its first matching place."""
        return results_from_rows(self._place_rows(keys, filters)) if keys else {}

    def places(self, keys: Sequence[int], filters: Filters | None = None) -> dict[int, list[Place]]:
        """key -> every place of the passage (within `filters`), its first place first."""
        return places_from_rows(self._place_rows(keys, filters)) if keys else {}

    def every_document_for(self, keys: Sequence[int]) -> dict[int, tuple[tuple[str, str], ...]]:
        """key -> (id, title) of every document the passage occurs in, the one at its first
        place (as `results_for` picks it) first, without reading their text: a paragraph
        repeated word for word across a report's editions is one passage, and it is in each of
        them (the title bonus takes the best of its documents)."""
        out: dict[int, dict[tuple[str, str], None]] = {}
        for key, doc, title, _ in self._places_in_order(keys):
            out.setdefault(key, {})[(doc, title)] = None
        return {key: tuple(docs) for key, docs in out.items()}

    def headings_for(self, keys: Sequence[int]) -> dict[int, str]:
        """key -> heading (as `all_texts` gives it) of each of `keys` that is still stored:
        what a write that touched only these passages gives the lexical index."""
        return {key: passage_heading(title, section) for key, (_, title, section) in self._first_places(keys).items()}


def passage_heading(title: str, section: str | None) -> str:
    """A passage's heading for BM25: its document's title, and its section where that differs."""
    return "\n".join(x for x in (title, section if section != title else None) if x)


def with_edits(doc: Document, edits: dict) -> Document:
    return replace(doc, **{k: v for k, v in edits.items() if k in EDITABLE})


def results_from_rows(rows: Iterable[tuple]) -> dict:
    """Place rows (passage, occurrence and document columns, first places first) -> key ->
    (Passage, Occurrence, Document) at its first place. Shared by every store."""
    out: dict = {}
    documents: dict[str, Document] = {}
    for r in rows:
        if r[0] in out:
            continue
        document = documents.get(r[5]) or documents.setdefault(r[5], document_from_row(r, offset=11))
        out[r[0]] = (Passage(r[1], r[0], r[2], r[3], r[4]), Occurrence(*r[5:11]), document)
    return out


def places_from_rows(rows: Iterable[tuple]) -> dict[int, list[Place]]:
    """Place rows -> key -> every place of the passage, its first place first."""
    out: dict[int, list[Place]] = {}
    documents: dict[str, Document] = {}
    passages: dict[int, Passage] = {}
    for r in rows:
        document = documents.get(r[5]) or documents.setdefault(r[5], document_from_row(r, offset=11))
        passage = passages.get(r[0]) or passages.setdefault(r[0], Passage(r[1], r[0], r[2], r[3], r[4]))
        out.setdefault(r[0], []).append(Place(r[0], passage, Occurrence(*r[5:11]), document))
    return out


def document_from_row(r, offset: int = 0) -> Document:
    v = tuple(r)[offset:]
    return Document(
        id=v[0], title=v[1], source=v[2], date=v[3], format=v[4], content_hash=v[5],
        pages=v[6], ingested_at=v[7], file=v[8], organisation=v[9], period=v[10], kind=v[11],
        edited=tuple(sorted(json.loads(v[12] or "{}"))), series=v[13], passages=v[14],
    )

