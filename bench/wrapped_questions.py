"""Questions wrapped in instructions to whoever answers them, against the questions as written.

    python bench/wrapped_questions.py --home bench/output/reports-home data/eval/questions-statements.jsonl ...

A service or an agent calling the API may send an analyst's question inside instructions about
the answer: a role to assume, where to look, units, rounding. Those words are rare in reports,
so BM25 and the embedding weigh them. Each question with evidence pages is asked as served
(`kb.evaluation.evaluate_served`, every default) as written and in each wrapping; prints hit@5,
the right report first and the evidence page in the top 5 for each, measured in one run. kb
does not strip such instructions: the wrappings here are how one public set of analysts'
questions is phrased, and patterns matching them would fit that set, not questions in general.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb import KnowledgeBase, Settings  # noqa: E402
from kb.evaluation import evaluate_served, read_questions  # noqa: E402

WRAPPINGS = {
    "as written": "{q}",
    "where to look, after": "{q} Give a response to the question by relying on the details shown in the financial statements.",
    "a role and where to look, before": ("Assume that you are a public equities analyst. Answer the following question by "
                                         "primarily using information that is shown in the financial statements: {q}"),
    "units and rounding, after": "{q} Answer in USD millions. Round your answer to two decimal places.",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path, help="questions files (JSONL); those giving evidence pages are asked")
    ap.add_argument("--home", type=Path, default=ROOT / "bench" / "output" / "reports-home",
                    help="a home holding the questions' reports (make quality builds this one)")
    args = ap.parse_args()
    kb = KnowledgeBase(Settings.load(home=args.home))
    questions = [q for path in args.files for q in read_questions(path) if not q.off_topic and q.pages]
    print(f"{len(questions)} questions with evidence pages, {kb.stats()['documents']} documents in {args.home}")
    print("| wrapping | hit@5 | right report first | evidence page in the top 5 |")
    print("|---|---|---|---|")
    for name, wrapping in WRAPPINGS.items():
        asked = [dataclasses.replace(q, query=wrapping.format(q=q.query)) for q in questions]
        r = evaluate_served(kb, asked)
        print(f"| {name} | {r['hit@5']:.3f} | {r['right_report_first']:.3f} | {r['page@5']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
