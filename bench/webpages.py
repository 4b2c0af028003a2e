"""Benchmark: reading web pages, main content only against kb's reading (`kb.webpage`).

    python bench/webpages.py --folder /usr/share/doc --sample 300

For a seeded sample of the folder's .html files (2 KB to 2 MB), in one run, file by file in
alternation:

- pages/s of trafilatura's main content alone (what kb read before) and of
  `kb.webpage.read_page` (that, plus the whole page read with BeautifulSoup to find prose it
  left out);
- how many pages kb reads whole, and the distinct words (letters and digits, lower-cased)
  each reading holds that the other does not, summed over the pages.

Prints one JSON line; writes bench/output/webpages.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import webpage  # noqa: E402


def main_content(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, output_format="xml", include_tables=True, include_formatting=True,
                               with_metadata=True, favor_recall=True, include_comments=False) or ""


def words(text: str, markup: bool = False) -> set[str]:
    """Distinct words; `markup`: trafilatura's XML, whose tags are not words (and whose text
    escapes "<" as "&lt;", so no text is taken for a tag)."""
    from html import unescape

    if markup:
        text = unescape(re.sub(r"<[^>]+>", " ", text))
    return set(re.findall(r"\w+", text.lower()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=Path("/usr/share/doc"))
    ap.add_argument("--sample", type=int, default=300)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "output" / "webpages.json")
    args = ap.parse_args()
    files = sorted(p for p in args.folder.rglob("*.html") if p.is_file() and 2_000 <= p.stat().st_size <= 2_000_000)
    files = random.Random(0).sample(files, min(args.sample, len(files)))
    pages = [(p, p.read_bytes()) for p in files]
    seconds = {"main_content": 0.0, "kb": 0.0}
    whole = gained = gone = 0
    for _, data in pages:
        html = data.decode("utf-8", "replace")
        started = time.perf_counter()
        before = main_content(html)
        seconds["main_content"] += time.perf_counter() - started
        started = time.perf_counter()
        page = webpage.read_page(html, data)
        seconds["kb"] += time.perf_counter() - started
        whole += page.text == webpage.read_whole(data).text and bool(before)
        a, b = words(before, markup=True), words(page.text)
        gained, gone = gained + len(b - a), gone + len(a - b)
    row = {"folder": str(args.folder), "pages": len(pages), "megabytes": round(sum(len(d) for _, d in pages) / 1e6, 1),
           "main_content_pages_per_s": round(len(pages) / seconds["main_content"], 1),
           "kb_pages_per_s": round(len(pages) / seconds["kb"], 1),
           "kb_over_main_content_time": round(seconds["kb"] / seconds["main_content"], 2),
           "read_whole": whole, "distinct_words_gained": gained, "distinct_words_gone": gone}
    print(json.dumps(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
