"""Benchmark: ingest on a Dask cluster against ingest in one process, in one run.

    python bench/cluster_ingest.py [--folder DIR] [--workers 2] [--address tcp://host:8786]

Ingests the folder (default: the bundled test filings and the sample report) into a fresh
home in this process, then into another through a Dask cluster (a local one of --workers
processes on loopback, or the scheduler at --address), and prints for each: wall seconds,
pages/s and passages/s, the cluster's start-up apart; then checks that both homes hold the
same passages and vectors (largest difference of a vector component). On one machine the
workers share its cores with each other: the cluster pays for itself when its workers are
other machines.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import KnowledgeBase, Settings  # noqa: E402
from kb.cluster import close, connect  # noqa: E402


def _run(folder: Path, home: Path, client=None) -> dict:
    kb = KnowledgeBase(Settings.load(env={}, home=home))
    started = time.perf_counter()
    report = kb.ingest([folder], cluster=client)
    seconds = time.perf_counter() - started
    keys, vectors = kb.store.all_vectors(384)
    return {"seconds": round(seconds, 1), "pages": report.pages, "passages": report.passages_new,
            "pages_per_s": round(report.pages / seconds, 2), "passages_per_s": round(report.passages_new / seconds, 1),
            "failed": len(report.failed), "_vectors": dict(zip(keys.tolist(), vectors))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, help="reports to ingest (default: tests/data/filings and the sample report)")
    ap.add_argument("--workers", type=int, default=2, help="processes of the local cluster")
    ap.add_argument("--address", help="a running scheduler instead of a local cluster")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "output" / "cluster-ingest.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb-cluster-") as scratch:
        tmp = Path(scratch)
        folder = args.folder
        if folder is None:
            folder = tmp / "files"
            shutil.copytree(ROOT / "tests" / "data" / "filings", folder)
            shutil.copy(ROOT / "data" / "sample" / "unicef-china-2023-annual-report.txt", folder)
        alone = _run(folder, tmp / "alone")
        started = time.perf_counter()
        client = connect(args.address, args.workers)
        client.run(lambda: None)  # the workers are up
        startup = time.perf_counter() - started
        try:
            clustered = _run(folder, tmp / "cluster", client)
        finally:
            close(client)
    a, c = alone.pop("_vectors"), clustered.pop("_vectors")
    same = a.keys() == c.keys()
    worst = max((float(np.abs(a[k] - c[k]).max()) for k in a), default=0.0) if same else float("nan")
    where = args.address or f"local cluster of {args.workers} processes"
    print(f"{folder}: {alone['pages']} pages, {alone['passages']} passages")
    print(f"{'':>24} {'seconds':>8} {'pages/s':>8} {'passages/s':>11}")
    print(f"{'one process':>24} {alone['seconds']:>8} {alone['pages_per_s']:>8} {alone['passages_per_s']:>11}")
    print(f"{where[:24]:>24} {clustered['seconds']:>8} {clustered['pages_per_s']:>8} {clustered['passages_per_s']:>11}"
          f"   (+ {startup:.1f} s to start the cluster)")
    print(f"same passages: {same}; largest difference of a vector component: {worst:.2e}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"folder": str(folder), "one_process": alone, "cluster": clustered, "where": where,
                                    "cluster_startup_s": round(startup, 1), "same_passages": same,
                                    "max_vector_difference": worst}, indent=2))


if __name__ == "__main__":
    main()
