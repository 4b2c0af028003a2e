"""The JSON API, served at /api/v1 (and at /api, the same routes, kept as an alias).

Every parameter is validated; every error has one shape (see `errors.py`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request
from werkzeug.utils import secure_filename

from kb.errors import InvalidRequest, NotFound
from kb.loaders import SUPPORTED
from kb.validation import FILTERS, validate_highlight

bp = Blueprint("api", __name__)

_BODY_KEYS = {"query", "k", "offset", "mode", "filters", "explain", "rerank", "diversify", "min_score", "highlight"}
_GET_KEYS = {"q", *(_BODY_KEYS - {"filters"}), *FILTERS}  # a GET gives each filter as its own parameter
MAX_BATCH = 32
NO_MATCH = "No passage matched well enough. Try other words, fewer words, or another mode."


def _kb():
    return current_app.extensions["kb"]


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{name} must be a whole number.", f"invalid_{name}") from None


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{name} must be a number.", f"invalid_{name}") from None


def _bool(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no", ""):
        return value.lower() in ("1", "true", "yes")
    raise InvalidRequest(f"{name} must be true or false.", "invalid_request")


def _search_args() -> dict:
    if request.method == "GET":
        args = request.args
        unknown = sorted(set(args) - _GET_KEYS)
        if unknown:
            raise InvalidRequest(f"unknown parameter {unknown[0]!r}.", "invalid_request")
        filters = {name: args.getlist(name) if name == "document" else args[name] for name in FILTERS if name in args}
        return {
            "query": args.get("q", args.get("query", "")),
            "k": _int(args["k"], "k") if "k" in args else None,
            "offset": _int(args["offset"], "offset") if "offset" in args else 0,
            "mode": args.get("mode", "hybrid"),
            "filters": filters or None,
            "explain": _bool(args.get("explain", "false"), "explain"),
            "rerank": _bool(args["rerank"], "rerank") if "rerank" in args else None,
            "diversify": _bool(args.get("diversify", "false"), "diversify"),
            "min_score": _float(args["min_score"], "min_score") if "min_score" in args else None,
            "highlight": args.get("highlight"),
        }
    return _body_args(_json_body())


def _json_body():
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidRequest("The body must be JSON (Content-Type: application/json).", "invalid_json")
    return body


def _body_args(body) -> dict:
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.", "invalid_json")
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}; known: {', '.join(sorted(_BODY_KEYS))}.", "invalid_request")
    mode = body.get("mode", "hybrid")
    if not isinstance(mode, str):
        raise InvalidRequest("mode must be a string.", "invalid_mode")
    return {
        "query": body.get("query", ""),
        "k": body.get("k"),
        "offset": body.get("offset", 0),
        "mode": mode,
        "filters": body.get("filters"),
        "explain": _bool(body.get("explain", False), "explain"),
        "rerank": _bool(body["rerank"], "rerank") if body.get("rerank") is not None else None,
        "diversify": _bool(body.get("diversify", False), "diversify"),
        "min_score": body.get("min_score"),
        "highlight": body.get("highlight"),
    }


def _run(args: dict) -> dict:
    started = time.perf_counter()
    kb = _kb()
    results = kb.search(**args)
    current_app.extensions["kb_metrics"]["search"].labels(args["mode"]).observe(time.perf_counter() - started)
    out = {
        "query": args["query"].strip(),
        "mode": args["mode"],
        "rerank": kb.settings.rerank if args["rerank"] is None else args["rerank"],
        "offset": args["offset"],
        "results": [r.to_dict() for r in results],
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if not results:
        out["message"] = NO_MATCH
    return out


@bp.route("/search", methods=["GET", "POST"])
def search():
    return jsonify(_run(_search_args()))


@bp.post("/search/batch")
def search_batch():
    """Many searches in one call: {"queries": [search body, ...]}; all are checked first."""
    body = _json_body()
    if not isinstance(body, dict) or set(body) != {"queries"} or not isinstance(body["queries"], list):
        raise InvalidRequest('The body must be {"queries": [search, ...]}.', "invalid_request")
    if not 1 <= len(body["queries"]) <= MAX_BATCH:
        raise InvalidRequest(f"A batch holds 1 to {MAX_BATCH} searches.", "invalid_request")
    kb = _kb()
    batch = []
    for i, query in enumerate(body["queries"]):  # validate all before running any
        try:
            args = _body_args(query)
            kb.validate(args["query"], args["k"], args["mode"], args["filters"])
            validate_highlight(args["highlight"])
        except InvalidRequest as exc:  # the same code, saying which search it was
            raise InvalidRequest(f"queries[{i}]: {exc.message}", exc.code) from None
        batch.append(args)
    return jsonify({"results": [_run(args) for args in batch]})


@bp.get("/health")
def health():
    """Liveness: the process answers and the store opens."""
    kb = _kb()
    counts = kb.store.counts()
    return jsonify({"status": "ok", "model": kb.model, "documents": counts["documents"], "passages": counts["passages"]})


@bp.get("/ready")
def ready():
    """Readiness: the model is loaded and the index is open (503 until then)."""
    kb = _kb()
    engine_open = kb.store.counts()["passages"] == 0 or kb.engine() is not None
    state = {"model_loaded": kb.embedder_loaded, "index_open": engine_open, "generation": kb.store.generation()}
    ok = state["model_loaded"] and state["index_open"]
    return jsonify({"status": "ready" if ok else "starting", **state}), 200 if ok else 503


@bp.get("/documents")
def documents():
    return jsonify({"documents": [d.to_dict() for d in _kb().documents()]})


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    """A document's metadata and, in reading order, its passages."""
    kb = _kb()
    doc = kb.document(doc_id)
    passages = [{"ordinal": n, "passage_id": pid, "section": section, "page": page, "text": text}
                for n, pid, section, page, text in kb.store.document_passages(doc.id)]
    return jsonify({**doc.to_dict(), "passage_list": passages})


