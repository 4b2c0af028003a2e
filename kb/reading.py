"""What the search page needs around a result: its context, the original file, per-report
counts for a query, and a spelling suggestion when nothing matched."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import NotFound
from .knowledge import KnowledgeBase
from .records import PARTIAL, Document, Place, Result
from .series import edition_year
from .store import WORD  # the words `store.words()` collects

__all__ = ["Context", "context", "document_file", "facets", "find_passage", "timeline", "suggest", "citation"]



@dataclass(frozen=True)
class Context:
    before: tuple[str, ...]
    after: tuple[str, ...]


def context(kb: KnowledgeBase, result: Result) -> Context:
    """What comes just before and just after a result in its report: the text from the
    previous passage's start and up to the next one's end, without what they share with it."""
    o = result.occurrence
    before, after = kb.store.around(o.document_id, o.ordinal)
    return Context((before,) if before else (), (after,) if after else ())


def document_page(kb: KnowledgeBase, doc_id: str, offset: int, limit: int) -> dict:
    """A document's metadata and `limit` of its passages in reading order from the
    `offset`-th; `next_offset` is where the next page starts (None at the end). What the API
    and `kb mcp` give."""
    doc = kb.document(doc_id)
    passages = [{"ordinal": n, "passage_id": pid, "section": section, "page": page, "text": text}
                for n, pid, section, page, text in kb.store.document_passages(doc.id, offset, limit)]
    following = offset + len(passages)
    return {**doc.to_dict(), "passage_list": passages, "offset": offset,
            "next_offset": following if following < doc.passages else None}


def find_passage(kb: KnowledgeBase, passage_id: str) -> Place:
    """A passage by its public id, at its first place; `NotFound` if there is none."""
    found = kb.store.passage_by_id(passage_id) if isinstance(passage_id, str) and len(passage_id) == 16 else None
    if found is None:
        raise NotFound(f"no passage with id {passage_id!r}")
    key, doc_id = found
    return Place(key, *kb.store.results_for([key], {"document": [doc_id]})[key])


def passage_around(kb: KnowledgeBase, passage_id: str, around: int) -> dict:
    """One passage (by id), where it stands, and `around` passages each side of it."""
    place = find_passage(kb, passage_id)
    passage, occurrence, document = place.passage, place.occurrence, place.document
    rows = kb.store.neighbours(document.id, occurrence.ordinal, around)
    return {"passage_id": passage.id, "text": passage.text, "section": occurrence.section, "page": occurrence.page,
            "ordinal": occurrence.ordinal, "document": document.summary(),
            "before": [t for n, t in rows if n < occurrence.ordinal], "after": [t for n, t in rows if n > occurrence.ordinal]}


def document_file(kb: KnowledgeBase, doc_id: str) -> tuple[Document, Path]:
    """The kept copy of an ingested file. The path comes from the store, never from a
    request, and must resolve inside the home's files folder."""
    doc = kb.document(doc_id)
    folder = (kb.home / "files").resolve()
    path = (kb.home / doc.file).resolve() if doc.file else None
    if path is None or folder not in path.parents or not path.is_file():
        raise NotFound(f"the original file of {doc_id!r} is not kept")
    return doc, path


def facets(kb: KnowledgeBase, query: str, mode: str = "hybrid", filters: dict | None = None,
           depth: int = 50) -> list[tuple[Document, int]]:
    """How many of the query's good passages (relevance that reads "strong" or "partial",
    among the first `depth` candidates) each report holds, most first. The document and year
    filters are left out so the counts show where else to look. No highlighting or
    reranking: this runs beside every search, so it is kept to retrieval, one SQL join and
    the calibration."""
    query, _, mode, filters = kb.validate(query, None, mode, filters)
    others = kb.store_filters({k: v for k, v in (filters or {}).items() if k not in ("document", "year")} or None)
    engine = kb.engine()
    if engine is None:
        return []
    vector = kb.query_vector(query)
    hits = kb.retrieve(query, depth, mode, others, vector)
    rows = kb.store.results_for([h.id for h in hits], others)
    hits = [h for h in hits if h.id in rows]
    if not hits:
        return []
    x = kb.evidence(engine, query, hits)
    counts: dict[str, tuple[Document, int]] = {}
    for hit, relevance in zip(hits, kb.relevance(vector, x)):
        if relevance >= PARTIAL:
            doc = rows[hit.id][2]
            counts[doc.id] = (doc, counts.get(doc.id, (doc, 0))[1] + 1)
    return sorted(counts.values(), key=lambda item: (-item[1], item[0].title))


