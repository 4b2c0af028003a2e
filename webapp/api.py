"""The JSON API: search, health, documents. Every parameter is validated; errors share one shape."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from kb.errors import InvalidRequest
from kb.validation import FILTERS

bp = Blueprint("api", __name__)

_BODY_KEYS = {"query", "k", "mode", "filters", "explain", "rerank", "diversify", "min_score"}
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
        unknown = sorted(set(args) - {"q", "query", "k", "mode", "explain", "rerank", "diversify", "min_score", *FILTERS})
        if unknown:
            raise InvalidRequest(f"unknown parameter {unknown[0]!r}.", "invalid_request")
        filters = {name: args.getlist(name) if name == "document" else args[name] for name in FILTERS if name in args}
        return {
            "query": args.get("q", args.get("query", "")),
            "k": _int(args["k"], "k") if "k" in args else None,
            "mode": args.get("mode", "hybrid"),
            "filters": filters or None,
            "explain": _bool(args.get("explain", "false"), "explain"),
            "rerank": _bool(args["rerank"], "rerank") if "rerank" in args else None,
            "diversify": _bool(args.get("diversify", "false"), "diversify"),
            "min_score": _float(args["min_score"], "min_score") if "min_score" in args else None,
        }
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidRequest("The body must be a JSON object (Content-Type: application/json).", "invalid_json")
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
        "mode": mode,
        "filters": body.get("filters"),
        "explain": _bool(body.get("explain", False), "explain"),
        "rerank": _bool(body["rerank"], "rerank") if body.get("rerank") is not None else None,
        "diversify": _bool(body.get("diversify", False), "diversify"),
        "min_score": body.get("min_score"),
    }


@bp.route("/search", methods=["GET", "POST"])
def search():
    started = time.perf_counter()
    args = _search_args()
    kb = _kb()
    results = kb.search(**args)
    out = {
        "query": args["query"].strip(),
        "mode": args["mode"],
        "rerank": kb.settings.rerank if args["rerank"] is None else args["rerank"],
        "results": [r.to_dict() for r in results],
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if not results:
        out["message"] = NO_MATCH
    return jsonify(out)


@bp.get("/health")
def health():
    kb = _kb()
    counts = kb.store.counts()
    return jsonify({"status": "ok", "model": kb.model, "documents": counts["documents"], "passages": counts["passages"]})


@bp.get("/documents")
def documents():
    return jsonify({"documents": [d.to_dict() for d in _kb().documents()]})


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    return jsonify(_kb().document(doc_id).to_dict())
