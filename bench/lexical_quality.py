"""BM25 alone on every judged collection: a quick check of a change to text analysis.

    python bench/lexical_quality.py --eval ../shared/eval [--out FILE]

Indexes each collection's documents (title + text, one passage each) with kb's `BM25Index`
and scores its queries with nDCG@10 and recall@100 (`index.metrics`, checked against
pytrec_eval in the tests). No model and no chunking: seconds per collection, so an analyzer
change can be measured on every collection before the full pipeline (`make quality`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index.lexical import BM25Index  # noqa: E402
from index.metrics import evaluate  # noqa: E402
from kb.evaluation import BeirDataset  # noqa: E402


def measure(folder: Path, split: str = "test") -> dict:
    data = BeirDataset.load(folder, split)
    records = data.records()
    texts = [f"{r.title}\n{r.text}".strip() for r in records]
    t = time.perf_counter()
    index = BM25Index()
    index.build(list(range(len(records))), texts)
    built = time.perf_counter() - t
    run = {qid: [(records[k].source.split(":", 1)[1], score) for k, score in index.search(query, 100)]
           for qid, query in data.queries.items()}
    scores = evaluate(run, data.qrels, ("ndcg@10", "recall@100"))
    return {"collection": folder.name, "queries": len(data.queries), "ndcg@10": round(scores["ndcg@10"], 4),
            "recall@100": round(scores["recall@100"], 4), "build_s": round(built, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = [measure(folder) for folder in sorted(p for p in args.eval.iterdir() if (p / "corpus.jsonl").exists())]
    for r in rows:
        print(f"{r['collection']:<10} {r['queries']:>4} queries  nDCG@10 {r['ndcg@10']:.4f}  recall@100 {r['recall@100']:.4f}  "
              f"(index built in {r['build_s']} s)")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