def timeline(counts: list[tuple[Document, int]]) -> list[tuple[int, int]]:
    """Good passages per year reported on (from `facets`), oldest first: where matches fall
    across the editions of a series, or across every report."""
    years: dict[int, int] = {}
    for doc, n in counts:
        if (year := edition_year(doc)) is not None:
            years[year] = years.get(year, 0) + n
    return sorted(years.items())


def suggest(kb: KnowledgeBase, query: str) -> str | None:
    """The query with unknown words replaced by the closest words of the collection, or None."""
    vocabulary = _vocabulary(kb)
    changed, out = False, []
    for token in re.split(r"(\W+)", query):
        low = token.lower()
        if WORD.fullmatch(token) and low not in vocabulary:
            close = difflib.get_close_matches(low, vocabulary, n=1, cutoff=0.8)
            if close:
                token, changed = close[0], True
        out.append(token)
    return "".join(out) if changed else None


_VOCAB: dict[tuple[str, int], list[str]] = {}


def _vocabulary(kb: KnowledgeBase) -> list[str]:
    key = (str(kb.home), kb.store.generation())
    if key not in _VOCAB:
        _VOCAB.clear()
        _VOCAB[key] = sorted(kb.store.words())
    return _VOCAB[key]


@dataclass(frozen=True)
class Citation:
    """One result cited three ways: plain text, Markdown and a BibTeX-style entry."""

    quote: str
    text: str
    markdown: str
    bibtex: str


def _quote(result: Result, most: int = 300) -> str:
    """The sentence that answers (the first highlight), else the passage's opening words."""
    from .reader import repair

    words = repair(result.highlights[0] if result.highlights else result.passage.text).split()
    quote = " ".join(words)
    return quote if len(quote) <= most else quote[:most].rsplit(" ", 1)[0] + " …"


def citation(result: Result, url: str) -> Citation:
    """A citation people can paste: the quoted sentence, then title, organisation, section,
    page and date, and a permanent link to the passage in the reader."""
    doc, where = result.document, result.occurrence
    quote = _quote(result)
    parts = [doc.title] + [x for x in (doc.organisation, where.section) if x]
    if where.page:
        parts.append(f"p. {where.page}")
    if doc.date:
        parts.append(doc.date)
    text = f"“{quote}” " + ", ".join(parts) + f". {url}"
    source = ", ".join(parts[1:])
    markdown = f"> {quote}\n\n— *{doc.title}*" + (f", {source}" if source else "") + f". [Link]({url})"
    fields = [("title", doc.title), ("institution", doc.organisation), ("year", (doc.date or "")[:4] or None),
              ("note", ", ".join(x for x in (where.section, f"p. {where.page}" if where.page else None) if x) or None),
              ("quote", quote), ("url", url)]
    body = ",\n".join(f"  {k} = {{{_bib(v)}}}" for k, v in fields if v)
    bibtex = f"@report{{kb-{result.passage.id[:8]},\n{body}\n}}"
    return Citation(quote, text, markdown, bibtex)


def _bib(value: str) -> str:
    """A BibTeX field's text: braces and backslashes that would end or escape it are dropped."""
    return value.replace("\\", " ").replace("{", "(").replace("}", ")")
