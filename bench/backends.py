"""The embedded store and PostgreSQL side by side, in one run, on one collection.

    python bench/backends.py --home bench/output/scifact-home --eval ../shared/eval/scifact

Starts a throwaway PostgreSQL 15 with pgvector on loopback (`make postgres` installs it),
copies the embedded home's store into it with `kb migrate` (timed: the bulk load, nothing
embedded), then for each backend:
- nDCG@10 of the default hybrid mode on the collection's test queries (`kb.evaluation`);
- search p50/p99 over HTTP (`kb serve`, one client, each text new), dense and hybrid;
- throughput at 1 and 8 clients, and the server's memory (RSS/PSS);
- recall@10 of pgvector's HNSW index against exact search (PostgreSQL only).
Writes bench/output/backends.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import free_port, memory_mb, run_level, wait_until_up  # noqa: E402

from kb import KnowledgeBase, Settings  # noqa: E402
from kb.evaluation import BeirDataset, evaluate_beir  # noqa: E402
from kb.migrate import migrate  # noqa: E402
from tests.pgserver import Server  # noqa: E402


def copy_into_postgres(source: Path, scratch: Path, server: Server) -> tuple[KnowledgeBase, dict, str]:
    """A copy of the embedded home `source` in `scratch`, and its store copied by `kb migrate`
    into a new database on `server`: (the copy, what the migration reported, the database URL)."""
    home = scratch / "embedded"
    shutil.copytree(source, home)
    url = server.database()
    embedded = KnowledgeBase(Settings.load(env={}, home=home))
    return embedded, migrate(embedded, url), url


def _served(home: Path, env_extra: dict, queries: list[str], seconds: float) -> dict:
    env = {**os.environ, "KB_HOME": str(home), "KB_RATE_LIMIT": "100000000", "KB_CLIENT_CONCURRENCY": "1000", **env_extra}
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_up(server, port)
            run_level(port, "/api/v1/search", 2, 2.0, queries)  # warm
            out = {"dense_1": run_level(port, "/api/v1/search", 1, seconds, queries, params="mode=dense&rerank=false"),
                   "hybrid_1": run_level(port, "/api/v1/search", 1, seconds, queries),
                   "hybrid_8": run_level(port, "/api/v1/search", 8, seconds, queries),
                   "memory": memory_mb(server.pid)}
        finally:
            server.terminate()
            server.wait(timeout=30)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=ROOT / "bench" / "output" / "scifact-home")
    ap.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "output" / "backends.json")
    args = ap.parse_args()
    dataset = BeirDataset.load(args.eval, "test")
    queries = list(dataset.queries.values())
    pg = Server()
    try:
        with tempfile.TemporaryDirectory(prefix="kb-backends-") as scratch:
            embedded, moved, url = copy_into_postgres(args.home, Path(scratch), pg)
            home = embedded.home
            pg_home = Path(scratch) / "pg-home"  # the PostgreSQL app server's own index files
            shutil.copytree(home / "index", pg_home / "index")
            on_pg = KnowledgeBase(Settings.load(env={}, home=pg_home, database_url=url))
            started = time.perf_counter()
            on_pg.store.index_vectors(384)  # type: ignore[attr-defined]
            hnsw_seconds = time.perf_counter() - started
            results: dict = {"migrate": moved, "hnsw_build_s": round(hnsw_seconds, 1)}
            for name, kb in (("embedded", embedded), ("postgresql", on_pg)):
                row = evaluate_beir(kb, dataset, ["hybrid"])[0]
                results[name] = {"ndcg@10": round(row["ndcg@10"], 4), "eval_seconds": row["seconds"]}
            # pgvector's HNSW against exact search, on the collection's queries
            from pgvector import Vector

            engine, hits, total = on_pg.engine(), 0, 0
            for query in queries[:200]:
                vector = on_pg.query_vector(query)
                exact = set(engine.vectors.search(vector[None, :], 10)[1][0].tolist())
                rows = on_pg.store._q("SELECT key FROM passages ORDER BY vector::vector(384) <#> %s LIMIT 10",  # type: ignore[attr-defined]
                                      (Vector(np.asarray(vector, np.float32)),)).fetchall()
                hits += len(exact & {r[0] for r in rows})
                total += len(exact)
            results["pgvector_recall@10"] = round(hits / total, 4)
            embedded.close()
            on_pg.close()
            results["embedded"].update(_served(home, {}, queries, args.seconds))
            results["postgresql"].update(_served(pg_home, {"KB_DATABASE_URL": url}, queries, args.seconds))
    finally:
        pg.stop()
    m = results["migrate"]
    print(f"{args.home.name}: {m['documents']} documents, {m['passages']} passages; kb migrate to PostgreSQL "
          f"{m['seconds']} s; pgvector HNSW build {results['hnsw_build_s']} s, recall@10 {results['pgvector_recall@10']}")
    print(f"{'':>11} {'nDCG@10':>8} {'dense p50':>10} {'p99':>6} {'hybrid p50':>11} {'p99':>6} {'req/s 1':>8} "
          f"{'req/s 8':>8} {'RSS MB':>7} {'PSS MB':>7}")
    for name in ("embedded", "postgresql"):
        r = results[name]
        print(f"{name:>11} {r['ndcg@10']:>8} {r['dense_1']['p50_ms']:>10} {r['dense_1']['p99_ms']:>6} "
              f"{r['hybrid_1']['p50_ms']:>11} {r['hybrid_1']['p99_ms']:>6} {r['hybrid_1']['requests_per_s']:>8} "
              f"{r['hybrid_8']['requests_per_s']:>8} {r['memory'].get('rss_mb', '-'):>7} {r['memory'].get('pss_mb', '-'):>7}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
