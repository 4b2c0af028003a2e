"""Fit the built-in second stage: what `kb learn` fits, from SciFact's train split.

    python bench/train_reranker.py --dataset ../shared/eval/scifact --home bench/output/scifact-home [--write]

Everything here looks at the train split only (qrels/train.tsv); the test split is for
`kb eval`. Steps:

1. ingest the corpus into --home (skipped when already there);
2. collect each judged train query's first stage exactly as a search serves it
   (`kb.learning.pools`: `Searcher.candidates`, after the title prior and every other
   first-stage step, so the model sees at fit time what it sees when serving);
3. cross-validate LambdaMART of the shipped shape over 5 folds of the queries
   (`kb.learning.cross_validate`), then fit it on all of them (`kb.learning.fit`);
4. with --write, save to index/models/: the model, what it was fitted on, the rows it was
   fitted on (`reranker-train.npz`: a test refits them and must get the shipped model), and
   the collection's cosine null as the model's reference (the calibration is fitted across
   every collection by bench/calibrate_loo.py, which `make train` runs next).

The fusion is not chosen here: it is chosen across collections by bench/fusion_loo.py, and
the second stage stays off by default (bench/rerank_loo.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.relevance import REFERENCE_NULLS, CosineNull  # noqa: E402
from index.rerank import FEATURES, MODELS, RANKER_FILE  # noqa: E402
from kb.evaluation import BeirDataset  # noqa: E402
from kb.knowledge import KnowledgeBase  # noqa: E402
from kb.learning import SHAPE, beir_judgments, check, cross_validate, fit, pools  # noqa: E402
from kb.settings import Settings  # noqa: E402

TRAIN_ROWS = MODELS / "reranker-train.npz"


def as_recorded(found: dict) -> dict:
    """The pools with their feature rows as the record stores them (float32): the shipped
    model is fitted on exactly the rows a refit reads back."""
    return {q: (keys, np.asarray(x, np.float32).astype(np.float64), labels) for q, (keys, x, labels) in found.items()}


def write_reference_null(kb):
    """The collection's own null: the reference small homes lean on (`index.relevance`)."""
    if kb.model in REFERENCE_NULLS:
        MODELS.mkdir(exist_ok=True)
        engine = kb.engine()
        CosineNull.fit([engine.vectors.vectors(engine.vectors.ids())], engine.vectors.dim).save(REFERENCE_NULLS[kb.model])
        print(f"wrote {REFERENCE_NULLS[kb.model]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="BEIR folder (its qrels/train.tsv is used)")
    parser.add_argument("--home", type=Path, required=True, help="knowledge base folder for the corpus (reused)")
    parser.add_argument("--write", action="store_true", help=f"write the model to {MODELS.relative_to(ROOT)}/")
    args = parser.parse_args()

    started = time.perf_counter()
    kb = KnowledgeBase(Settings.load(home=args.home))
    report = kb.ingest_records(BeirDataset.load(args.dataset, "train").records())
    print(f"corpus: {report.passages_new} passages embedded, {len(report.skipped)} documents unchanged", flush=True)
    judgments = beir_judgments(args.dataset, "train")
    judged = check(judgments)
    print(f"1. the served first stage of {len(judged)} judged train queries", flush=True)
    found = as_recorded(pools(kb, judgments, judged))
    print(f"2. LambdaMART {SHAPE} over the first {kb.settings.rerank_depth}: 5-fold cross-validation", flush=True)
    folds = cross_validate(found, judgments, judged)
    for f, (first, learned) in enumerate(folds, 1):
        print(f"   fold {f}: first stage {first:.4f} -> learned {learned:.4f}", flush=True)
    first, learned = (float(np.mean(v)) for v in zip(*folds))
    print(f"   mean: first stage {first:.4f} -> learned {learned:.4f}", flush=True)
    ranker = fit(found, judged)
    meta = {"fitted_on": f"{args.dataset.name} train split: {len(judged)} judged queries, the first stage as served",
            "depth": kb.settings.rerank_depth, "shape": SHAPE, "features": list(FEATURES),
            "folds": [[round(a, 4), round(b, 4)] for a, b in folds],
            "cv_first_stage_ndcg@10": round(first, 4), "cv_ndcg@10": round(learned, 4)}
    print(json.dumps({k: v for k, v in meta.items() if k != "folds"}))
    print(f"took {time.perf_counter() - started:.0f} s")
    if args.write:
        MODELS.mkdir(exist_ok=True)
        ranker.booster_.save_model(str(RANKER_FILE))
        (MODELS / "reranker.json").write_text(json.dumps(meta, indent=2) + "\n")
        np.savez_compressed(TRAIN_ROWS, x=np.vstack([found[q][1] for q in judged]).astype(np.float32),
                            y=np.concatenate([found[q][2] for q in judged]).astype(np.int8),
                            groups=np.array([len(found[q][1]) for q in judged], dtype=np.int32))
        write_reference_null(kb)
        print(f"wrote {RANKER_FILE}, {MODELS / 'reranker.json'} and {TRAIN_ROWS}")


if __name__ == "__main__":
    main()
