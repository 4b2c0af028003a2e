"""Hybrid fusion chosen across collections, checked leave-one-collection-out.

    python bench/fusion_loo.py --eval ../shared/eval [--questions data/eval/questions.jsonl --reports-home DIR]

For every judged collection (homes made by bench/quality.py, reused) and our questions, the
hybrid first stage is measured (nDCG@10) at each fusion candidate: min-max score fusion at
dense weights 0.3-0.7 (for a query of 8 terms), each with the weight moving by 0, 0.035 or
0.07 per doubling of the query's terms (`length_slope`), and reciprocal rank fusion. Then, for each collection left out, the
candidate with the best mean over the others is picked and its nDCG@10 on the one left out is
reported beside the shipped default's. A default holds when the pick of the others does not
beat it on the left-out collection. Writes bench/output/fusion_loo.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.evaluation import BeirDataset, evaluate_beir, evaluate_questions, read_questions  # noqa: E402
from kb.knowledge import KnowledgeBase  # noqa: E402
from kb.settings import Settings  # noqa: E402

CANDIDATES = [("minmax", w, slope) for w in (0.3, 0.4, 0.5, 0.6, 0.7) for slope in (0.0, 0.035, 0.07)] + [("rrf", None, 0.0)]


def label(fusion: str, weight: float | None, slope: float) -> str:
    return f"{fusion}:{weight}/{slope}" if weight is not None else fusion


def scores(kb: KnowledgeBase, run) -> dict[str, float]:
    engine = kb.engine()
    out = {}
    for fusion, weight, slope in CANDIDATES:
        engine.fusion, engine.length_slope = fusion, slope
        if weight is not None:
            engine.dense_weight = weight
        out[label(fusion, weight, slope)] = run(kb)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    ap.add_argument("--questions", type=Path)
    ap.add_argument("--reports-home", type=Path)
    args = ap.parse_args()
    table: dict[str, dict[str, float]] = {}
    for folder in sorted(p for p in args.eval.iterdir() if (p / "corpus.jsonl").exists()):
        home = ROOT / "bench" / "output" / f"{folder.name}-home"
        if not (home / "kb.sqlite3").exists():
            sys.exit(f"{home} is missing: run bench/quality.py first")
        kb = KnowledgeBase(Settings.load(home=home))
        data = BeirDataset.load(folder, "test")
        table[folder.name] = scores(kb, lambda kb: evaluate_beir(kb, data, ["hybrid"], [False])[0]["ndcg@10"])  # noqa: B023 (called at once)
        print(folder.name, {k: round(v, 4) for k, v in table[folder.name].items()}, flush=True)
    if args.questions and args.reports_home:
        kb = KnowledgeBase(Settings.load(home=args.reports_home))
        qs = read_questions(args.questions)
        table["questions"] = scores(kb, lambda kb: evaluate_questions(kb, qs, ["hybrid"], [False])[0]["ndcg@10"])
        print("questions", {k: round(v, 4) for k, v in table["questions"].items()}, flush=True)
    s = Settings.load()
    shipped = label(s.fusion, s.dense_weight if s.fusion == "minmax" else None, s.length_slope if s.fusion == "minmax" else 0.0)
    rows = []
    for left in table:
        others = [c for c in table if c != left]
        pick = max(table[left], key=lambda cand: sum(table[c][cand] for c in others) / len(others))
        rows.append({"left_out": left, "picked_on_others": pick, "picked_ndcg": round(table[left][pick], 4),
                     "shipped": shipped, "shipped_ndcg": round(table[left][shipped], 4),
                     "best_on_it": max(table[left], key=table[left].get)})
        print(f"left out {left:<10} picked {pick:<18} {table[left][pick]:.4f}   shipped {shipped} {table[left][shipped]:.4f}")
    mean = {cand: round(sum(table[c][cand] for c in table) / len(table), 4) for cand in table[next(iter(table))]}
    print("mean over all:", mean)
    (ROOT / "bench" / "output").mkdir(exist_ok=True)
    (ROOT / "bench" / "output" / "fusion_loo.json").write_text(json.dumps({"table": table, "loo": rows, "mean": mean}, indent=2))


if __name__ == "__main__":
    main()
