"""Where a search's passages come from: each passage's documents, their titles analysed, and
the organisations behind them with the trading symbols their covers print.

A passage key is the hash of its text, and one text can stand in several documents, so the
index knows nothing of documents; fusion's title prior, the organisation a question names and
the relevance features all ask the store. Each answer is remembered for as long as it holds:
passages' documents and organisations per engine (every write replaces the engine), analysed
titles by their text, a document's symbols per version of its content.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from typing import TYPE_CHECKING

from index import SearchEngine

from .metadata import COVER_CHARS, trading_symbols
from .named import Organisations

if TYPE_CHECKING:  # pragma: no cover
    from .records import Document
    from .store import PassageStore

__all__ = ["Provenance"]

_TITLES = 20_000  # analysed titles kept
_NOWHERE: tuple[tuple[str, str], ...] = (("", ""),)  # a passage no longer stored


class Provenance:
    """The documents, titles and organisations of passages, as one store holds them."""

    def __init__(self, store: PassageStore):
        self.store = store
        self._lock = threading.Lock()
        self._titles: dict[str, frozenset[str]] = {}  # analysed document titles: a plain dict, read for ~200 candidates a search
        self._passage_documents: tuple[weakref.ref | None, dict[int, tuple[tuple[str, str], ...]]] = (None, {})
        self._organisations: tuple[weakref.ref | None, Organisations | None] = (None, None)
        self._covers: dict[tuple[str, str], tuple[str, ...]] = {}  # (document id, content hash) -> its symbols

    def documents_of(self, engine: SearchEngine, keys: list[int]) -> list[tuple[str, str]]:
        """(id, title) of each passage's document at its first place."""
        return [documents[0] for documents in self.every_document_of(engine, keys)]

    def every_document_of(self, engine: SearchEngine, keys: list[int]) -> list[tuple[tuple[str, str], ...]]:
        """(id, title) of every document each passage occurs in, its first place's first: the
        store is read only for passages not met since the last write."""
        with self._lock:
            ref, known = self._passage_documents
            if ref is None or ref() is not engine:
                known = {}
                self._passage_documents = (weakref.ref(engine), known)
        missing = [k for k in keys if k not in known]
        if missing:
            if len(known) > 200_000:  # bounded
                known.clear()
            known.update(self.store.every_document_for(missing))
        return [known.get(k, _NOWHERE) for k in keys]

    def heads(self, engine: SearchEngine, documents: list[tuple[str, str]]) -> list[frozenset[str]]:
        """The analysed title of each of `documents` (each title analysed once)."""
        known = self._titles
        missing = [title for title in dict.fromkeys(title for _, title in documents) if title not in known]
        if missing:
            if len(known) + len(missing) > _TITLES:  # bounded: begin again
                self._titles = known = {}
                missing = list(dict.fromkeys(title for _, title in documents))
            analyser = engine.lexical.analyzer
            known.update((title, frozenset(analyser(title))) for title in missing)
        return [known[title] for _, title in documents]

    def title_terms(self, engine: SearchEngine, keys: list[int]) -> list[frozenset[str]]:
        """The analysed title of each passage's document."""
        return self.heads(engine, self.documents_of(engine, keys))

    def organisations(self, engine: SearchEngine) -> Organisations:
        """The documents' organisations (`kb.named.Organisations`), made again for each engine."""
        with self._lock:
            ref, known = self._organisations
        if ref is None or ref() is not engine or known is None:
            documents = [d for d in self.store.documents() if d.organisation]
            known = Organisations(engine, [(d.id, str(d.organisation)) for d in documents],
                                  lambda ids: self.store.allowed_keys({"document": ids}), lambda: self._symbols(documents))
            with self._lock:
                self._organisations = (weakref.ref(engine), known)
        return known

    def _symbols(self, documents: list[Document]) -> dict[str, str]:
        """Trading symbol -> the organisation whose documents print it on their cover
        (`kb.metadata.trading_symbols`; a symbol two organisations print goes to the one with
        more documents). Each document's cover is read once per version of its content."""
        new = [d for d in documents if (d.id, d.content_hash) not in self._covers]
        if new:
            if len(self._covers) > 100_000:  # bounded
                self._covers.clear()
            covers = self.store.document_heads([d.id for d in new], COVER_CHARS)
            self._covers.update(((d.id, d.content_hash), trading_symbols(covers.get(d.id, ""))) for d in new)
        votes = Counter((symbol, str(d.organisation)) for d in documents for symbol in self._covers.get((d.id, d.content_hash), ()))
        out: dict[str, str] = {}
        for (symbol, organisation), _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):
            out.setdefault(symbol, organisation)
        return out
