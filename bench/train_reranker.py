"""Tune hybrid fusion and learn the built-in reranker, on a BEIR train split.

    python bench/train_reranker.py --dataset ../shared/eval/scifact --home bench/output/scifact-home

Everything here looks at the train split only (qrels/train.tsv); the test split is for
`kb eval` once the choices are made. Steps:

1. ingest the corpus into --home (skipped when already there);
2. grid-search the fusion (method, dense weight) by train nDCG@10, at the served
   candidate depth (`candidates`, which is also the depth evaluation ranks to);
3. collect the first-stage candidates of every train query with their features;
4. pick the reranker's depth and tree shape by 5-fold cross-validation over queries
   (LightGBM LambdaMART), then fit it on all of train;
5. with --write, save it to index/models/ with what it was fitted on, and the collection's
   cosine null as the model's reference (the calibration is fitted across every collection
   by bench/calibrate_loo.py, which `make train` runs next).
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

from index.metrics import evaluate  # noqa: E402
from index.relevance import REFERENCE_NULLS, CosineNull  # noqa: E402
from index.rerank import FEATURES, MODELS, RANKER_FILE  # noqa: E402
from kb.evaluation import BeirDataset, _document_ranking  # noqa: E402
from kb.knowledge import KnowledgeBase  # noqa: E402
from kb.settings import Settings  # noqa: E402

DEPTH_PASSAGES = 200  # as kb.evaluation ranks: passages enough for 100 documents


def fusion_grid(kb, data, vectors, sources):
    engine = kb.engine()
    rows = []
    for fusion in ("rrf", "minmax"):
        for weight in (0.3, 0.4, 0.5, 0.6, 0.7):
            engine.fusion, engine.dense_weight = fusion, weight
            run = {q: _document_ranking(engine.search(text, DEPTH_PASSAGES, "hybrid", None, vectors[q]), sources, 100)
                   for q, text in data.queries.items()}
            score = evaluate(run, data.qrels)["ndcg@10"]
            rows.append((score, fusion, weight))
            print(f"  fusion {fusion:<6} dense_weight {weight:.1f}: train nDCG@10 {score:.4f}", flush=True)
    return max(rows)


def collect(kb, data, vectors, depth):
    """Per query: (hits, features, labels) for the first `depth` hybrid candidates."""
    engine = kb.engine()
    sources = kb.store.passage_sources()
    pools = {}
    for q, text in data.queries.items():
        hits = engine.search(text, DEPTH_PASSAGES, "hybrid", None, vectors[q], complete=True)
        x = kb.evidence(engine, text, hits[:depth])
        relevant = {d for d, g in data.qrels[q].items() if g > 0}
        labels = np.array([any(s[5:] in relevant for s in sources.get(h.id, ())) for h in hits[:depth]], dtype=int)
        pools[q] = (hits, x, labels)
    return pools, sources


def ranked_ndcg(pools, sources, qrels, queries, score_fn, depth):
    run = {}
    for q in queries:
        hits, x, _ = pools[q]
        head = hits[:depth]
        scores = score_fn(x[:depth])
        order = np.argsort(-scores, kind="stable")
        reordered = [head[i] for i in order] + hits[depth:]
        run[q] = _document_ranking(reordered, sources, 100)
    return evaluate(run, {q: qrels[q] for q in queries})["ndcg@10"]


LEARNING_RATE = 0.05


def fit_lambdamart(pools, queries, depth, params):
    """LambdaMART on the first `depth` candidates of each query (labels: passage of a relevant doc)."""
    import lightgbm

    x = np.vstack([pools[q][1][:depth] for q in queries])
    y = np.concatenate([pools[q][2][:depth] for q in queries])
    groups = [min(depth, len(pools[q][1])) for q in queries]
    model = lightgbm.LGBMRanker(objective="lambdarank", learning_rate=LEARNING_RATE, min_child_samples=20,
                                random_state=13, deterministic=True, force_row_wise=True, num_threads=2, verbose=-1, **params)
    model.fit(x, y, group=groups, feature_name=list(FEATURES))  # names are saved with the model and checked on load
    return model


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
    parser.add_argument("--write", action="store_true", help=f"write the models to {MODELS.relative_to(ROOT)}/")
    args = parser.parse_args()

    kb = KnowledgeBase(Settings.load(home=args.home))
    data = BeirDataset.load(args.dataset, "train")
    started = time.perf_counter()
    report = kb.ingest_records(data.records())
    print(f"corpus: {report.passages_new} passages embedded, {len(report.skipped)} documents unchanged", flush=True)
    queries = list(data.queries)
    vectors = dict(zip(queries, kb.embedder.embed_batch([data.queries[q] for q in queries])))
    sources = kb.store.passage_sources()

    print(f"1. fusion grid on {len(queries)} train queries", flush=True)
    best_fusion = fusion_grid(kb, data, vectors, sources)
    score, fusion, weight = best_fusion
    print(f"   best: fusion={fusion} dense_weight={weight} (train nDCG@10 {score:.4f})", flush=True)
    engine = kb.engine()
    engine.fusion, engine.dense_weight = fusion, weight

    print("2. reranker (LightGBM LambdaMART): 5-fold cross-validation over train queries", flush=True)
    pools, sources = collect(kb, data, vectors, 100)
    baseline = ranked_ndcg(pools, sources, data.qrels, queries, lambda m: -np.arange(len(m), dtype=float), 100)
    rng = np.random.default_rng(13)
    folds = np.array_split(rng.permutation(queries), 5)
    choices = []
    for depth in (20, 50, 100):
        for leaves in (7, 15):
            for trees in (100, 200, 400):
                params = dict(num_leaves=leaves, n_estimators=trees)
                scores = []
                for f, held in enumerate(folds):
                    model = fit_lambdamart(pools, [q for g, fold in enumerate(folds) if g != f for q in fold], depth, params)
                    scores.append(ranked_ndcg(pools, sources, data.qrels, list(held), model.booster_.predict, depth))
                cv = float(np.mean(scores))
                choices.append((cv, depth, leaves, trees))
                print(f"   depth {depth:>3} leaves {leaves:>2} trees {trees:>3}: CV nDCG@10 {cv:.4f}", flush=True)
    cv, depth, leaves, trees = max(choices)
    print(f"   best: depth={depth} leaves={leaves} trees={trees}: CV nDCG@10 {cv:.4f} vs first stage {baseline:.4f}", flush=True)
    ranker = fit_lambdamart(pools, queries, depth, dict(num_leaves=leaves, n_estimators=trees))

    fitted_on = f"{args.dataset.name} train split: {len(queries)} queries"
    meta = {
        "fitted_on": fitted_on,
        "fusion": {"fusion": fusion, "dense_weight": weight, "candidates": kb.settings.candidates, "train_ndcg@10": round(score, 4)},
        "ranker": {"depth": depth, "num_leaves": leaves, "n_estimators": trees, "learning_rate": LEARNING_RATE,
                   "cv_ndcg@10": round(cv, 4), "first_stage_ndcg@10": round(baseline, 4)},
        "grid": [{"cv_ndcg@10": round(c, 4), "depth": d, "num_leaves": lv, "n_estimators": t} for c, d, lv, t in choices],
    }
    print(json.dumps(meta["fusion"]), json.dumps(meta["ranker"]))
    print(f"took {time.perf_counter() - started:.0f} s")
    if args.write:
        MODELS.mkdir(exist_ok=True)
        ranker.booster_.save_model(str(RANKER_FILE))
        (MODELS / "reranker.json").write_text(json.dumps(meta, indent=2) + "\n")
        write_reference_null(kb)
        print(f"wrote {RANKER_FILE} and {MODELS / 'reranker.json'}")


if __name__ == "__main__":
    main()
