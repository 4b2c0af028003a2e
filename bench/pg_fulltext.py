"""Lexical search two ways over one store in PostgreSQL: PostgreSQL's own full-text search
(`to_tsvector('english', ...)` with a GIN index, ranked by `ts_rank_cd`) against kb's BM25
rebuilt in the server from the database, on a judged collection, in one run.

    python bench/pg_fulltext.py --home bench/output/scifact-home --eval ../shared/eval/scifact

Prints nDCG@10, recall@100 and p50/p99 per query of each, so the lexical half of a
PostgreSQL deployment is chosen by measurement. Writes bench/output/pg-fulltext.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from backends import copy_into_postgres  # noqa: E402

from index.metrics import evaluate  # noqa: E402
from kb import KnowledgeBase, Settings  # noqa: E402
from kb.evaluation import BEIR_PREFIX, BeirDataset  # noqa: E402
from tests.pgserver import Server  # noqa: E402

DEPTH = 100


def _documents(keys_scores, sources) -> list[tuple[str, float]]:
    seen: dict[str, float] = {}
    for key, score in keys_scores:
        for source in sources.get(key, ()):
            doc = source[len(BEIR_PREFIX):] if source.startswith(BEIR_PREFIX) else source
            seen.setdefault(doc, score)
    return list(seen.items())[:DEPTH]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=ROOT / "bench" / "output" / "scifact-home")
    ap.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "output" / "pg-fulltext.json")
    args = ap.parse_args()
    dataset = BeirDataset.load(args.eval, "test")
    pg = Server()
    try:
        with tempfile.TemporaryDirectory(prefix="kb-fts-") as scratch:
            embedded, _, url = copy_into_postgres(args.home, Path(scratch), pg)
            kb = KnowledgeBase(Settings.load(env={}, home=embedded.home, database_url=url))
            store = kb.store
            started = time.perf_counter()
            store._q("ALTER TABLE passages ADD COLUMN fts tsvector "  # type: ignore[attr-defined]
                     "GENERATED ALWAYS AS (to_tsvector('english', clean)) STORED")
            store._q("CREATE INDEX passages_fts ON passages USING gin (fts)")  # type: ignore[attr-defined]
            build = time.perf_counter() - started
            sources = store.passage_sources()
            runs: dict[str, dict] = {"postgresql_fts": {}, "kb_bm25": {}}
            times: dict[str, list[float]] = {name: [] for name in runs}
            for qid, text in dataset.queries.items():
                t = time.perf_counter()
                rows = store._q("""SELECT key, ts_rank_cd(fts, q) AS score
                                   FROM passages, websearch_to_tsquery('english', %s) q
                                   WHERE fts @@ q ORDER BY score DESC LIMIT %s""",  # type: ignore[attr-defined]
                                (" or ".join(re.findall(r"\w+", text)), DEPTH * 3)).fetchall()
                times["postgresql_fts"].append(time.perf_counter() - t)
                runs["postgresql_fts"][qid] = _documents(rows, sources)
                t = time.perf_counter()
                hits = kb.retrieve(text, DEPTH * 3, "lexical")
                times["kb_bm25"].append(time.perf_counter() - t)
                runs["kb_bm25"][qid] = _documents([(h.id, h.score) for h in hits], sources)
            out: dict = {"gin_build_s": round(build, 2), "queries": len(dataset.queries)}
            for name, run in runs.items():
                metrics = evaluate(run, dataset.qrels)
                ms = np.array(times[name]) * 1000
                out[name] = {"ndcg@10": round(metrics["ndcg@10"], 4), "recall@100": round(metrics["recall@100"], 4),
                             "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}
            kb.close()
    finally:
        pg.stop()
    print(f"{args.eval.name} test ({out['queries']} queries); GIN index over to_tsvector built in {out['gin_build_s']} s")
    print(f"{'':>16} {'nDCG@10':>8} {'recall@100':>11} {'p50 ms':>7} {'p99 ms':>7}")
    for name in runs:
        r = out[name]
        print(f"{name:>16} {r['ndcg@10']:>8} {r['recall@100']:>11} {r['p50_ms']:>7} {r['p99_ms']:>7}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
