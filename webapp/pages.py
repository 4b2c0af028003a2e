"""The staff search page: a plain GET form, results rendered on the server (no JavaScript needed)."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, render_template, request

from kb.errors import InvalidRequest

bp = Blueprint("pages", __name__)

MODES = (("hybrid", "Meaning + keywords"), ("dense", "Meaning only"), ("lexical", "Keywords only"))


def segments(text: str, highlights) -> list[tuple[str, bool]]:
    """Split `text` into (piece, highlighted) runs; the template escapes every piece."""
    marks = []
    for h in highlights:
        at = text.find(h)
        if at >= 0:
            marks.append((at, at + len(h)))
    out, pos = [], 0
    for start, end in sorted(marks):
        if start < pos:
            continue
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return out


@bp.get("/")
def search():
    kb = current_app.extensions["kb"]
    query = request.args.get("q", "")
    mode = request.args.get("mode", "hybrid")
    k_raw = request.args.get("k", "")
    results, error, took = None, None, None
    if query.strip():
        started = time.perf_counter()
        try:
            k = int(k_raw) if k_raw else None
        except ValueError:
            k, error = None, "The number of results must be a whole number."
        if error is None:
            try:
                results = kb.search(query, k=k, mode=mode)
            except InvalidRequest as exc:
                error = exc.message
        took = (time.perf_counter() - started) * 1000
    status = 400 if error else 200
    return render_template(
        "search.html", query=query, mode=mode, k=k_raw, modes=MODES, results=results, error=error,
        took=took, segments=segments, stats=None if query.strip() else kb.store.counts(),
    ), status
