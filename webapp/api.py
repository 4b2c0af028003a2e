"""The JSON API, served at /api/v1 (and at /api, the same routes, kept as an alias).

Every parameter is validated; every error has one shape (see `errors.py`).
"""

from __future__ import annotations

import time
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request

from kb import reading
from kb.errors import InvalidRequest, NotFound, Unprocessable, is_disk_full
from kb.faults import disk_full
from kb.loaders import SUPPORTED
from kb.validation import parse_float, parse_int, safe_file_name, validate_highlight, validate_k

from .errors import error_response
from .jobs import DiskFull
from .params import from_body, from_query

bp = Blueprint("api", __name__)

MAX_BATCH = 32
PASSAGE_PAGE, MAX_PASSAGE_PAGE = 50, 500  # a document's passages per answer
NO_MATCH = "No passage matched well enough. Try other words, fewer words, or another mode."


def _kb():
    return current_app.extensions["kb"]


def _search_args() -> dict:
    return from_query(request.args) if request.method == "GET" else from_body(_json_body())


def _json_body():
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested past Python's limit: as invalid as any other bad JSON
        raise InvalidRequest("The body is nested too deeply.", "invalid_json") from None
    if body is None:
        raise InvalidRequest("The body must be JSON (Content-Type: application/json).", "invalid_json")
    return body


