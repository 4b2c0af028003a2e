"""How well the calibrated relevance holds on every collection, and what the default cut does.

    python bench/reliability.py --eval ../shared/eval

For each judged collection (homes made by bench/quality.py, reused), every query is searched
with the defaults but no cut (hybrid, k=10): the relevance shown for each result is binned and
set against how often a result in that bin is relevant (a reliability table). Then the cut: on
the collection's own queries, how many have a relevant first result that the default gate
(`min_score`, on the best result) would hide; and, with the other collections' queries asked
of it (off-topic by construction), how many get the empty state. Writes
bench/output/reliability.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.evaluation import BEIR_PREFIX, BeirDataset  # noqa: E402
from kb.knowledge import KnowledgeBase  # noqa: E402
from kb.settings import Settings  # noqa: E402

BINS = ((0, .05), (.05, .1), (.1, .2), (.2, .35), (.35, .5), (.5, .7), (.7, 1.01))
OFF_TOPIC = 100  # other collections' queries asked of each collection


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    args = ap.parse_args()
    folders = sorted(p for p in args.eval.iterdir() if (p / "corpus.jsonl").exists())
    datasets = {f.name: BeirDataset.load(f, "test") for f in folders}
    gate = Settings.load().min_score
    out = {}
    for name, data in datasets.items():
        kb = KnowledgeBase(Settings.load(home=ROOT / "bench" / "output" / f"{name}-home"))
        pairs, hidden, answered = [], 0, 0
        for qid, query in data.queries.items():
            relevant = {d for d, g in data.qrels[qid].items() if g > 0}
            results = kb.search(query[:1000], k=10, min_score=0)
            labels = [r.document.source.removeprefix(BEIR_PREFIX) in relevant for r in results]
            pairs += [(r.relevance, y) for r, y in zip(results, labels) if r.relevance is not None]
            if labels and labels[0]:
                answered += 1
                hidden += results[0].relevance < gate
        others = [q[:1000] for other, d in datasets.items() if other != name for q in d.queries.values()]  # the query limit
        random.Random(0).shuffle(others)
        tops = [(kb.search(q, k=1, min_score=0) or [None])[0] for q in others[:OFF_TOPIC]]
        empty = sum(1 for t in tops if t is None or t.relevance < gate)
        table = []
        for low, high in BINS:
            sel = [y for p, y in pairs if low <= p < high]
            if sel:
                mean = sum(p for p, _ in pairs if low <= p < high) / len(sel)
                table.append({"shown": [low, min(high, 1.0)], "results": len(sel), "mean_shown": round(mean, 3),
                              "observed_relevant": round(sum(sel) / len(sel), 3)})
        out[name] = {"queries": len(data.queries), "first_result_relevant": answered, "hidden_by_default_cut": hidden,
                     "off_topic_asked": len(tops), "off_topic_empty": empty, "reliability": table}
        print(f"{name}: first result relevant for {answered} of {len(data.queries)} queries, {hidden} of them hidden by the "
              f"default cut ({gate}); other collections' queries: {empty} of {len(tops)} get the empty state")
        for row in table:
            print(f"   shown {row['shown'][0]:.2f}-{row['shown'][1]:.2f}: {row['results']:5d} results, mean shown "
                  f"{row['mean_shown']:.3f}, relevant {row['observed_relevant']:.3f}")
    (ROOT / "bench" / "output").mkdir(exist_ok=True)
    (ROOT / "bench" / "output" / "reliability.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
