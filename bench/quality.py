"""Retrieval quality on a BEIR dataset: every mode, with and without the second stage.

    python bench/quality.py --dataset ../shared/eval/scifact [--home DIR] [--split test]

Ingests the corpus (into --home if given, reused across runs; else a temporary folder), runs
`kb.evaluation.evaluate_beir` for hybrid, dense and lexical with and without reranking, and
writes the table with the machine it ran on to bench/QUALITY.md (and JSON to bench/output/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.evaluation import BeirDataset, evaluate_beir  # noqa: E402
from kb.knowledge import KnowledgeBase  # noqa: E402
from kb.settings import Settings  # noqa: E402

PUBLISHED = """Published nDCG@10 on SciFact test, for comparison (from the dataset's SOURCE.md): BM25 0.665
(BEIR) and 0.679 (Anserini, title + text); BM25 + cross-encoder 0.688; all-MiniLM-L6-v2 dense 0.645."""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    parser.add_argument("--home", type=Path, help="knowledge base folder for the corpus (kept and reused)")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    if not (args.dataset / "corpus.jsonl").exists():
        sys.exit(f"no BEIR dataset at {args.dataset} (use --dataset)")

    with tempfile.TemporaryDirectory(prefix="kb-quality-") as scratch:
        kb = KnowledgeBase(Settings.load(home=args.home or scratch))
        data = BeirDataset.load(args.dataset, args.split)
        started = time.perf_counter()
        report = kb.ingest_records(data.records())
        ingest = time.perf_counter() - started
        rows = evaluate_beir(kb, data, ["hybrid", "dense", "lexical"], [False, True])
        stats = kb.stats()
    s = kb.settings
    out = {
        "dataset": f"{args.dataset.name} ({args.split})",
        "machine": machine(),
        "documents": stats["documents"],
        "passages": stats["passages"],
        "ingest_seconds": round(ingest, 1),
        "passages_embedded": report.passages_new,
        "settings": {"fusion": s.fusion, "dense_weight": s.dense_weight, "candidates": s.candidates,
                     "reranker": s.reranker, "rerank_depth": s.rerank_depth, "chunk_tokens": s.chunk_tokens},
        "rows": rows,
    }
    (ROOT / "bench" / "output").mkdir(exist_ok=True)
    (ROOT / "bench" / "output" / "quality.json").write_text(json.dumps(out, indent=2))
    lines = [
        f"# Retrieval quality: {out['dataset']}",
        "",
        f"Measured by `make quality` (bench/quality.py) on {out['machine']}.",
        f"{out['documents']} documents → {out['passages']} passages; ingest took {out['ingest_seconds']} s"
        + (f" ({report.passages_new} passages embedded)." if report.passages_new else " (already ingested: nothing embedded)."),
        f"Settings: fusion {s.fusion} at dense weight {s.dense_weight}, {s.candidates} candidates per retriever, "
        f"second stage {s.reranker} over the top {s.rerank_depth}; chosen on the train split only.",
        "",
        "| mode | second stage | nDCG@10 | recall@10 | recall@100 | MRR@10 | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['rerank'] or '-'} | {r['ndcg@10']:.4f} | {r['recall@10']:.4f} | "
                     f"{r['recall@100']:.4f} | {r['mrr@10']:.4f} | {r['seconds']:.1f} |")
    lines += ["", "`seconds` is the time to run every query of the split (the first row also embeds them).",
              "", PUBLISHED, ""]
    (ROOT / "bench" / "QUALITY.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
