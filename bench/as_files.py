"""Judged collections ingested as files, as uploads and folders are, against the same
collections ingested as records.

    python bench/as_files.py --eval ../shared/eval [--only scifact,cisi]

Each BEIR corpus is written as one .txt per record, named by its id, holding its title, a blank
line and its text (bench/output/<name>-files/), and ingested from there into
bench/output/<name>-files-home; both are kept and reused. The records' home is bench/quality.py's
(bench/output/<name>-home, ingested here if missing). Both are searched with every default but
the cut (documents ranked at their best passage, 100 deep), and measured with nDCG@10,
recall@100 and MRR@10. A file goes through what an upload goes through (the loader, the title
and organisation read from the text), a record does not: where the two differ, it is that.
Prints a table and writes bench/output/as_files.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.metrics import evaluate  # noqa: E402
from kb.evaluation import BEIR_PREFIX, BeirDataset  # noqa: E402
from kb.knowledge import KnowledgeBase  # noqa: E402
from kb.settings import Settings  # noqa: E402

OUT = ROOT / "bench" / "output"
DEPTH = 100


def write_files(data: BeirDataset, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for record in data.records():
        name = record.source.removeprefix(BEIR_PREFIX)
        path = folder / f"{name}.txt"
        text = (f"{record.title}\n\n" if record.title else "") + f"{record.text}\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def measure(kb: KnowledgeBase, data: BeirDataset) -> dict:
    """The default search's documents (a record's id, or a file's name without .txt)."""
    run = {}
    for qid, text in data.queries.items():
        if qid not in data.qrels:
            continue
        ranking: dict[str, float] = {}
        for r in kb.search(text, k=DEPTH, min_score=0, highlight="none"):
            source = r.document.source
            key = source.removeprefix(BEIR_PREFIX) if source.startswith(BEIR_PREFIX) else Path(source).stem
            ranking.setdefault(key, r.score)
        run[qid] = list(ranking.items())
    scores = evaluate(run, {q: data.qrels[q] for q in run}, ("ndcg@10", "recall@100", "mrr@10"))
    return {k: round(v, 4) for k, v in scores.items()} | {"documents": len(kb.documents())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    ap.add_argument("--only", default="", help="comma-separated collection names (default: every one)")
    args = ap.parse_args()
    folders = sorted(p for p in args.eval.iterdir() if (p / "corpus.jsonl").exists())
    if args.only:
        folders = [f for f in folders if f.name in args.only.split(",")]
    rows = []
    for folder in folders:
        data = BeirDataset.load(folder, "test")
        records = KnowledgeBase(Settings.load(home=OUT / f"{folder.name}-home"))
        records.ingest_records(data.records())  # unchanged records are skipped
        write_files(data, OUT / f"{folder.name}-files")
        files = KnowledgeBase(Settings.load(home=OUT / f"{folder.name}-files-home"))
        report = files.ingest([OUT / f"{folder.name}-files"])  # unchanged files are skipped
        row = {"collection": folder.name, "records": measure(records, data), "files": measure(files, data),
               "files_refused": len(report.failed)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| collection | as records: documents | nDCG@10 | recall@100 | as files: documents | nDCG@10 | recall@100 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        a, b = r["records"], r["files"]
        print(f"| {r['collection']} | {a['documents']} | {a['ndcg@10']:.4f} | {a['recall@100']:.4f} | "
              f"{b['documents']} | {b['ndcg@10']:.4f} | {b['recall@100']:.4f} |")
    (OUT / "as_files.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
