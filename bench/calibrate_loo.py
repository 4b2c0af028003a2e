"""The relevance calibration and the default cut, fitted across collections and checked
leave-one-collection-out.

    python bench/calibrate_loo.py --eval ../shared/eval [--questions data/eval/questions.jsonl
                                  --reports-home bench/output/reports-home] [--write]

Every judged collection (homes made by bench/quality.py, reused, or ingested here) gives, for the top 10
results of each query ranked as served (hybrid, no second stage), the calibration's features
(cosine z-score against the collection's null less √(2 ln n), the cosine, the query's IDF mass the passage
holds, term proximity) and a label (the passage's document is relevant; for our questions, the passage
holds the evidence). Off-topic queries for a collection: 100 of the other collections'
queries plus our questions' off-topic ones (and, for the reports, the 10 written off-topic).

For each collection left out, a logistic regression is fitted on the others, and the default
cut (the best result's relevance below which the empty state shows) is set on the others too:
the highest cut that hides at most 1% of the first results that are right. Measured on the
one left out: the calibration gap (mean |predicted - observed| over bins, lower is better),
right first results the cut hides, off-topic queries it gives the empty state. With --write,
the model and cut fitted on every collection go to index/models/calibration.json, with a
reliability table per collection, and the features to index/models/calibration-train.npz
(`tests/index/test_relevance.py` refits from them and must find the shipped model).
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

from index.relevance import (  # noqa: E402
    CALIBRATION_FEATURES,
    CALIBRATION_FILE,
    CALIBRATION_TRAIN,
    LinearModel,
    calibration_columns,
    fit_calibration,
    gate_for,
    reliability_table,
)
from index.rerank import FEATURES  # noqa: E402
from kb.evaluation import BEIR_PREFIX, BeirDataset, _question_ranking, read_questions  # noqa: E402
from kb.knowledge import KnowledgeBase  # noqa: E402
from kb.settings import Settings  # noqa: E402

DEPTH = 10
HIDE_AT_MOST = 0.01  # share of right first results the cut may hide in the collections it is set on


def rows_for(kb: KnowledgeBase, queries: list[str], label) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query: (calibration features of its top results as served, their labels)."""
    engine = kb.engine()
    null = kb.cosine_null()
    out = []
    for n, text in enumerate(queries):
        text = text[:1000]
        vector = kb.query_vector(text)
        hits = kb.retrieve(text, DEPTH, "hybrid", None, vector)
        if not hits:
            continue
        x = kb.evidence(engine, text, hits)
        f = calibration_columns(null.excess(vector, x[:, FEATURES.index("cosine")]), x)
        rows = kb.store.results_for([h.id for h in hits])
        out.append((f, np.array([label(n, rows.get(h.id)) for h in hits], dtype=int)))
    return out


def beir(folder: Path, split: str):
    kb = KnowledgeBase(Settings.load(home=ROOT / "bench" / "output" / f"{folder.name}-home"))
    data = BeirDataset.load(folder, split)
    kb.ingest_records(data.records())  # made by bench/quality.py: unchanged records are skipped
    ids = list(data.queries)
    relevant = [{d for d, g in data.qrels[q].items() if g > 0} for q in ids]

    def label(n, row):
        return row is not None and row[2].source.removeprefix(BEIR_PREFIX) in relevant[n]
    return kb, rows_for(kb, [data.queries[q] for q in ids], label)


def questions(path: Path, home: Path):
    kb = KnowledgeBase(Settings.load(home=home))
    asked = [q for q in read_questions(path) if not q.off_topic]

    def label(n, row):
        return row is not None and not _question_ranking(asked[n], [(row[0].id, row[2].id, row[0].text, 0)])[0][0].startswith("miss:")
    return kb, rows_for(kb, [q.query for q in asked], label)


