"""Measure retrieval quality: on a BEIR dataset, or on an organisation's own questions.

BEIR (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``): every corpus entry becomes
one document (title + text, chunked like any report); passages are mapped back to the
documents they occur in and a document scores as its best passage.

Feedback: the "helpful / not helpful" votes staff leave on the search page, per query.

Questions (``.jsonl``, one ``{"query": ..., "relevant": [...]}`` per line) run against an
existing knowledge base. Each relevant item is a passage id, a document id or a text snippet;
a result satisfies an item when its id or its document's id equals it, or its text contains
the snippet (case and spacing ignored). Each item counts once, at the first result that
satisfies it, so a query with three items needs three results to score nDCG 1.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from index.metrics import METRICS, evaluate

from .errors import InvalidRequest
from .knowledge import KnowledgeBase
from .records import Record

__all__ = ["BeirDataset", "Question", "evaluate_beir", "evaluate_questions", "evaluate_feedback", "read_questions", "DEPTH"]

DEPTH = 100  # documents ranked per query: enough for recall@100
_PASSAGES = 2 * DEPTH  # passages retrieved to fill DEPTH documents (a document has several)
BEIR_PREFIX = "beir:"

Progress = Callable[[list], Iterable]


def _jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise InvalidRequest(f"{path.name} line {n} is not JSON: {exc}", "invalid_dataset") from None


@dataclass
class BeirDataset:
    folder: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @classmethod
    def load(cls, folder: str | Path, split: str = "test") -> "BeirDataset":
        folder = Path(folder)
        qrels_file = folder / "qrels" / f"{split}.tsv"
        for needed in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_file):
            if not needed.is_file():
                raise InvalidRequest(f"{folder} is not a BEIR dataset: {needed.name} is missing.", "invalid_dataset")
        qrels: dict[str, dict[str, int]] = {}
        with open(qrels_file, encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh, delimiter="\t"):
                if len(row) < 3 or row[0] == "query-id":
                    continue
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
        queries = {str(q["_id"]): q["text"] for q in _jsonl(folder / "queries.jsonl") if str(q["_id"]) in qrels}
        missing = set(qrels) - set(queries)
        if missing:
            raise InvalidRequest(f"{len(missing)} judged queries are not in queries.jsonl (e.g. {min(missing)}).", "invalid_dataset")
        return cls(folder, queries, qrels)

    def records(self) -> list[Record]:
        return [Record(BEIR_PREFIX + str(d["_id"]), d.get("title") or "", d.get("text") or "")
                for d in _jsonl(self.folder / "corpus.jsonl")]


def _document_ranking(hits, sources: dict[int, list[str]], depth: int) -> list[tuple[str, float]]:
    """Passages best first -> documents best first, each at its best passage's score."""
    seen: dict[str, float] = {}
    for hit in hits:
        for source in sources.get(hit.id, ()):
            doc = source[len(BEIR_PREFIX):] if source.startswith(BEIR_PREFIX) else source
            if doc not in seen:
                seen[doc] = hit.score
        if len(seen) >= depth:
            break
    return list(seen.items())[:depth]


def _runs(kb: KnowledgeBase, queries: dict[str, str], modes: Iterable[str], reranks: Iterable[bool], k: int,
          progress: Progress | None):
    """(row label, seconds, {query id: hits}) per mode and rerank choice; queries are
    embedded once each, the way a search embeds them (counted in the first row that needs them)."""
    ids = list(queries)
    vectors = None
    for mode in modes:
        for rerank in reranks:
            started = time.perf_counter()
            if (mode != "lexical" or rerank) and vectors is None:  # one by one, as served (ONNX by default)
                vectors = {q: kb.query_vector(queries[q]) for q in ids}
            run = {}
            for q in (progress(ids) if progress else ids):
                run[q] = kb.retrieve(queries[q], k, mode, vector=vectors[q] if vectors is not None else None, rerank=rerank)
            label = {"mode": mode, "rerank": kb.reranker.name if rerank else None}
            yield label, time.perf_counter() - started, run


def evaluate_beir(kb: KnowledgeBase, dataset: BeirDataset, modes: Iterable[str], reranks: Iterable[bool] = (False,),
                  progress: Progress | None = None) -> list[dict]:
    """One row of metrics per mode (and rerank choice). The corpus must be ingested into `kb`."""
    sources = kb.store.passage_sources()
    rows = []
    for label, seconds, run in _runs(kb, dataset.queries, modes, reranks, _PASSAGES, progress):
        ranked = {q: _document_ranking(hits, sources, DEPTH) for q, hits in run.items()}
        rows.append({**label, "queries": len(ranked), **evaluate(ranked, dataset.qrels), "seconds": round(seconds, 2)})
    return rows


@dataclass(frozen=True)
class Question:
    query: str
    relevant: tuple[str, ...]
    off_topic: bool = False  # nothing in the collection answers it: the empty state is right
    document: str | None = None  # the report that answers it: its id, or its file's name (with or without the extension)
    pages: tuple[int, ...] = ()  # the pages of `document` the evidence is on: a result must cite one of them


