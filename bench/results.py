"""Write bench/RESULTS.md and bench/scaling.png from the JSON the benchmarks left in bench/output/.

    python bench/results.py        # `make bench` runs every benchmark first, then this

Needs matplotlib (in bench/requirements.txt); without it the table is written and the plot skipped.
"""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "output"


def _load(name: str):
    path = OUT / name
    return json.loads(path.read_text()) if path.exists() else None


def _when(*names: str) -> str:
    """When the benchmark that wrote these files finished (sections may come from different runs)."""
    times = [(OUT / n).stat().st_mtime for n in names if (OUT / n).exists()]
    return f"_Measured {datetime.fromtimestamp(max(times), timezone.utc):%Y-%m-%d %H:%M} UTC._" if times else ""


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _table(head: list[str], rows: list[list]) -> list[str]:
    cell = lambda v: "-" if v is None else str(v)  # noqa: E731
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(cell(v) for v in r) + " |" for r in rows)]


def ingest_section(b) -> list[str]:
    if not b:
        return ["(bench/bench_kb.py has not run)"]
    r = b["reingest_one_edited"] if "reingest_one_edited" in b else None
    lines = [f"{b['documents']} SciFact abstracts as .txt files, {b['passages']} passages, through `kb ingest` "
             f"(parse, clean, chunk, dedup, embed, SQLite, FAISS, BM25) against `model.encode` on the same passage texts:", "",
             *_table(["", "passages/s", "seconds"], [["kb ingest", b["ingest_passages_per_s"], b["ingest_s"]],
                                                    ["raw model.encode", b["raw_encode_passages_per_s"], None]]),
             "", f"**ingest / raw encode = {b['ingest_vs_encode']}** (target ≥ 0.9)."
             + (f" kb ingest is the mean of two runs into fresh homes, before and after the raw encode "
                f"({' and '.join(str(r) for r in b['ingest_runs_passages_per_s'])} passages/s), so a drift of the machine's speed "
                "moves both sides alike." if "ingest_runs_passages_per_s" in b else "")]
    if r:
        lines += ["", f"Re-ingesting the bundled report ({r.get('document', 'sample')}) with one sentence added mid-way: "
                      f"{r['passages_embedded']} passage(s) embedded again, {r['passages_reused']} reused, {r['seconds']} s."]
    lines += ["", f"In-process search on that home (ms, k=10, {b['queries']} queries, query vector cache cleared per query):", "",
              *_table(["mode", "default p50", "p99", "no rerank p50", "p99", "engine p50", "p99"],
                      [[m, v["search_p50_ms"], v["search_p99_ms"], v["no_rerank_p50_ms"], v["no_rerank_p99_ms"],
                        v["engine_p50_ms"], v["engine_p99_ms"]] for m, v in b["latency"].items()]),
              "", f"Peak RSS of the benchmark process {b['peak_rss_mb']} MB (model, torch, indexes)."]
    return lines


