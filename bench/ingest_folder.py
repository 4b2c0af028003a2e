"""Benchmark: a folder of real report PDFs in, fast and faithfully.

    python bench/ingest_folder.py --folder ../shared/corpus/filings

Three measurements, each within one run (absolute times drift on shared machines):

1. Parse rate, old against new extractor: pypdf's `extract_text` (what kb used before) and
   kb's PDFium reader (`kb.pdf.read_pdf`) on every PDF, file by file in alternation, in
   pages/s; with a measure of damaged words: per 10,000 words of each extraction, the words
   whose form the other extraction never has (split "PR OPERTIES" and glued "andexisting"
   count; running headers kb drops count against pypdf too).
2. End-to-end ingest of the folder into fresh homes with the bundled model: pages/s,
   passages/s, and ingest passages/s over raw `model.encode` passages/s on the very passages
   ingest embedded (1.0 means parsing, chunking and storing cost nothing beside the
   encoder). Run with parse workers (the default) and without; the raw encode runs after
   each, and their mean is the denominator, so a drift of the machine falls on both sides.
   Peak memory of the ingesting process and of its parse workers.
3. Resume: `kb ingest` of the folder in a subprocess, killed (SIGKILL) once about half the
   pages are committed, then run again: what the second run embedded, and how much of it
   belonged to documents committed before the kill (target: none).

Writes bench/output/ingest-folder.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import KnowledgeBase, Settings  # noqa: E402
from kb.ingest import count_pages  # noqa: E402
from kb.pdf import read_pdf  # noqa: E402

WORD = re.compile(r"[^\W\d_]+")


def only_here(text: str, other: str) -> float:
    """Words of `text` (runs of letters) whose form the other extractor never produced, per
    10,000 words: split and glued words ("PR OPERTIES", "andexisting") show up here, while
    words both extractors read alike cancel out."""
    mine, theirs = WORD.findall(text), set(WORD.findall(other))
    return round(10_000 * sum(1 for w in mine if w not in theirs) / max(1, len(mine)), 1)


def pypdf_text(path: Path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(path)
    if reader.is_encrypted:
        reader.decrypt("")
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def parse_rates(files: list[Path]) -> dict:
    rows, totals = [], {"old": [0.0, 0], "new": [0.0, 0]}
    for f in files:
        data = f.read_bytes()
        pages = count_pages(f)
        row = {"file": f.name, "pages": pages}
        texts = {}
        for name in ("new", "old") if len(rows) % 2 else ("old", "new"):  # alternate which goes first
            t = time.perf_counter()
            try:
                texts[name] = read_pdf(f, data).text if name == "new" else pypdf_text(f)
            except Exception as exc:  # the old extractor fails on AES-encrypted files without `cryptography`
                row[name] = {"error": f"{type(exc).__name__}: {exc}"[:120]}
                continue
            seconds = time.perf_counter() - t
            row[name] = {"seconds": round(seconds, 3), "pages_per_s": round(pages / seconds, 1)}
            totals[name][0] += seconds
            totals[name][1] += pages
        if len(texts) == 2:
            row["old"]["only_here_per_10k"] = only_here(texts["old"], texts["new"])
            row["new"]["only_here_per_10k"] = only_here(texts["new"], texts["old"])
        rows.append(row)
        print(f"  {f.name:<45} {pages:>4} pages  old {_fmt(row['old'])}  new {_fmt(row['new'])}", flush=True)
    both = [r for r in rows if "seconds" in r["old"] and "seconds" in r["new"]]
    return {
        "files": rows,
        "old_pages_per_s": round(totals["old"][1] / max(1e-9, totals["old"][0]), 1),
        "new_pages_per_s": round(totals["new"][1] / max(1e-9, totals["new"][0]), 1),
        "speedup_on_files_both_read": round(sum(r["old"]["seconds"] for r in both) / max(1e-9, sum(r["new"]["seconds"] for r in both)), 1),
        "old_failed": [r["file"] for r in rows if "error" in r["old"]],
        "new_failed": [r["file"] for r in rows if "error" in r["new"]],
    }


def _fmt(cell: dict) -> str:
    return f"{cell['pages_per_s']:>7.1f} p/s ({cell.get('only_here_per_10k', '-')} words/10k only here)" if "seconds" in cell else f"FAILED ({cell['error'][:40]})"


def ingest(folder: Path, home: Path, workers: int) -> dict:
    kb = KnowledgeBase(Settings.load(env={}, home=home, parse_workers=workers))
    _ = kb.embedder._model  # the model load is paid once per process: not part of the rate
    report = kb.ingest([folder])
    return {"parse_workers": workers, "seconds": round(report.seconds, 2), "pages": report.pages,
            "passages": report.passages_new, "pages_per_s": round(report.pages / report.seconds, 2),
            "passages_per_s": round(report.passages_new / report.seconds, 2),
            "failed": report.failed, "warnings": report.warnings,
            "documents": [{"title": d.title, "date": d.date, "organisation": d.organisation, "period": d.period,
                           "kind": d.kind, "pages": d.pages, "passages": d.passages} for d in kb.documents()]}


def raw_encode(home: Path) -> dict:
    kb = KnowledgeBase(Settings.load(env={}, home=home))
    texts = [r[0] for r in kb.store.connection().execute("SELECT clean FROM passages")]
    model = kb.embedder._model
    t = time.perf_counter()
    model.encode(texts, batch_size=kb.settings.batch_size, normalize_embeddings=True, show_progress_bar=False)
    seconds = time.perf_counter() - t
    return {"passages": len(texts), "seconds": round(seconds, 2), "passages_per_s": round(len(texts) / seconds, 2)}


def resume(folder: Path, home: Path, total_pages: int) -> dict:
    cmd = [sys.executable, "-m", "kb.cli", "--home", str(home), "ingest", "--json", str(folder)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = home / "kb.sqlite3"
    committed_pages = 0
    while proc.poll() is None:
        time.sleep(0.5)
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
                    committed_pages = conn.execute("SELECT COALESCE(SUM(pages), 0) FROM documents").fetchone()[0]
            except sqlite3.Error:
                continue
            if committed_pages >= total_pages / 2:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait()
    with sqlite3.connect(db) as conn:
        docs = [r[0] for r in conn.execute("SELECT id FROM documents")]
        keys_at_kill = {r[0] for r in conn.execute("SELECT key FROM passages")}
        committed = {r[0] for r in conn.execute("SELECT passage FROM occurrences")}
    t = time.perf_counter()
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    report = json.loads(again.stdout)
    with sqlite3.connect(db) as conn:
        final = {r[0] for r in conn.execute("SELECT key FROM passages")}
        of_committed = {r[0] for r in conn.execute(
            f"SELECT passage FROM occurrences WHERE document IN ({','.join('?' * len(docs))})", docs)} if docs else set()
    new_keys = final - keys_at_kill
    return {"killed_at_pages": committed_pages, "total_pages": total_pages, "documents_committed_at_kill": len(docs),
            "passages_committed_at_kill": len(committed), "rerun_skipped": len(report["skipped"]),
            "rerun_added": len(report["added"]), "rerun_passages_embedded": report["passages_embedded"],
            "reembedded_of_committed_documents": len(new_keys & of_committed),
            "rerun_seconds": round(time.perf_counter() - t, 1), "killed_by_signal": proc.returncode == -signal.SIGKILL}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "corpus" / "filings")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "output" / "ingest-folder.json")
    ap.add_argument("--skip-resume", action="store_true")
    args = ap.parse_args()
    files = sorted(args.folder.glob("*.pdf"))
    if not files:
        sys.exit(f"no PDF files in {args.folder}")
    total_pages = sum(count_pages(f) for f in files)
    print(f"{len(files)} PDFs, {total_pages} pages, in {args.folder}")
    out: dict = {"folder": str(args.folder), "files": len(files), "pages": total_pages, "cpus": os.cpu_count(),
                 "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}

    print("1. parse rate, pypdf (old) against PDFium (new), alternating file by file")
    out["parse"] = parse_rates(files)
    p = out["parse"]
    print(f"  all pages: old {p['old_pages_per_s']} p/s, new {p['new_pages_per_s']} p/s; "
          f"{p['speedup_on_files_both_read']}x on the files both read; old failed on {p['old_failed'] or 'none'}")

    print("2. end-to-end ingest (bundled model), with parse workers, raw encode, without workers")
    with tempfile.TemporaryDirectory(prefix="kb-bench-folder-") as tmp:
        tmp = Path(tmp)
        with_workers = ingest(args.folder, tmp / "a", workers=1)
        print(f"  ingest, 1 parse worker: {with_workers['seconds']} s, {with_workers['pages_per_s']} pages/s, "
              f"{with_workers['passages_per_s']} passages/s", flush=True)
        encodes = [raw_encode(tmp / "a")]
        print(f"  raw model.encode of the same {encodes[0]['passages']} passages: {encodes[0]['passages_per_s']} passages/s", flush=True)
        without = ingest(args.folder, tmp / "b", workers=0)
        print(f"  ingest, parsing in-process: {without['seconds']} s, {without['passages_per_s']} passages/s", flush=True)
        encodes.append(raw_encode(tmp / "a"))  # again: the two ingests and two encodes interleave, so drift falls on both sides
        print(f"  raw model.encode again: {encodes[1]['passages_per_s']} passages/s", flush=True)
        encode = {"passages": encodes[0]["passages"], "seconds": round(sum(e["seconds"] for e in encodes) / 2, 2),
                  "passages_per_s": round(sum(e["passages_per_s"] for e in encodes) / 2, 2),
                  "runs_passages_per_s": [e["passages_per_s"] for e in encodes]}
        out["ingest"] = {"with_workers": with_workers, "raw_encode": encode, "in_process": without,
                         "ratio_with_workers": round(with_workers["passages_per_s"] / encode["passages_per_s"], 3),
                         "ratio_in_process": round(without["passages_per_s"] / encode["passages_per_s"], 3),
                         "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                         "peak_rss_workers_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}
        i = out["ingest"]
        print(f"  ingest / raw encode: {i['ratio_with_workers']} with workers, {i['ratio_in_process']} in-process; "
              f"peak memory {i['peak_rss_mb']} MB (workers {i['peak_rss_workers_mb']} MB)")
        for d in with_workers["documents"]:
            print(f"    {d['date']}  {d['pages'] or '-':>4} pages {d['passages']:>5} passages  {d['title']}  [{d['kind']}, {d['period']}]")
        if not args.skip_resume:
            print("3. resume: kill -9 at about half the pages, run again", flush=True)
            out["resume"] = resume(args.folder, tmp / "c", total_pages)
            r = out["resume"]
            print(f"  killed with {r['killed_at_pages']} of {r['total_pages']} pages committed ({r['documents_committed_at_kill']} documents); "
                  f"rerun skipped {r['rerun_skipped']}, added {r['rerun_added']}, embedded {r['rerun_passages_embedded']} passages, "
                  f"of which {r['reembedded_of_committed_documents']} belonged to documents committed before the kill")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
