"""Benchmark: ingest rate against the raw encoder, and query latency per mode.

    python bench/bench_kb.py                       # SciFact abstracts if ../shared/eval is there,
                                                   # else the bundled sample report
    python bench/bench_kb.py --corpus PATH/corpus.jsonl --docs 1000 --queries PATH/queries.jsonl

Prints passages/s for `kb ingest` and for plain `model.encode` on the very same passage texts
(the ratio is what matters: absolute times drift on shared machines, so the corpus is ingested
twice, into fresh homes, before and after the raw encode, and the mean is compared), search latency p50/p99
per mode (end to end through `KnowledgeBase.search` with its defaults: second stage, relevance
and highlights; the same without the second stage; and the first-stage engine alone),
and peak memory. Writes the figures as JSON to bench/output/.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import KnowledgeBase, Settings  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
SAMPLE_QUERIES = [
    "what was done on online child protection",
    "how many health professionals were trained in newborn care",
    "positive parenting campaign",
    "children affected by migration",
    "law on barrier free environments",
    "nutrition and unhealthy food marketing",
    "South-South cooperation",
    "AI products for children",
]


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def write_corpus(corpus: Path | None, docs: int, folder: Path) -> list[str]:
    """Materialise documents as .txt files, as a user would have them; returns sample queries."""
    if corpus is None:
        shutil.copytree(ROOT / "data" / "sample", folder, dirs_exist_ok=True)
        return SAMPLE_QUERIES
    with open(corpus) as fh:
        for _i, line in zip(range(docs), fh):
            doc = json.loads(line)
            (folder / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}\n")
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=SCIFACT / "corpus.jsonl" if SCIFACT.exists() else None,
                    help="BEIR corpus.jsonl (default: SciFact from ../shared/eval if present)")
    ap.add_argument("--queries", type=Path, default=SCIFACT / "queries.test.jsonl" if SCIFACT.exists() else None)
    ap.add_argument("--docs", type=int, default=1000, help="documents to ingest from the corpus")
    ap.add_argument("--n-queries", type=int, default=200)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    folder = work / "docs"
    folder.mkdir()
    queries = write_corpus(args.corpus, args.docs, folder)
    if args.queries and args.corpus:
        with open(args.queries) as fh:
            queries = [json.loads(line)["text"] for _, line in zip(range(args.n_queries), fh)]

    settings = Settings.load(env={}, home=work / "home")
    kb = KnowledgeBase(settings)
    t = time.perf_counter()
    _ = kb.embedder._model  # the model (torch) load is reported apart: it is paid once per process
    load_s = time.perf_counter() - t

    report = kb.ingest([folder])
    ingest_rate = report.passages_new / report.seconds

    texts = [r[0] for r in kb.store.connection().execute("SELECT clean FROM passages")]  # what ingest embedded
    model = kb.embedder._model
    t = time.perf_counter()
    model.encode(texts, batch_size=settings.batch_size, normalize_embeddings=True, show_progress_bar=False)
    encode_s = time.perf_counter() - t
    encode_rate = len(texts) / encode_s
    # The same ingest again into a fresh home, after the raw encode: the two ingests bracket it,
    # so a drift of the machine's speed during the run moves both sides of the ratio alike.
    second = KnowledgeBase(Settings.load(env={}, home=work / "home-again")).ingest([folder])
    ingest_rates = [ingest_rate, second.passages_new / second.seconds]
    ingest_rate = sum(ingest_rates) / 2

    # An edited report: only the passages of the section that changed are embedded again
    # (passages are keyed by a hash of their text; packing is balanced within each section).
    report_dir = work / "report"
    shutil.copytree(ROOT / "data" / "sample", report_dir)
    kb.ingest([report_dir])
    sample = sorted(report_dir.iterdir())[0]
    text = sample.read_text(encoding="utf-8")
    middle = text.index("\n\n", len(text) // 2)
    sample.write_text(text[:middle] + " This sentence was added in an edit." + text[middle:], encoding="utf-8")
    again = kb.ingest([report_dir])
    reingest = {"document": sample.name, "updated": len(again.updated), "passages_embedded": again.passages_new,
                "passages_reused": again.passages_reused, "seconds": round(again.seconds, 2)}

    latency = {}
    engine = kb.engine()
    for mode in ("hybrid", "dense", "lexical"):
        for q in queries[:5]:
            kb.search(q, k=10, mode=mode)  # warm caches and code paths
        full, plain, bare = [], [], []
        for q in queries:
            kb.searcher.query_vectors.clear()  # each search pays for its query encoding
            t = time.perf_counter()
            kb.search(q, k=10, mode=mode)  # the default: second stage, relevance, highlights
            full.append((time.perf_counter() - t) * 1000)
            kb.searcher.query_vectors.clear()
            t = time.perf_counter()
            kb.search(q, k=10, mode=mode, rerank=False)
            plain.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            engine.search(q, 10, mode)
            bare.append((time.perf_counter() - t) * 1000)
        latency[mode] = {
            "search_p50_ms": round(percentile(full, 50), 2), "search_p99_ms": round(percentile(full, 99), 2),
            "no_rerank_p50_ms": round(percentile(plain, 50), 2), "no_rerank_p99_ms": round(percentile(plain, 99), 2),
            "engine_p50_ms": round(percentile(bare, 50), 2), "engine_p99_ms": round(percentile(bare, 99), 2),
        }

    # The search page: the same query through Flask (search + facets + context + template)
    # against kb.search alone, both warm; the difference is what the page costs.
    from webapp import create_app

    client = create_app({"KB_SETTINGS": settings}).test_client()
    page_ms, alone_ms = [], []
    for q in queries:
        client.get("/", query_string={"q": q})  # warm: query vector and highlight caches
        t = time.perf_counter()
        kb.search(q, k=10, explain=True)
        alone_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        assert client.get("/", query_string={"q": q}).status_code == 200
        page_ms.append((time.perf_counter() - t) * 1000)
    page = {"page_p50_ms": round(percentile(page_ms, 50), 2), "page_p99_ms": round(percentile(page_ms, 99), 2),
            "search_alone_p50_ms": round(percentile(alone_ms, 50), 2),
            "page_overhead_p50_ms": round(percentile([a - b for a, b in zip(page_ms, alone_ms)], 50), 2)}

    results = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "corpus": str(args.corpus or "bundled sample"),
        "documents": len(report.added),
        "passages": len(texts),
        "model_load_s": round(load_s, 2),
        "ingest_s": round((report.seconds + second.seconds) / 2, 2),
        "ingest_passages_per_s": round(ingest_rate, 2),
        "ingest_runs_passages_per_s": [round(r, 2) for r in ingest_rates],
        "raw_encode_passages_per_s": round(encode_rate, 2),
        "ingest_vs_encode": round(ingest_rate / encode_rate, 3),
        "reingest_one_edited": reingest,
        "queries": len(queries),
        "latency": latency,
        "page": page,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "disk_bytes": kb.stats()["disk_bytes"],
    }
    print(f"documents {results['documents']}, passages {results['passages']}, model load {load_s:.1f} s")
    print(f"ingest      {ingest_rate:8.1f} passages/s  (mean of {ingest_rates[0]:.1f} before and {ingest_rates[1]:.1f} after the raw encode)")
    print(f"raw encode  {encode_rate:8.1f} passages/s  ({encode_s:.1f} s)   ratio {results['ingest_vs_encode']:.3f}")
    print(f"re-ingest of the sample report with one sentence added mid-way: {reingest['passages_embedded']} passages "
          f"embedded, {reingest['passages_reused']} reused, {reingest['seconds']} s")
    print(f"{'mode':8} {'search p50':>11} {'p99':>8} {'no rerank p50':>14} {'p99':>8} {'engine p50':>11} {'p99':>8}"
          f"   (ms, k=10, {len(queries)} queries)")
    for mode, v in latency.items():
        print(f"{mode:8} {v['search_p50_ms']:11.1f} {v['search_p99_ms']:8.1f} {v['no_rerank_p50_ms']:14.1f} {v['no_rerank_p99_ms']:8.1f}"
              f" {v['engine_p50_ms']:11.1f} {v['engine_p99_ms']:8.1f}")
    print(f"search page  p50 {page['page_p50_ms']:.1f} ms, p99 {page['page_p99_ms']:.1f} ms; kb.search alone p50 "
          f"{page['search_alone_p50_ms']:.1f} ms; page overhead p50 {page['page_overhead_p50_ms']:.1f} ms (warm)")
    print(f"peak RSS {results['peak_rss_mb']} MB, home on disk {results['disk_bytes'] / 1e6:.1f} MB")
    out = ROOT / "bench" / "output"
    out.mkdir(exist_ok=True)
    (out / "bench_kb.json").write_text(json.dumps(results, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
