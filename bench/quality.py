"""Retrieval quality on every judged collection: every mode, with and without the second stage.

    python bench/quality.py --eval ../shared/eval [--questions data/eval/questions.jsonl [--questions FILE ...] --reports-home DIR
                            [--sample-home DIR]]

Each BEIR folder under --eval is ingested into bench/output/<name>-home (kept and reused) and
measured with `kb.evaluation.evaluate_beir` for hybrid, dense and lexical, each with and
without the built-in second stage. With --questions and a home holding the documents they are
about (`make quality` ingests the sample report and the filings into it), the questions are
measured the same way and as served (every default: hits at 1/5/10, answers the default cut
hid, off-topic questions given the empty state). With --sample-home, a home holding the sample
report alone (as `make run` serves it), the questions of every file about a report it holds and
every off-topic question are measured there too: plain-word, bare-figure and off-topic questions
about one report are asked of that report alone as well as among the filings. Each BEIR
collection also learns a second stage from its own judgments (`kb learn`: its train split, else
its test queries cross-validated), measured and then forgotten, so the homes keep the shipped
defaults. Writes bench/QUALITY.md and bench/output/quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.relevance import RELIABILITY_BINS  # noqa: E402
from kb.errors import InvalidRequest  # noqa: E402
from kb.evaluation import (  # noqa: E402
    BeirDataset,
    _is_document,
    evaluate_beir,
    evaluate_questions,
    evaluate_served,
    read_questions,
)
from kb.knowledge import KnowledgeBase  # noqa: E402
from kb.learning import beir_judgments, forget, learn  # noqa: E402
from kb.settings import Settings  # noqa: E402

MODES = ["hybrid", "dense", "lexical"]
PUBLISHED = """Published nDCG@10 on SciFact test, for comparison (from the dataset's SOURCE.md): BM25 0.665
(BEIR) and 0.679 (Anserini, title + text); BM25 + cross-encoder 0.688; all-MiniLM-L6-v2 dense 0.645.
On the four classic collections, published BM25 is roughly 0.3-0.45 (shared/eval/SOURCES.md)."""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def collection(folder: Path, split: str) -> dict:
    kb = KnowledgeBase(Settings.load(home=ROOT / "bench" / "output" / f"{folder.name}-home"))
    forget(kb.home)  # the shipped defaults; `learned` measures a home's own second stage apart
    data = BeirDataset.load(folder, split)
    started = time.perf_counter()
    report = kb.ingest_records(data.records())
    rows = evaluate_beir(kb, data, MODES, [False, True])
    return {"collection": f"{folder.name} ({split})", "passages": kb.stats()["passages"],
            "ingest_seconds": round(time.perf_counter() - started, 1), "embedded": report.passages_new, "rows": rows,
            "learned": learned_here(kb, folder, split)}


def learned_here(kb: KnowledgeBase, folder: Path, split: str) -> dict:
    """`kb learn` on the collection's own judgments: its train split where it has one (then
    measured on `split` with every default), else `split` itself (cross-validated folds only:
    a default measured on the queries it learned from would not be held out). Forgotten after."""
    own = "train" if (folder / "qrels" / "train.tsv").is_file() and split != "train" else split
    try:
        try:
            learned = learn(kb, beir_judgments(folder, own))
        except InvalidRequest as exc:  # too few judged queries to learn from: said in the table
            return {"judgments": own, "skipped": exc.message}
        out = {"judgments": own, "queries": learned.queries, "folds": learned.folds, "first_stage": round(learned.first_stage, 4),
               "learned": round(learned.learned, 4), "default": learned.default, "held_out_default": None}
        if own != split:
            data = BeirDataset.load(folder, split)
            run = evaluate_beir(kb, data, ["hybrid"], [kb.rerank_by_default])[0]
            out["held_out_default"] = round(run["ndcg@10"], 4)
        return out
    finally:
        forget(kb.home)


def learned_lines(results: list[dict]) -> list[str]:
    lines = ["", "## A second stage learned from a collection's own judgments (`kb learn`)", "",
             "Fitted on four fifths of the judged queries and measured on the fifth, five times (nDCG@10, first stage → "
             "learned); it becomes the home's default only if it raised every fold. SciFact learns from its train split and "
             "is then measured on its test split with every default; a collection with no other split is cross-validated "
             "over its test queries (folds held out), and no default is measured on them.", "",
             "| collection | learned from | queries | folds raised | mean of folds | default here | default nDCG@10 on the test split |",
             "|---|---|---|---|---|---|---|"]
    for res in results:
        v = res.get("learned")
        if not v:
            continue
        if "skipped" in v:
            lines.append(f"| {res['collection']} | {v['judgments']} | - | - | not learned: {v['skipped']} | first stage | - |")
            continue
        raised = sum(b > a for a, b in v["folds"])
        held = f"{v['held_out_default']:.4f}" if v["held_out_default"] is not None else "-"
        lines.append(f"| {res['collection']} | {v['judgments']} | {v['queries']} | {raised} of {len(v['folds'])} | "
                     f"{v['first_stage']:.4f} → {v['learned']:.4f} | {'learned' if v['default'] else 'first stage'} | {held} |")
    return lines


def questions(path: Path, home: Path) -> dict:
    kb = KnowledgeBase(Settings.load(home=home))
    qs = read_questions(path)
    return {"collection": f"{path.name} ({kb.stats()['documents']} documents)", "passages": kb.stats()["passages"],
            "rows": evaluate_questions(kb, qs, MODES, [False, True]), "served": evaluate_served(kb, qs)}


def alone(paths: list[Path], home: Path) -> dict:
    """The questions of `paths` about a document `home` holds, and every off-topic one, asked
    of that home."""
    kb = KnowledgeBase(Settings.load(home=home))
    documents = kb.documents()
    qs = [q for path in paths for q in read_questions(path)
          if q.off_topic or (q.document is not None and any(_is_document(q.document, d) for d in documents))]
    titles = ", ".join(d.title for d in documents)
    return {"collection": f"{titles} alone ({len(qs)} questions of those files)", "passages": kb.stats()["passages"],
            "rows": evaluate_questions(kb, qs, MODES, [False, True]), "served": evaluate_served(kb, qs)}


def table(results: list[dict], defaults: dict) -> list[str]:
    lines = ["| collection | mode | second stage | nDCG@10 | recall@10 | recall@100 | MRR@10 |", "|---|---|---|---|---|---|---|"]
    for res in results:
        best_single = max(r["ndcg@10"] for r in res["rows"] if not r["rerank"] and r["mode"] != "hybrid")
        for r in res["rows"]:
            default = r["mode"] == defaults["mode"] and bool(r["rerank"]) == defaults["rerank"]
            mark = " **(default)**" if default else ""
            lines.append(f"| {res['collection']} | {r['mode']}{mark} | {r['rerank'] or '-'} | {r['ndcg@10']:.4f} | "
                         f"{r['recall@10']:.4f} | {r['recall@100']:.4f} | {r['mrr@10']:.4f} |")
        lexical = next(r["ndcg@10"] for r in res["rows"] if r["mode"] == "lexical" and not r["rerank"])
        default_row = next(r for r in res["rows"] if r["mode"] == defaults["mode"] and bool(r["rerank"]) == defaults["rerank"])
        res["summary"] = {"default": round(default_row["ndcg@10"], 4), "best_single_mode": round(best_single, 4),
                          "bm25": round(lexical, 4)}
    return lines


def calibration_lines() -> list[str]:
    """The calibration and default cut checked leave-one-collection-out, and the reliability
    per collection of the calibration fitted on all, from bench/calibrate_loo.py's last run."""
    path = ROOT / "bench" / "output" / "calibrate_loo.json"
    if not path.exists():
        return ["", "(Run bench/calibrate_loo.py for the calibration's leave-one-collection-out table.)"]
    data = json.loads(path.read_text())
    lines = ["", "## Relevance and the default cut, leave-one-collection-out (bench/calibrate_loo.py)", "",
             "Fitted on the other collections, measured on the one left out. Off-topic: 100 other collections' queries "
             "and our 10 written off-topic questions.", "",
             "| left out | calibration gap | cut | right first results hidden | off-topic given the empty state | of our 10 |",
             "|---|---|---|---|---|---|"]
    for r in data["leave_one_out"]:
        lines.append(f"| {r['left_out']} | {r['gap']:.3f} | {r['gate']:.3f} | {r['hidden']} of {r['first_right']} | "
                     f"{r['off_topic_empty']} of {r['off_topic']} | {r['written_off_topic_empty']} |")
    lines += ["", f"Fitted on all in that run (what its `--write` ships): cut {data['gate']:.4f}. Its reliability per collection "
              "(top 10 results as served):", "",
              "| collection | " + " | ".join(f"{lo:.2f}-{min(hi, 1):.2f}" for lo, hi in RELIABILITY_BINS) + " |",
              "|---|" + "---|" * len(RELIABILITY_BINS)]
    for name, rows in data["reliability"].items():
        cells = {tuple(r["predicted"]): r for r in rows}
        out = []
        for lo, hi in RELIABILITY_BINS:
            r = cells.get((lo, min(hi, 1)))
            out.append(f"{r['mean_predicted']:.2f} → {r['observed']:.2f} ({r['passages']})" if r else "-")
        lines.append(f"| {name} | " + " | ".join(out) + " |")
    lines += ["", "Each cell: mean predicted → observed relevance (passages)."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--split", default="test")
    parser.add_argument("--questions", type=Path, action="append", default=[], help="a questions file (repeatable)")
    parser.add_argument("--reports-home", type=Path)
    parser.add_argument("--sample-home", type=Path, help="a home holding the sample report alone")
    args = parser.parse_args()
    folders = sorted(p for p in args.eval.iterdir() if (p / "corpus.jsonl").exists()) if args.eval.is_dir() else []
    if not folders:
        sys.exit(f"no BEIR datasets under {args.eval} (use --eval)")
    results = []
    for folder in folders:
        print(f"{folder.name} ...", flush=True)
        results.append(collection(folder, args.split))
    if args.reports_home:
        results += [questions(path, args.reports_home) for path in args.questions]
    if args.sample_home and args.questions:
        results.append(alone(args.questions, args.sample_home))
    s = Settings.load()
    defaults = {"mode": "hybrid", "rerank": s.rerank}
    lines = ["# Retrieval quality on every judged collection", "",
             f"Measured by `make quality` (bench/quality.py) on {machine()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             f"Settings: fusion {s.fusion} at dense weight {s.dense_weight} for a query of 8 terms, {s.length_slope:+} per "
             f"doubling of its terms, {s.candidates} candidates per retriever; "
             f"second stage {s.reranker} over the top {s.rerank_depth}, {'on' if s.rerank else 'off'} by default. "
             "Documents are ranked by their best passage.", "", *table(results, defaults), "",
             "| collection | default nDCG@10 | best single mode (dense or BM25) | BM25 | default − BM25 |", "|---|---|---|---|---|"]
    for res in results:
        m = res["summary"]
        lines.append(f"| {res['collection']} | {m['default']:.4f} | {m['best_single_mode']:.4f} | {m['bm25']:.4f} | "
                     f"{m['default'] - m['bm25']:+.4f} |")
    for res in results:
        if "served" in res:
            v = res["served"]
            lines += ["", f"**{res['collection']}, as served** (every default): hit@1 {v['hit@1']:.3f}, hit@5 {v['hit@5']:.3f}, "
                          f"hit@10 {v['hit@10']:.3f} over {v['questions']} questions; answers ranked first but hidden by the default "
                          f"cut: {v['hidden_by_cut']}; off-topic questions given the empty state: {v['off_topic_empty']} of {v['off_topic']}"
                          + (f"; the first result is from the report the question is about for {v['right_report_first']:.3f} of "
                             f"{v['naming_a_report']}" if v.get("naming_a_report") else "")
                          + (f"; the highlight overlaps the evidence for {v['evidence_highlighted']:.3f} of the "
                             f"{v['evidence_shown']} whose evidence is in the top 5" if v.get("evidence_shown") else "")
                          + (f"; the evidence page cited at 1/5/10: {v['page@1']:.3f} / {v['page@5']:.3f} / {v['page@10']:.3f} "
                             f"of the {v['with_pages']} that give it" if v.get("with_pages") else "") + "."]
    lines += learned_lines(results)
    lines += calibration_lines()
    lines += ["", PUBLISHED, ""]
    (ROOT / "bench" / "output").mkdir(exist_ok=True)
    (ROOT / "bench" / "output" / "quality.json").write_text(json.dumps(results, indent=2))
    (ROOT / "bench" / "QUALITY.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