def _run(args: dict) -> dict:
    started = time.perf_counter()
    kb = _kb()
    results = kb.search(**args)
    current_app.extensions["kb_metrics"]["search"].labels(args["mode"]).observe(time.perf_counter() - started)
    out = {
        "query": args["query"].strip(),
        "mode": args["mode"],
        "rerank": kb.rerank_by_default if args["rerank"] is None else args["rerank"],
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
            args = from_body(query)
            kb.validate(args["query"], args["k"], args["mode"], args["filters"])
            validate_highlight(args["highlight"])
        except InvalidRequest as exc:  # the same code, saying which search it was
            raise type(exc)(f"queries[{i}]: {exc.message}", exc.code) from None
        batch.append(args)
    return jsonify({"results": [_run(args) for args in batch]})


@bp.get("/health")
def health():
    """Liveness: the process answers and the store opens."""
    kb = _kb()
    counts = kb.counts()
    return jsonify({"status": "ok", "model": kb.model, "documents": counts.documents, "passages": counts.passages})


@bp.get("/ready")
def ready():
    """Readiness: the model is loaded and the index is open (503 until then)."""
    kb = _kb()
    engine_open = kb.counts().passages == 0 or kb.engine() is not None
    state = {"model_loaded": kb.embedder_loaded, "index_open": engine_open, "generation": kb.generation(),
             "index_saved": kb.index_saved()}  # False: a full disk; searches answer from memory
    ok = state["model_loaded"] and state["index_open"]
    return jsonify({"status": "ready" if ok else "starting", **state}), 200 if ok else 503


@bp.get("/documents")
def documents():
    return jsonify({"documents": [d.to_dict() for d in _kb().documents()]})


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    """A document's metadata and, in reading order, a page of its passages: `limit` (1-500,
    default 50) from `offset`; `next_offset` is where the next page starts (null at the end)."""
    offset = parse_int(request.args.get("offset", "0"), "offset")
    limit = parse_int(request.args.get("limit", str(PASSAGE_PAGE)), "limit")
    if offset < 0 or not 1 <= limit <= MAX_PASSAGE_PAGE:
        raise InvalidRequest(f"offset must be 0 or more and limit from 1 to {MAX_PASSAGE_PAGE}.", "invalid_request")
    return jsonify(reading.document_page(_kb(), doc_id, offset, limit))


@bp.get("/documents/<doc_id>/file")
def download_document(doc_id: str):
    """The original file as ingested (kept in the home); markup is sent as plain text."""
    from .pages import document_file

    return document_file(doc_id)


@bp.patch("/documents/<doc_id>")
def edit_document(doc_id: str):
    """Set a document's title, organisation, date, period, kind or series (needs an API key).
    The values are kept as edits and survive re-ingest of the file; null or "" clears one."""
    body = _json_body()
    if not isinstance(body, dict) or not body:
        raise InvalidRequest("The body must be a JSON object with one or more of: title, organisation, date, period, kind, series.",
                             "invalid_json")
    doc = _kb().edit_document(doc_id, **body)
    return jsonify(doc.to_dict())


@bp.delete("/documents/<doc_id>")
def delete_document(doc_id: str):
    """Remove a document from the store and every index (needs an API key)."""
    return jsonify({"removed": _kb().remove(doc_id).summary()})


@bp.post("/documents")
def upload_documents():
    """Upload files to ingest (multipart/form-data, field `files`, needs an API key): 202 with
    a job to follow at /api/v1/jobs/<id>. With `wait=N` (seconds, at most 60) the answer waits
    that long for the job: 201 (added or updated), 200 (unchanged) or 422 (nothing readable)
    with the ingest report if it finished, 202 if not.

    Names keep their letters in any script and are made safe (`safe_file_name`); uploading a
    file of the same name again updates that document. Nothing is saved unless every file has
    a supported type and a distinct name; a file that cannot be read is reported and removed.
    """
    jobs = current_app.extensions["kb_jobs"]
    wait = parse_float(request.args.get("wait", "0"), "wait")
    if not 0 <= wait <= 60:
        raise InvalidRequest("wait must be from 0 to 60 seconds.", "invalid_wait")
    files = request.files.getlist("files")
    if not files:
        raise InvalidRequest("Send one or more files as multipart/form-data, field 'files'.", "invalid_request")
    named = []
    for f in files:
        name = safe_file_name(f.filename)
        if Path(name).suffix.lower() not in SUPPORTED:
            raise Unprocessable(f"{f.filename!r} is not a supported document ({', '.join(sorted(SUPPORTED))}).", "unsupported_type")
        if any(name == other for other, _ in named):
            raise InvalidRequest(f"Two files would be saved as {name!r}: upload them separately or rename one.", "duplicate_name")
        named.append((name, f))
    saved: list[tuple[str, Path]] = []
    try:
        for name, f in named:
            saved.append((name, jobs.new_file()))
            disk_full("upload")
            f.save(saved[-1][1])
        job = jobs.submit(saved)
    except BaseException as exc:
        for _, path in saved:
            path.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise DiskFull("The disk is full: the upload was not saved and nothing changed. Free some space and try again.") from None
        raise
    if wait:
        jobs.wait(job, wait)
    return _job_answer(job)


def _job_answer(job):
    if job.state == "done":
        r = job.report
        status = 201 if r["added"] or r["updated"] else 200 if r["skipped"] else 422
        return jsonify({**r, "job": job.to_dict()}), status
    if job.state == "failed":
        status = 507 if job.error["code"] == "disk_full" else 500
        return error_response(status, job.error["code"], f"{job.error['message']} (job {job.id})")
    response = jsonify({"job": job.to_dict()})
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return response, 202


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    """An upload's job: state (queued, running, done, failed), progress, and its ingest report."""
    found = current_app.extensions["kb_jobs"].get(job_id) if len(job_id) == 16 else None
    if found is None:
        raise NotFound(f"no job with id {job_id!r} (jobs are kept in the server's memory, the last 500 finished)")
    return jsonify(found.to_dict())


@bp.get("/passages/<passage_id>")
def passage(passage_id: str):
    """One passage, where it stands, and its neighbours (`around` 0-5 each side, default 1)."""
    around = parse_int(request.args.get("around", "1"), "around")
    if not 0 <= around <= 5:
        raise InvalidRequest("around must be from 0 to 5.", "invalid_around")
    return jsonify(reading.passage_around(_kb(), passage_id, around))


@bp.get("/series")
def series():
    """Report series: editions of one organisation's report across years (`kb.series`)."""
    return jsonify({"series": [x.to_dict() for x in _kb().series()]})


@bp.get("/passages/<passage_id>/similar")
def similar(passage_id: str):
    """More like this: the passages of other documents closest in meaning to this one."""
    from kb.related import more_like_this, place_dict

    kb = _kb()
    raw = request.args.get("k")
    k = validate_k(kb.settings, None if raw is None else parse_int(raw, "k"))
    source, results = more_like_this(kb, passage_id, k)
    return jsonify({"passage": place_dict(source), "results": [r.to_dict() for r in results]})


@bp.get("/passages/<passage_id>/editions")
def editions(passage_id: str):
    """Compare editions: the closest passage in each other edition of the passage's series."""
    from kb.related import compare_editions

    return jsonify(compare_editions(_kb(), passage_id).to_dict())
