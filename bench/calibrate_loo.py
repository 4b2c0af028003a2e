"""The relevance calibration fitted across collections, checked leave-one-collection-out.

    python bench/calibrate_loo.py --eval ../shared/eval [--write]

For each judged collection (homes made by bench/quality.py, reused), the top 10 results of
every query, ranked as served (hybrid, no second stage), give the calibration's features
(cosine z-score against the collection's null, query-term coverage, proximity) and a label
(the passage's document is relevant). For each collection left out, a logistic regression is
fitted on the other collections and measured on it, beside the shipped model (fitted on
SciFact's train split): the mean absolute gap between predicted and observed relevance over
bins (lower is better calibrated), how many relevant first results a cut at 0.1 would hide,
and how many of 100 other collections' queries (off-topic by construction) it would give the
empty state. With --write, the model fitted on every collection is written to
index/models/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from train_reranker import fit_logistic  # noqa: E402

from index.relevance import CALIBRATION_FEATURES, CALIBRATION_FILE, Calibrator, LinearModel  # noqa: E402
from index.rerank import FEATURES  # noqa: E402
from kb.evaluation import BEIR_PREFIX, BeirDataset  # noqa: E402
from kb.knowledge import KnowledgeBase  # noqa: E402
from kb.settings import Settings  # noqa: E402

BINS = ((0, .05), (.05, .1), (.1, .2), (.2, .35), (.35, .5), (.5, .7), (.7, 1.01))
GATE = 0.1


def rows_for(kb: KnowledgeBase, queries: dict[str, str], qrels: dict | None, k: int):
    """(features, labels, first-result flags) for `queries` as served in `kb`."""
    engine = kb.engine()
    null = kb.cosine_null()
    cos, cov, prox = (FEATURES.index(n) for n in ("cosine", "coverage", "proximity"))
    feats, labels, first = [], [], []
    for qid, text in queries.items():
        text = text[:1000]
        vector = kb.query_vector(text)
        hits = kb.retrieve(text, k, "hybrid", None, vector)
        if not hits:
            continue
        x = kb.evidence(engine, text, hits)
        f = np.column_stack([null.z(vector, x[:, cos]), x[:, cov], x[:, prox]])
        relevant = {d for d, g in (qrels or {}).get(qid, {}).items() if g > 0}
        rows = kb.store.results_for([h.id for h in hits])
        y = [h.id in rows and rows[h.id][2].source.removeprefix(BEIR_PREFIX) in relevant for h in hits]
        feats.append(f)
        labels += y
        first.append(bool(y and y[0]))
    return (np.vstack(feats) if feats else np.zeros((0, 3))), np.array(labels, dtype=int), first, feats


def gap(p: np.ndarray, y: np.ndarray) -> float:
    """Mean absolute gap between predicted and observed relevance over bins, weighted by size."""
    total, n = 0.0, 0
    for low, high in BINS:
        sel = (p >= low) & (p < high)
        if sel.any():
            total += sel.sum() * abs(p[sel].mean() - y[sel].mean())
            n += sel.sum()
    return total / max(1, n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    folders = sorted(p for p in args.eval.iterdir() if (p / "corpus.jsonl").exists())
    data = {f.name: BeirDataset.load(f, "test") for f in folders}
    fit, test, off = {}, {}, {}
    for f in folders:
        kb = KnowledgeBase(Settings.load(home=ROOT / "bench" / "output" / f"{f.name}-home"))
        d = data[f.name]
        test[f.name] = rows_for(kb, d.queries, d.qrels, 10)
        train = BeirDataset.load(f, "train") if (f / "qrels" / "train.tsv").exists() else None
        fit[f.name] = rows_for(kb, train.queries, train.qrels, 10) if train else test[f.name]
        others = [q for name, other in data.items() if name != f.name for q in other.queries.values()]
        random.Random(0).shuffle(others)
        off[f.name] = rows_for(kb, {str(i): q for i, q in enumerate(others[:100])}, None, 1)[3]
        print(f"{f.name}: {len(test[f.name][1])} results collected", flush=True)
    shipped = Calibrator().model
    out = []
    for left in data:
        x = np.vstack([fit[c][0] for c in data if c != left])
        y = np.concatenate([fit[c][1] for c in data if c != left])
        w, b = fit_logistic(x, y, 1.0)
        model = LinearModel(CALIBRATION_FEATURES, tuple(float(v) for v in w), b)
        row = {"left_out": left}
        for name, m in (("shipped", shipped), ("fitted_on_others", model)):
            xt, yt, first, per_query = test[left]
            p = m.predict(xt)
            tops = np.array([m.predict(q[:1])[0] for q in per_query])
            hidden = int(sum(1 for t, f in zip(tops, first) if f and t < GATE))
            empty = int(sum(1 for q in off[left] if m.predict(q[:1])[0] < GATE))
            row[name] = {"gap": round(gap(p, yt), 4), "hidden": hidden, "first_relevant": int(sum(first)), "off_topic_empty": empty}
        out.append(row)
        s, o = row["shipped"], row["fitted_on_others"]
        print(f"left out {left:<10} gap {s['gap']:.3f} -> {o['gap']:.3f}; hidden {s['hidden']} -> {o['hidden']} of {s['first_relevant']}; "
              f"off-topic empty {s['off_topic_empty']} -> {o['off_topic_empty']} of 100", flush=True)
    x = np.vstack([fit[c][0] for c in data])
    y = np.concatenate([fit[c][1] for c in data])
    w, b = fit_logistic(x, y, 1.0)
    print("fitted on all:", dict(zip(CALIBRATION_FEATURES, np.round(w, 3))), "bias", round(b, 3))
    (ROOT / "bench" / "output").mkdir(exist_ok=True)
    (ROOT / "bench" / "output" / "calibrate_loo.json").write_text(json.dumps(out, indent=2))
    if args.write:
        model = LinearModel(CALIBRATION_FEATURES, tuple(float(v) for v in w), b)
        CALIBRATION_FILE.write_text(json.dumps({**model.to_dict(), "fitted_on": f"top 10 hybrid results of {', '.join(data)}"
                                                " (SciFact: train split)"}, indent=2) + "\n")
        print(f"wrote {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