def scale_section(s) -> list[str]:
    if not s:
        return ["(bench/scale.py has not run)"]
    rows = s["rows"]
    lines = ["12k is the real SciFact home; 100k and 1M are synthetic, grown from it (see bench/scale.py). "
             "Store write: synthetic passages with their vectors into SQLite; index build: HNSW (or Flat) and BM25 from the store, "
             "as after an ingest (times from the run that built each home). Vector and lexical search inside the process "
             "(ms, one query at a time, SciFact's 300 test queries; recall against exact search):", "",
             *_table(["passages", "index", "store write s", "index build s", "ANN p50", "ANN p99", "recall@10", "exact p50", "BM25 p50", "BM25 p99",
                      "vector RAM MB", "index on disk MB"],
                     [[f"{r['passages']:,}", r["vector_index"], r.get("store_s"), r.get("build_s"), r["ann_p50_ms"], r["ann_p99_ms"], r["recall@10"],
                       r["flat_p50_ms"], r["lexical_p50_ms"], r["lexical_p99_ms"], r["ann_ram_mb"], r["index_disk_mb"]] for r in rows]),
             "", "A write at each size: one small report (ten SciFact abstracts) added through `ingest_records`, then removed, "
                 "with the model loaded and the index in memory (bench/scale.py `measure_writes`). Beyond embedding its passages, "
                 "a write merges its passages into BM25 and computes every BM25 weight again (only new passages analysed), copies the vector index it "
                 "changes (searches keep the old one meanwhile) and writes the index files.", "",
             *_table(["passages", "new passages", "add s", "remove s"],
                     [[f"{r['passages']:,}", r.get("write_passages"), r.get("add_report_s"), r.get("remove_report_s")] for r in rows]),
             "", "Through `kb serve` (waitress) over HTTP, one client on the same 2 cores, 300 queries each, every query text new "
                 "to the server, the home's files in the OS page cache (read once first, as after a while of serving). "
                 "Floor = one ONNX query encode + one vector search (k=10) in the benchmark's own process, measured right before each request. "
                 "dense/hybrid: `rerank=false&highlight=none` (ranked passages with text, source and relevance); "
                 "+terms: dense with `highlight=terms`; default: hybrid with the second stage and model-chosen highlights. "
                 "× floor: p50 over floor p50, p99 over floor p99, each shape against the floor measured beside its own requests "
                 "(the floor columns are over all four shapes; targets: dense ≤ 1.2, hybrid ≤ 1.5).", "",
             *_table(["passages", "floor p50", "p99", "dense p50", "p99", "× floor p50", "× p99", "hybrid p50", "p99", "× floor p50",
                      "× p99", "+terms p50", "× floor", "default p50", "p99"],
                     [[f"{r['passages']:,}", r["floor_p50_ms"], r["floor_p99_ms"], r["dense_p50_ms"], r["dense_p99_ms"],
                       r["dense_x_floor"], r.get("dense_p99_x_floor"), r["hybrid_p50_ms"], r["hybrid_p99_ms"], r["hybrid_x_floor"],
                       r.get("hybrid_p99_x_floor"), r.get("dense_terms_p50_ms"), r.get("dense_terms_x_floor"),
                       r["hybrid_default_p50_ms"], r["hybrid_default_p99_ms"]] for r in rows]),
             "", "Where a dense request's time goes. In-process: the same search run inside the benchmark's process "
                 "(same parameters, between the floor and the request). In the server: the search as the server times it "
                 "(`took_ms`); around it: the request's latency minus that (Flask, waitress, the client), p50 of the "
                 "per-request difference. Bare HTTP: the same client against waitress answering at once with a body "
                 "of the same size (the dense responses' median; no Flask, no kb). Web layer: `kb serve`'s own app, hooks and "
                 "server with its search answered from memory (each query's own results, searched once beforehand). Both are measured as the requests above are, each right after a floor measurement "
                 "(the server idle meanwhile), and floor + web layer over floor is the best ratio any search could reach "
                 "through this web layer on this machine.", "",
             *_table(["passages", "floor p50", "search in-process p50", "p99", "× floor", "in the server p50", "around it p50",
                      "response bytes", "bare HTTP p50", "p99", "web layer p50", "p99", "best × floor", "over HTTP p50", "× floor"],
                     [[f"{r['passages']:,}", r.get("dense_floor_p50_ms"), r.get("dense_in_process_p50_ms"), r.get("dense_in_process_p99_ms"),
                       r.get("dense_in_process_x_floor"), r.get("dense_server_p50_ms"), r.get("dense_around_p50_ms"),
                       r.get("response_bytes"), r.get("transport_p50_ms"), r.get("transport_p99_ms"), r.get("web_p50_ms"), r.get("web_p99_ms"),
                       r.get("web_best_x_floor"), r["dense_p50_ms"], r["dense_x_floor"]] for r in rows]),
             "", "The server after those requests:", "",
             *_table(["passages", "ready s", "RSS MB", "private MB", "file-backed MB"],
                     [[f"{r['passages']:,}", r["ready_s"], r["rss_mb"], r["private_mb"], r["file_mb"]] for r in rows]),
             "", "![how costs grow with the collection](scaling.png)"]
    return lines


def plot(s) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = s["rows"]
    n = [r["passages"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label in [("ann_p50_ms", "vector search (index in use)"), ("flat_p50_ms", "exact search (Flat)"),
                       ("lexical_p50_ms", "BM25, depth 200"), ("floor_p50_ms", "floor: encode + vector search"),
                       ("dense_p50_ms", "HTTP dense"), ("hybrid_p50_ms", "HTTP hybrid"), ("hybrid_default_p50_ms", "HTTP default")]:
        left.plot(n, [r[key] for r in rows], marker="o", label=label)
    left.set(xscale="log", yscale="log", xlabel="passages", ylabel="p50 latency, ms", title="Latency")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)
    for key, label in [("private_mb", "server private memory"), ("file_mb", "server file-backed (mmap)"), ("ann_ram_mb", "vector index in RAM")]:
        right.plot(n, [r[key] for r in rows], marker="o", label=label)
    right.set(xscale="log", xlabel="passages", ylabel="MB", title="Memory")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ROOT / "bench" / "scaling.png", dpi=110)
    return True


def load_section(loads) -> list[str]:
    lines = []
    for name, data in loads:
        if not data:
            continue
        ask = f"{data['path']}?q=…&k=10" + (f"&{data['params']}" if data.get("params") else " (defaults)")
        lines += [f"{name}: `GET {ask}`, {data['seconds']:.0f} s per level, "
                  f"{'each request text new' if data.get('distinct_texts') else 'repeated texts'}:", "",
                  *_table(["clients", "req/s", "p50 ms", "p99 ms", "errors"],
                          [[v["clients"], v["requests_per_s"], v["p50_ms"], v["p99_ms"], v["errors"]] for v in data["levels"]]), ""]
    return lines or ["(bench/load.py has not run)"]