def read_questions(path: str | Path) -> list[Question]:
    path = Path(path)
    if not path.is_file():
        raise InvalidRequest(f"{path} does not exist.", "invalid_dataset")
    out = []
    for n, row in enumerate(_jsonl(path), 1):
        query, relevant = row.get("query") if isinstance(row, dict) else None, row.get("relevant") if isinstance(row, dict) else None
        off_topic = isinstance(row, dict) and row.get("off_topic") is True
        if not isinstance(query, str) or not query.strip() or not isinstance(relevant, list) or (not relevant and not off_topic) \
                or (relevant and off_topic) or not all(isinstance(r, str) and r.strip() for r in relevant):
            raise InvalidRequest(f"{path.name} question {n}: need {{\"query\": text, \"relevant\": [ids or snippets]}}, "
                                 "or {\"query\": text, \"relevant\": [], \"off_topic\": true}.", "invalid_dataset")
        document = row.get("document")
        if document is not None and (not isinstance(document, str) or not document.strip() or off_topic):
            raise InvalidRequest(f"{path.name} question {n}: \"document\" names the report that answers it (its id or file "
                                 "name), and an off-topic question has none.", "invalid_dataset")
        pages = row.get("pages", [])
        if not isinstance(pages, list) or not all(isinstance(p, int) and not isinstance(p, bool) and p > 0 for p in pages) \
                or (pages and document is None):
            raise InvalidRequest(f"{path.name} question {n}: \"pages\" lists the pages (from 1) of its \"document\" that hold "
                                 "the evidence.", "invalid_dataset")
        out.append(Question(query.strip(), tuple(r.strip() for r in relevant), off_topic, document.strip() if document else None,
                            tuple(pages)))
    if not out:
        raise InvalidRequest(f"{path.name} holds no questions.", "invalid_dataset")
    return out


def squash(text: str) -> str:
    """Text as evidence snippets are matched: case folded, runs of white space one space."""
    return " ".join(text.lower().split())


def page_texts(path: Path) -> dict[int, str]:
    """Page number (from 1) -> the page's text as kb's loader reads it, squashed: where a
    question's evidence is printed (`bench/evidence_pages.py` gives questions their pages)."""
    from .loaders import load_document

    doc = load_document(Path(path))
    pages: dict[int, list[str]] = {}
    for block in doc.blocks:
        if block.page is not None:
            pages.setdefault(block.page, []).append(doc.text[block.start:block.end])
    return {number: squash(" ".join(parts)) for number, parts in pages.items()}


def evidence_items(relevant: Iterable[str]) -> list[tuple[str, str, str]]:
    """A question's evidence items: (item id "0", "1", ..., as written, squashed)."""
    return [(str(i), r, squash(r)) for i, r in enumerate(relevant)]


def holds(item: tuple[str, str, str], passage_id: str, document_id: str, text: str) -> bool:
    """Whether a passage holds an evidence item: named by its id or its document's, or a
    snippet found in its squashed `text`."""
    _, raw, snippet = item
    return raw in (passage_id, document_id) or snippet in text


def _question_ranking(question: Question, results) -> list[tuple[str, float]]:
    """Results -> a ranking over the question's items (item ids "0", "1", ...) and misses."""
    items = evidence_items(question.relevant)
    done: set[str] = set()
    ranking = []
    for passage_id, document_id, text, score in results:
        text = squash(text)
        match = next((item[0] for item in items if item[0] not in done and holds(item, passage_id, document_id, text)), None)
        if match is None:
            ranking.append((f"miss:{passage_id}", score))
        else:
            done.add(match)
            ranking.append((match, score))
    return ranking


def evaluate_questions(kb: KnowledgeBase, questions: list[Question], modes: Iterable[str], reranks: Iterable[bool] = (False,),
                       progress: Progress | None = None) -> list[dict]:
    """One row of metrics per mode over the questions, against what `kb` holds now
    (off-topic questions have nothing to rank: `evaluate_served` counts them)."""
    questions = [q for q in questions if not q.off_topic]
    queries = {str(n): q.query for n, q in enumerate(questions)}
    qrels = {str(n): {str(i): 1 for i in range(len(q.relevant))} for n, q in enumerate(questions)}
    rows = []
    for label, seconds, run in _runs(kb, queries, modes, reranks, DEPTH, progress):
        ranked = {}
        for n, hits in run.items():
            found = kb.store.results_for([h.id for h in hits])
            results = [(found[h.id][0].id, found[h.id][2].id, found[h.id][0].text, h.score) for h in hits if h.id in found]
            ranked[n] = _question_ranking(questions[int(n)], results)
        rows.append({**label, "queries": len(ranked), **evaluate(ranked, qrels), "seconds": round(seconds, 2)})
    return rows