@bp.get("/documents/<doc_id>/file")
def download_document(doc_id: str):
    """The original file as ingested (kept in the home); markup is sent as plain text."""
    from .pages import document_file

    return document_file(doc_id)


@bp.patch("/documents/<doc_id>")
def edit_document(doc_id: str):
    """Set a document's title, organisation, date, period or kind (needs an API key). The
    values are kept as edits and survive re-ingest of the file; null or "" clears one."""
    body = _json_body()
    if not isinstance(body, dict) or not body:
        raise InvalidRequest("The body must be a JSON object with one or more of: title, organisation, date, period, kind.",
                             "invalid_json")
    doc = _kb().edit_document(doc_id, **body)
    return jsonify(doc.to_dict())


@bp.delete("/documents/<doc_id>")
def delete_document(doc_id: str):
    """Remove a document from the store and every index (needs an API key)."""
    return jsonify({"removed": _kb().remove(doc_id).summary()})


@bp.post("/documents")
def upload_documents():
    """Ingest uploaded files (multipart/form-data, field `files`, needs an API key).

    Names are reduced to safe file names and saved under the home's uploads folder, so
    uploading a file of the same name again updates that document. Nothing is saved unless
    every file has a supported type; a file that cannot be read is reported and removed.
    """
    kb = _kb()
    files = request.files.getlist("files")
    if not files:
        raise InvalidRequest("Send one or more files as multipart/form-data, field 'files'.", "invalid_request")
    named = []
    for f in files:
        name = secure_filename(f.filename or "")
        if not name or Path(name).suffix.lower() not in SUPPORTED:
            raise InvalidRequest(f"{f.filename!r} is not a supported document ({', '.join(sorted(SUPPORTED))}).", "unsupported_type")
        named.append((name, f))
    folder = kb.home / "uploads"
    folder.mkdir(exist_ok=True)
    paths = []
    for name, f in named:
        tmp = folder / f".{name}.part"
        f.save(tmp)
        os.replace(tmp, folder / name)
        paths.append(folder / name)
    report = kb.ingest(paths)
    for path, _reason in report.failed:
        Path(path).unlink(missing_ok=True)
    status = 201 if report.added or report.updated else 200 if report.skipped else 422
    return jsonify(report.to_dict()), status


@bp.get("/passages/<passage_id>")
def passage(passage_id: str):
    """One passage, where it stands, and its neighbours (`around` 0-5 each side, default 1)."""
    kb = _kb()
    around = _int(request.args.get("around", "1"), "around")
    if not 0 <= around <= 5:
        raise InvalidRequest("around must be from 0 to 5.", "invalid_around")
    found = kb.store.passage_by_id(passage_id) if len(passage_id) == 16 else None
    if found is None:
        raise NotFound(f"no passage with id {passage_id!r}")
    key, doc_id = found
    passage, occurrence, document = kb.store.results_for([key], {"document": [doc_id]})[key]
    rows = kb.store.neighbours(doc_id, occurrence.ordinal, around)
    return jsonify({
        "passage_id": passage.id, "text": passage.text, "section": occurrence.section, "page": occurrence.page,
        "ordinal": occurrence.ordinal, "document": document.summary(),
        "before": [t for n, t in rows if n < occurrence.ordinal], "after": [t for n, t in rows if n > occurrence.ordinal],
    })