def compare_section(c) -> list[str]:
    if not c:
        return ["(bench/compare.py has not run)"]
    rows = c["rows"]
    kb = next((r for r in rows if r["system"] == "kb"), None)
    lines = [f"{c['dataset']} ({c['corpus']} documents, {rows[0]['queries']} {c['split']} queries), one process, same model "
             "(bundled all-MiniLM-L6-v2, torch for documents), each system's recommended hybrid setup (see bench/compare.py). "
             + (f"The queries go to the systems in blocks of {c['block']}, in turn, so the machine's drift falls on all alike:"
                if c.get("block") else "Each system answered all its queries before the next one ran:"), "",
             *_table(["system", "indexed", "ingest s", "query p50 ms", "query p99 ms", "nDCG@10", "recall@10", "kb faster per query (p50)"],
                     [[r["system"], r["indexed"], r["ingest_seconds"], r["query_p50_ms"], r["query_p99_ms"], r["ndcg@10"], r["recall@10"],
                       f"{r['query_p50_ms'] / kb['query_p50_ms']:.2f}×" if kb and r is not kb else None] for r in rows])]
    return lines


def folder_section(f) -> list[str]:
    if not f:
        return ["(bench/ingest_folder.py has not run)"]
    p, i = f["parse"], f["ingest"]
    lines = [f"{f['files']} real PDF filings, {f['pages']} pages ({f['folder']}).", "",
             "Parse rate, pypdf (the old extractor) against PDFium (kb.pdf), file by file in alternation; "
             "\"only here\": per 10,000 words of each, the words whose form the other never has (split or glued words):", "",
             *_table(["file", "pages", "old pages/s", "new pages/s", "old only here /10k", "new only here /10k"],
                     [[r["file"], r["pages"], r["old"].get("pages_per_s", "failed"), r["new"].get("pages_per_s", "failed"),
                       r["old"].get("only_here_per_10k"), r["new"].get("only_here_per_10k")] for r in p["files"]]),
             "", f"All pages: old {p['old_pages_per_s']} pages/s, new {p['new_pages_per_s']} pages/s "
                 f"(**{p['speedup_on_files_both_read']}x** on the files both read).", "",
             "End-to-end `kb ingest` of the folder (bundled model) against raw `model.encode` of the same passages:", "",
             *_table(["", "seconds", "pages/s", "passages/s", "/ raw encode"],
                     [["ingest, 1 parse worker", i["with_workers"]["seconds"], i["with_workers"]["pages_per_s"],
                       i["with_workers"]["passages_per_s"], i["ratio_with_workers"]],
                      ["raw model.encode", i["raw_encode"]["seconds"], None, i["raw_encode"]["passages_per_s"], 1.0],
                      ["ingest, parsing in-process (the default on 2 cores)", i["in_process"]["seconds"], i["in_process"]["pages_per_s"],
                       i["in_process"]["passages_per_s"], i["ratio_in_process"]]]),
             "", f"Peak RSS: ingesting process {i['peak_rss_mb']} MB, parse workers {i['peak_rss_workers_mb']} MB."]
    if r := f.get("resume"):
        lines += ["", f"Resume: `kb ingest` killed (SIGKILL) with {r['killed_at_pages']} of {r['total_pages']} pages committed "
                      f"({r['documents_committed_at_kill']} documents); the re-run skipped {r['rerun_skipped']}, added {r['rerun_added']} "
                      f"and embedded {r['rerun_passages_embedded']} passages, **{r['reembedded_of_committed_documents']}** of them "
                      "from documents committed before the kill."]
    return lines


def main() -> None:
    bench, scale, compare = _load("bench_kb.json"), _load("scale.json"), _load("compare.json")
    plotted = bool(scale) and plot(scale)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    lines = ["# kb benchmark results", "",
             f"Generated by `make bench` (bench/results.py) on {datetime.now(timezone.utc):%Y-%m-%d}, commit {commit}.",
             f"Machine: {_cpu()}, {__import__('os').cpu_count()} cores, no GPU; Python {platform.python_version()}. "
             "Absolute times drift on shared machines; compare figures within one table.", "",
             "## Ingest", "", _when("bench_kb.json"), "", *ingest_section(bench), "",
             "## A folder of real report PDFs", "", _when("ingest-folder.json"), "", *folder_section(_load("ingest-folder.json")), "",
             "## Scale: 12k to 1M passages", "", _when("scale.json"), "", *scale_section(scale), "",
             "## Throughput", "", _when("load.json", "load-scifact.json", "load-scifact-nobatch.json", "load-scifact-lean.json",
                                        "load-scifact-lean-nobatch.json"), "", *load_section([("Sample home", _load("load.json")),
                             ("SciFact home (12k passages), concurrent query encodes batched (KB_QUERY_BATCH=8)", _load("load-scifact.json")),
                             ("SciFact, one encode at a time (KB_QUERY_BATCH=1, the default)", _load("load-scifact-nobatch.json")),
                             ("SciFact, lean dense requests (no rerank, no highlights), batched (KB_QUERY_BATCH=8)", _load("load-scifact-lean.json")),
                             ("SciFact, lean dense requests (no rerank, no highlights), one encode at a time (the default)", _load("load-scifact-lean-nobatch.json"))]),
             "## Side by side: kb, txtai, Haystack", "", _when("compare.json"), "", *compare_section(compare), ""]
    if scale and not plotted:
        lines.append("(matplotlib missing: scaling.png not drawn)")
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {ROOT / 'bench' / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