def measure(model: LinearModel, gate: float, on: list, off: list, written: int) -> dict:
    x = np.vstack([f for f, _ in on])
    y = np.concatenate([labels for _, labels in on])
    first = [(model.predict(f[:1])[0], labels[0]) for f, labels in on]
    right = [p for p, ok in first if ok]
    return {"gap": reliability_table(model.predict(x), y)[1], "first_right": len(right),
            "hidden": int(sum(p < gate for p in right)), "off_topic": len(off),
            "off_topic_empty": int(sum(model.predict(f[:1])[0] < gate for f, _ in off)),
            "written_off_topic_empty": int(sum(model.predict(f[:1])[0] < gate for f, _ in off[len(off) - written:]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    ap.add_argument("--questions", type=Path, default=ROOT / "data" / "eval" / "questions.jsonl")
    ap.add_argument("--reports-home", type=Path, default=ROOT / "bench" / "output" / "reports-home")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    folders = sorted(p for p in args.eval.iterdir() if (p / "corpus.jsonl").exists())
    texts = {f.name: list(BeirDataset.load(f, "test").queries.values()) for f in folders}
    written_off = [q.query for q in read_questions(args.questions) if q.off_topic]
    kbs, fit, test, off = {}, {}, {}, {}
    for f in folders:
        kbs[f.name], test[f.name] = beir(f, "test")
        fit[f.name] = beir(f, "train")[1] if (f / "qrels" / "train.tsv").exists() else test[f.name]
    if args.reports_home.exists():
        kbs["questions"], test["questions"] = questions(args.questions, args.reports_home)
        fit["questions"] = test["questions"]
    for name, kb in kbs.items():
        others = [q for n, qs in texts.items() if n != name for q in qs]
        random.Random(0).shuffle(others)
        off[name] = rows_for(kb, others[:100] + written_off, lambda n, row: 0)
        print(f"{name}: {len(test[name])} queries, {len(off[name])} off-topic", flush=True)

    results = []
    for left in kbs:
        on = [q for c in kbs if c != left for q in fit[c]]
        model = fit_calibration(np.vstack([f for f, _ in on]), np.concatenate([y for _, y in on]))
        gate = gate_for(model, on, HIDE_AT_MOST)
        row = {"left_out": left, "gate": round(gate, 4), **measure(model, gate, test[left], off[left], len(written_off))}
        results.append(row)
        print(f"left out {left:<10} gap {row['gap']:.3f}; cut {gate:.3f} hides {row['hidden']} of {row['first_right']} right first "
              f"results; off-topic empty {row['off_topic_empty']} of {row['off_topic']} "
              f"({row['written_off_topic_empty']} of our {len(written_off)})", flush=True)

    on = [q for c in kbs for q in fit[c]]
    x, y = np.vstack([f for f, _ in on]), np.concatenate([y for _, y in on])
    model = fit_calibration(x, y)
    gate = gate_for(model, on, HIDE_AT_MOST)
    print("fitted on all:", dict(zip(CALIBRATION_FEATURES, np.round(model.weights, 3))), "bias", round(model.bias, 3),
          f"cut {gate:.4f}")
    reliability = {}
    for name in kbs:
        reliability[name] = reliability_table(model.predict(np.vstack([f for f, _ in test[name]])),
                                              np.concatenate([y for _, y in test[name]]))[0]
    (ROOT / "bench" / "output").mkdir(exist_ok=True)
    (ROOT / "bench" / "output" / "calibrate_loo.json").write_text(json.dumps(
        {"leave_one_out": results, "gate": gate, "reliability": reliability}, indent=2))
    if args.write:
        firsts = np.cumsum([0] + [len(f) for f, _ in on])[:-1]
        np.savez_compressed(CALIBRATION_TRAIN, x=x, y=y, firsts=firsts)
        fitted_on = f"top {DEPTH} hybrid results of {', '.join(kbs)} (SciFact: train split)"
        CALIBRATION_FILE.write_text(json.dumps({**model.to_dict(), "gate": gate, "hide_at_most": HIDE_AT_MOST,
                                                "fitted_on": fitted_on, "reliability": reliability}, indent=2) + "\n")
        print(f"wrote {CALIBRATION_FILE} and {CALIBRATION_TRAIN}")


if __name__ == "__main__":
    main()
