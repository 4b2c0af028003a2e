"""Give each question over a PDF the pages its evidence is on, read from the PDF itself.

    python bench/evidence_pages.py --folder ../shared/corpus/filings data/eval/questions*.jsonl [--write]

For each question naming its `document` (a file in `--folder`, with or without ".pdf"), the
pages are those whose text, as kb's loader reads it (spaces squashed, case folded), holds one
of the question's evidence snippets: where the statement's line is printed, not where search
found it. `kb eval` then counts whether a result from that report cites one of them ("the
evidence page in the top 5", as analysts' questions over filings are judged). Prints what it
would change; `--write` rewrites the files in place (other fields and the order kept).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.evaluation import page_texts, squash  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--folder", type=Path, required=True, help="where the questions' PDFs are")
    ap.add_argument("--write", action="store_true", help="rewrite the question files with their pages")
    args = ap.parse_args()
    cache: dict[Path, dict[int, str]] = {}
    for path in args.files:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        found = missing = 0
        for row in rows:
            pdf = args.folder / (row.get("document", "") + ("" if row.get("document", "").endswith(".pdf") else ".pdf"))
            if row.get("off_topic") or "document" not in row or not pdf.is_file():
                continue
            if pdf not in cache:
                cache[pdf] = page_texts(pdf)
            snippets = [squash(s) for s in row["relevant"]]
            pages = sorted(n for n, text in cache[pdf].items() if any(s in text for s in snippets))
            if pages:
                row["pages"], found = pages, found + 1
            else:
                row.pop("pages", None)
                missing += 1
                print(f"  {path.name}: no page of {pdf.name} holds the evidence of {row['query']!r}")
        print(f"{path.name}: pages for {found} questions; {missing} over a PDF without them")
        if args.write:
            path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


if __name__ == "__main__":
    main()
