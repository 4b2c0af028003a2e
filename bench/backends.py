"""The embedded store and PostgreSQL side by side, in one run, on one home.

    python bench/backends.py --home bench/output/scifact-home --eval ../shared/eval/scifact
    python bench/backends.py --home bench/output/scale/home-1000000 --no-quality   # 1M (bench/scale.py builds it)

Starts a throwaway PostgreSQL 15 with pgvector on loopback (`make postgres` installs it),
copies the embedded home's store into it with `kb migrate` (timed: the bulk load, nothing
embedded) and builds pgvector's HNSW index (timed). Then three backends:
- embedded: the home as it is (SQLite, FAISS and BM25 files);
- postgresql: the store in PostgreSQL; each app server ranks with its own FAISS + BM25 (the
  embedded home's index files, copied: what it would build from the database);
- postgresql-db: the store in PostgreSQL and `vector_index = database`: pgvector's HNSW
  answers every dense search; the app server keeps only BM25.
For each: nDCG@10 of the default hybrid mode on the collection's test queries (unless
--no-quality: a synthetic home has no judgements); recall@10 of its dense search against
exact search (FAISS Flat over the same vectors, the oracle), and for pgvector the recall and
in-process latency at several search widths (hnsw.ef_search); then `kb serve` with 1 and 2
workers: search p50/p99 over HTTP with one client, dense and hybrid, throughput at 1, 8 and
32 clients (default requests, each text new), the load generator's own CPU, and the
servers' memory (RSS/PSS, master and workers). Writes bench/output/backends.json (or --out).
With --ingest N it times instead the ingest of N documents into each store (the 1M home is
written directly, not embedded: embedding a million passages takes about ten hours here, so at
1M the rate on record is `kb migrate`'s bulk load).
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


def _served(home: Path, env_extra: dict, queries: list[str], seconds: float, workers: int,
            clients: list[int]) -> dict:
    env = {**os.environ, "KB_HOME": str(home), "KB_RATE_LIMIT": "100000000", "KB_CLIENT_CONCURRENCY": "1000",
           "KB_WORKERS": str(workers), **env_extra}
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            started = time.perf_counter()
            wait_until_up(server, port)
            out: dict = {"ready_s": round(time.perf_counter() - started, 2)}
            run_level(port, "/api/v1/search", 2 * workers, 3.0, queries)  # warm every worker
            out["dense_1"] = run_level(port, "/api/v1/search", 1, seconds, queries, params="mode=dense&rerank=false")
            for n in clients:
                out[f"hybrid_{n}"] = run_level(port, "/api/v1/search", n, seconds, queries)
            out["memory"] = memory_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)
    return out


def _recall(kb: KnowledgeBase, exact: dict[str, set[int]], k: int = 10) -> float:
    """Recall@k of `kb`'s vector index against exact search (`exact`: each query's true top k)."""
    engine, hits = kb.engine(), 0
    for query, truth in exact.items():
        vector = kb.query_vector(query)
        hits += len(truth & set(engine.vectors.search(vector[None, :], k)[1][0].tolist()))
    return round(hits / (k * len(exact)), 4)


def _ef_sweep(kb: KnowledgeBase, exact: dict[str, set[int]], k: int = 10) -> dict:
    """Recall@k and in-process p50/p99 of pgvector's HNSW at several search widths
    (`kb.pgvectors.MIN_EF`, the width a small k gets); the shipped width is put back."""
    import numpy as np

    import kb.pgvectors as pgvectors

    shipped, out = pgvectors.MIN_EF, {}
    vectors = kb.engine().vectors
    queries = {q: kb.query_vector(q) for q in exact}
    try:
        for ef in (40, 100, 200, 400):
            pgvectors.MIN_EF = ef
            hits, times = 0, []
            for q, truth in exact.items():
                started = time.perf_counter()
                found = vectors.search(queries[q][None, :], k)[1][0]
                times.append((time.perf_counter() - started) * 1000)
                hits += len(truth & set(found.tolist()))
            out[str(ef)] = {"recall@10": round(hits / (k * len(exact)), 4), "p50_ms": round(float(np.percentile(times, 50)), 2),
                            "p99_ms": round(float(np.percentile(times, 99)), 2)}
    finally:
        pgvectors.MIN_EF = shipped
    return out


def _ingest_rates(args) -> None:
    """Ingest rate on both stores, in one run: the same records, embedded and committed
    document by document, into an empty embedded home and an empty PostgreSQL database."""
    records = BeirDataset.load(args.eval, "test").records()[:args.ingest]
    pg = Server()
    out: dict = {"documents": len(records)}
    try:
        with tempfile.TemporaryDirectory(prefix="kb-ingest-", dir=args.out.parent) as scratch:
            for name, extra in (("embedded", {}), ("postgresql", {"database_url": pg.database()})):
                kb = KnowledgeBase(Settings.load(env={}, home=Path(scratch) / name, **extra))
                kb.embedder.embed("warm up")  # the model's load is not the store's cost
                started = time.perf_counter()
                kb.ingest_records(records)
                seconds = time.perf_counter() - started
                passages = kb.counts().passages
                out[name] = {"passages": passages, "seconds": round(seconds, 1), "passages_per_s": round(passages / seconds, 1)}
                print(name, out[name], flush=True)
                kb.close()
    finally:
        pg.stop()
    path = args.out.with_name(args.out.stem + "-ingest.json")
    path.write_text(json.dumps(out, indent=2))
    print("| store | documents | passages | seconds | passages/s |\n|---|---|---|---|---|")
    for name in ("embedded", "postgresql"):
        r = out[name]
        print(f"| {name} | {out['documents']} | {r['passages']} | {r['seconds']} | {r['passages_per_s']} |")


def _exact(kb: KnowledgeBase):
    """FAISS Flat over every vector of `kb`'s store (the oracle)."""
    from index.vectors import FaissIndex

    dim = int(kb.store.get_meta("dimension") or 384)
    keys, vectors = kb.store.all_vectors(dim)
    flat = FaissIndex(dim)
    flat.add(keys, vectors)
    return flat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=ROOT / "bench" / "output" / "scifact-home")
    ap.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact",
                    help="BEIR folder: its test queries (and judgements unless --no-quality)")
    ap.add_argument("--no-quality", action="store_true", help="skip nDCG@10 (a synthetic home has no judgements)")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--backends", default="embedded,postgresql,postgresql-db")
    ap.add_argument("--database", help="a PostgreSQL database already holding --home's store, with its HNSW index "
                    "(skips the migration and the build: for reruns at 1M)")
    ap.add_argument("--ingest", type=int, default=0, metavar="N",
                    help="also time `ingest_records` of the collection's first N documents into a new embedded home "
                         "and into a new PostgreSQL database (parse, chunk, embed, commit)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "output" / "backends.json")
    args = ap.parse_args()
    if args.ingest:
        return _ingest_rates(args)
    dataset = BeirDataset.load(args.eval, "test")
    queries = list(dataset.queries.values())
    workers = [int(w) for w in args.workers.split(",")]
    clients = [int(c) for c in args.clients.split(",")]
    wanted = args.backends.split(",")
    pg = None if args.database else Server(options="-c maintenance_work_mem=4GB -c shared_buffers=1GB")
    try:
        with tempfile.TemporaryDirectory(prefix="kb-backends-", dir=args.out.parent) as scratch:
            if pg is not None:
                embedded, moved, url = copy_into_postgres(args.home, Path(scratch), pg)
            else:
                shutil.copytree(args.home, Path(scratch) / "embedded")
                embedded = KnowledgeBase(Settings.load(env={}, home=Path(scratch) / "embedded"))
                url = args.database
                moved = {**embedded.store.counts(), "seconds": None, "existing_database": True}
            home = embedded.home
            pg_home = Path(scratch) / "pg-home"  # the PostgreSQL app server's own index files
            shutil.copytree(home / "index", pg_home / "index")
            db_home = Path(scratch) / "pg-db-home"  # vector_index = database: BM25 files only
            db_home.mkdir()
            on_pg = KnowledgeBase(Settings.load(env={}, home=pg_home, database_url=url))
            started = time.perf_counter()
            on_pg.store.index_vectors(384)  # type: ignore[attr-defined]
            hnsw_seconds = time.perf_counter() - started  # with --database: only the check that it exists
            print(f"migrated {moved['passages']} passages in {moved['seconds']} s; pgvector HNSW built in "
                  f"{hnsw_seconds:.1f} s", flush=True)
            in_db = KnowledgeBase(Settings.load(env={}, home=db_home, database_url=url, vector_index="database"))
            in_db.engine()  # its BM25 files, built from the database and saved
            oracle = _exact(embedded)
            exact = {q: set(oracle.search(embedded.query_vector(q)[None, :], 10)[1][0].tolist()) for q in queries[:200]}
            del oracle
            results: dict = {"passages": moved["passages"], "migrate": moved, "hnsw_build_s": round(hnsw_seconds, 1),
                             "workers": workers, "clients": clients}
            setups = {"embedded": (embedded, home, {}), "postgresql": (on_pg, pg_home, {"KB_DATABASE_URL": url}),
                      "postgresql-db": (in_db, db_home, {"KB_DATABASE_URL": url, "KB_VECTOR_INDEX": "database"})}
            for name in wanted:
                kb = setups[name][0]
                row: dict = {"recall@10": _recall(kb, exact)}
                if not args.no_quality:
                    scored = evaluate_beir(kb, dataset, ["hybrid"])[0]
                    row.update({"ndcg@10": round(scored["ndcg@10"], 4), "eval_seconds": scored["seconds"]})
                if name == "postgresql-db":
                    row["ef_search"] = _ef_sweep(kb, exact)
                results[name] = row
                print(name, row, flush=True)
            for kb, _, _ in setups.values():
                kb.close()
            for name in wanted:
                _, folder, env = setups[name]
                for w in workers:
                    results[name][f"workers_{w}"] = _served(folder, env, queries, args.seconds, w, clients)
                    print(name, w, json.dumps(results[name][f"workers_{w}"]), flush=True)
    finally:
        if pg is not None:
            pg.stop()
    _print(args.home.name, results, wanted)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


def _print(label: str, results: dict, wanted: list[str]) -> None:
    m = results["migrate"]
    print(f"\n{label}: {m['documents']} documents, {m['passages']} passages; kb migrate to PostgreSQL {m['seconds']} s; "
          f"pgvector HNSW build {results['hnsw_build_s']} s")
    levels = [f"req/s {c}" for c in results["clients"]]
    print("| backend | workers | nDCG@10 | recall@10 | ready s | dense p50 | p99 | hybrid p50 | p99 | "
          + " | ".join(levels) + " | client CPU | RSS MB | PSS MB |")
    print("|---" * (11 + len(levels)) + "|")
    for name in wanted:
        r = results[name]
        for w in results["workers"]:
            s = r[f"workers_{w}"]
            first = s[f"hybrid_{results['clients'][0]}"]
            rates = " | ".join(str(s[f"hybrid_{c}"]["requests_per_s"]) for c in results["clients"])
            cpu = max(s[f"hybrid_{c}"].get("client_cpu_cores", 0) for c in results["clients"])
            print(f"| {name} | {w} | {r.get('ndcg@10', '-')} | {r['recall@10']} | {s['ready_s']} | {s['dense_1']['p50_ms']} | "
                  f"{s['dense_1']['p99_ms']} | {first['p50_ms']} | {first['p99_ms']} | {rates} | {cpu} | "
                  f"{s['memory'].get('rss_mb', '-')} | {s['memory'].get('pss_mb', '-')} |")


if __name__ == "__main__":
    main()