def evaluate_served(kb: KnowledgeBase, questions: list[Question], progress: Progress | None = None) -> dict:
    """The questions asked as a person asks them: `kb.search` with every default (second
    stage, relevance cut, k). Hits at 1/5/10 among what is shown; answers the default cut hid
    (the evidence ranks first with no cut, yet nothing of it is shown); off-topic questions
    that got the empty state; and, for questions that name their report (`document`), how
    often the first result shown is from that report; and, where the evidence is a text
    snippet shown in the top 5, how often the highlight of the first result holding it
    overlaps the snippet (the sentence shown is the one that answers); and, for questions that
    give their evidence `pages`, the evidence page at 1/5/10: a result from that report citing
    one of those pages (a passage is found, and also cited where a reader can check it)."""
    answered = [q for q in questions if not q.off_topic]
    hits = {1: 0, 5: 0, 10: 0}
    page_hits, paged = {1: 0, 5: 0, 10: 0}, 0
    marked, highlighted = 0, 0
    hidden, empty, shown_off = [], 0, []
    named, right_report = 0, 0
    for q in (progress(questions) if progress else questions):
        shown = kb.search(q.query)
        if q.off_topic:
            empty += not shown
            if shown:
                shown_off.append(q.query)
            continue
        ranks = _ranks(q, shown)
        for k in hits:
            hits[k] += bool(ranks) and ranks[0] <= k
        if q.pages and q.document is not None:
            paged += 1
            cited = [i for i, r in enumerate(shown, 1) if _is_document(q.document, r.document) and r.occurrence.page in q.pages]
            for k in page_hits:
                page_hits[k] += bool(cited) and cited[0] <= k
        shown_at = _highlight_holds(q, shown[:5])
        if shown_at is not None:
            marked += 1
            highlighted += shown_at
        if not ranks and _ranks(q, kb.search(q.query, min_score=0)[:1]):
            hidden.append(q.query)
        if q.document is not None:
            named += 1
            right_report += bool(shown) and _is_document(q.document, shown[0].document)
    n = max(1, len(answered))
    return {"questions": len(answered), **{f"hit@{k}": round(v / n, 4) for k, v in hits.items()},
            "hidden_by_cut": len(hidden), "hidden": hidden, "off_topic": len(questions) - len(answered),
            "off_topic_empty": empty, "off_topic_shown": shown_off,
            "naming_a_report": named, "right_report_first": round(right_report / named, 4) if named else None,
            "evidence_shown": marked, "evidence_highlighted": round(highlighted / marked, 4) if marked else None,
            "with_pages": paged, **{f"page@{k}": round(v / paged, 4) if paged else None for k, v in page_hits.items()}}


def _highlight_holds(question: Question, results) -> bool | None:
    """Whether a highlight of the first result holding one of the question's snippets overlaps
    that snippet (both found in the passage's squashed text); None when no result holds one."""
    for r in results:
        text = squash(r.passage.text)
        evidence = [(i, i + len(s)) for s in map(squash, question.relevant) for i in [text.find(s)] if i >= 0]
        if not evidence:
            continue
        marks = [(i, i + len(h)) for h in map(squash, r.highlights) for i in [text.find(h)] if i >= 0]
        return any(a < f and e < b for a, b in marks for e, f in evidence)
    return None


def _is_document(name: str, document) -> bool:
    """`name` is the document's id, or its source file's name with or without the extension."""
    source = Path(document.source)
    return name in (document.id, source.name, source.stem)


def _ranks(question: Question, results) -> list[int]:
    """1-based ranks of the results that hold one of the question's evidence items."""
    ranking = _question_ranking(question, [(r.passage.id, r.document.id, r.passage.text, r.score) for r in results])
    return [i + 1 for i, (item, _) in enumerate(ranking) if not item.startswith("miss:")]


def evaluate_feedback(kb: KnowledgeBase, modes: Iterable[str], reranks: Iterable[bool] = (False,),
                      progress: Progress | None = None) -> list[dict]:
    """Staff's votes as an evaluation set: each query with at least one "helpful" passage,
    judged on the passages voted on (helpful 1, not helpful 0)."""
    judged = {q: votes for q, votes in kb.feedback.judgments().items() if any(votes.values())}
    if not judged:
        raise InvalidRequest("No query has a result marked helpful yet: use the buttons on the search page.", "no_feedback")
    queries = {str(n): q for n, q in enumerate(judged)}
    qrels = {str(n): judged[q] for n, q in enumerate(judged)}
    rows = []
    for label, seconds, run in _runs(kb, queries, modes, reranks, DEPTH, progress):
        ranked = {}
        for n, hits in run.items():
            found = kb.store.results_for([h.id for h in hits])
            ranked[n] = [(found[h.id][0].id, h.score) for h in hits if h.id in found]
        rows.append({**label, "queries": len(ranked), **evaluate(ranked, qrels), "seconds": round(seconds, 2)})
    return rows


__all__ += ["METRICS"]
