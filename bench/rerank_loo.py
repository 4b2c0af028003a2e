"""Is a learned second stage worth turning on? Leave-one-collection-out.

    python bench/rerank_loo.py --eval ../shared/eval

For each judged collection (homes made by bench/quality.py, reused), each judged query's first
stage is collected as a search serves it, with the second stage's features
(`kb.learning.pools`). Then, for each collection left out, LambdaMART of the shipped shape
(`kb.learning.fit`: 400 trees of 15 leaves over the top `rerank_depth`) is fitted on the other
collections' queries (SciFact's train split when SciFact is among them, the classic
collections' judged queries otherwise) and measured on the one left out (SciFact's test
split), against the first stage. The shipped model, fitted on SciFact's train split alone
(`bench/train_reranker.py`), is measured beside it. The second stage earns its place as a
default only if it raises nDCG@10 on every collection left out.
Writes bench/output/rerank_loo.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.knowledge import KnowledgeBase  # noqa: E402
from kb.learning import beir_judgments, check, fit, ndcg, pools, predict  # noqa: E402
from kb.settings import Settings  # noqa: E402


def collected(kb: KnowledgeBase, folder: Path, split: str) -> dict:
    judgments = beir_judgments(folder, split)
    judged = check(judgments)
    return {"pools": pools(kb, judgments, judged), "grades": judgments.grades, "queries": judged}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    args = ap.parse_args()
    test, train = {}, {}
    shipped = {}
    for folder in sorted(p for p in args.eval.iterdir() if (p / "corpus.jsonl").exists()):
        home = ROOT / "bench" / "output" / f"{folder.name}-home"
        if not (home / "kb.sqlite3").exists():
            sys.exit(f"{home} is missing: run bench/quality.py first")
        kb = KnowledgeBase(Settings.load(home=home))
        test[folder.name] = collected(kb, folder, "test")
        train[folder.name] = collected(kb, folder, "train") if (folder / "qrels" / "train.tsv").exists() else test[folder.name]
        t = test[folder.name]
        ranker = kb.reranker  # the shipped built-in model
        shipped[folder.name] = ndcg(t["pools"], t["grades"], t["queries"], lambda x: ranker.score("", x, [""] * len(x)), True)  # noqa: B023
        print(f"{folder.name}: {len(t['queries'])} test queries collected", flush=True)
    rows = []
    for left in test:
        others = [c for c in train if c != left]
        found = {f"{c}:{q}": train[c]["pools"][q] for c in others for q in train[c]["queries"]}
        model = fit(found, sorted(found))
        t = test[left]
        first = ndcg(t["pools"], t["grades"], t["queries"], None, True)
        loo = ndcg(t["pools"], t["grades"], t["queries"], predict(model), True)
        rows.append({"left_out": left, "first_stage": round(first, 4), "fitted_on_others": round(loo, 4),
                     "shipped_scifact_train": round(shipped[left], 4), "training_queries": len(found)})
        print(f"left out {left:<10} first stage {first:.4f}  fitted on the others {loo:.4f} ({loo - first:+.4f})  "
              f"shipped {shipped[left]:.4f} ({shipped[left] - first:+.4f})", flush=True)
    every = all(r["fitted_on_others"] > r["first_stage"] for r in rows)
    print("raises nDCG@10 on every collection left out:", every)
    (ROOT / "bench" / "output").mkdir(exist_ok=True)
    (ROOT / "bench" / "output" / "rerank_loo.json").write_text(json.dumps({"rows": rows, "raises_every": every}, indent=2))


if __name__ == "__main__":
    main()
