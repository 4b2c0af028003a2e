"""What a query as long as the limit costs: a pasted paragraph against a question.

    python bench/long_query.py --home bench/output/scale/home-1000000 [--queries 30]

Queries are the home's own text: questions of about 250 characters, and paragraphs of about
`max_query_chars` characters (consecutive passages joined and cut there), each text new. Prints
p50/p99 per mode for both lengths, in-process (`kb.search`, every default), measured in one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb import KnowledgeBase, Settings  # noqa: E402


def texts(kb: KnowledgeBase, n: int, chars: int, seed: int) -> list[str]:
    keys = kb.engine().vectors.ids()
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        picked = [int(k) for k in rng.choice(keys, 12, replace=False)]
        rows = kb.store.results_for(picked)
        text = " ".join(rows[k][0].text for k in picked if k in rows)
        if len(text) >= chars:
            out.append(text[:chars].rsplit(" ", 1)[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=30)
    args = ap.parse_args()
    kb = KnowledgeBase(Settings.load(home=args.home))
    kb.query_vector("warm")  # the model loaded before timing
    limit = kb.settings.max_query_chars
    print(f"{len(kb.engine().vectors)} passages; limit {limit} characters")
    for mode in ("hybrid", "dense", "lexical"):
        for label, chars, seed in (("question", 250, 1), ("paragraph", limit, 2)):
            qs = texts(kb, args.queries + 2, chars, seed + (10 if mode == "dense" else 20 if mode == "lexical" else 0))
            for q in qs[:2]:
                kb.search(q, mode=mode, min_score=0)  # warm
            times = []
            for q in qs[2:]:
                started = time.perf_counter()
                kb.search(q, mode=mode, min_score=0)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            print(f"{mode:<8} {label:<10} {chars:>5} chars  p50 {statistics.median(times):7.1f} ms  "
                  f"p99 {times[int(0.99 * (len(times) - 1))]:7.1f} ms", flush=True)


if __name__ == "__main__":
    main()
