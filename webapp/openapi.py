"""The API's OpenAPI 3.1 description, served at /api/v1/openapi.json and as a page at /api/v1/docs.

Tests keep it true: every route is in it, and real responses validate against its schemas.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template

from .api import MAX_BATCH
from .params import body_schema, query_parameters

__all__ = ["bp", "spec"]

bp = Blueprint("openapi", __name__)

_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_NUM = {"type": ["number", "null"]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    words = {400: "Invalid request", 401: "Missing or invalid API key", 404: "Not found", 405: "Method not allowed",
             413: "Body too large", 422: "Well formed, refused on meaning: a date not in the calendar, a date range that "
             "is empty, offset + k past the deepest result, a file type kb does not read", 429: "Rate limited (see Retry-After)",
             503: "Too many upload jobs waiting", 507: "The disk is full: nothing was saved"}
    return {str(s): _json(_ref("Error"), words[s]) for s in statuses}


def _param(name: str, schema: dict, description: str, where: str = "query", required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required, "description": description, "schema": schema}


SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "additionalProperties": False, "properties": {
        "error": {"type": "object", "required": ["code", "message"], "additionalProperties": False,
                  "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                 "request_id": {"type": "string", "description": "Also the X-Request-Id header: quote it to find the request in the log."}}}}},
    "DocumentSummary": {"type": "object", "required": ["id", "title", "source", "date", "organisation", "period", "kind"], "properties": {
        "id": {"type": "string"}, "title": {"type": "string"}, "source": {"type": "string"}, "date": _NULLABLE_STR,
        "organisation": _NULLABLE_STR, "period": _NULLABLE_STR, "kind": _NULLABLE_STR}},
    "Document": {"allOf": [_ref("DocumentSummary"), {"type": "object", "required": ["format", "pages", "passages", "ingested_at", "edited"],
                 "properties": {"format": {"type": "string"}, "pages": _NULLABLE_INT, "passages": {"type": "integer"},
                                "ingested_at": _NULLABLE_STR,
                                "edited": {"type": "array", "items": {"enum": ["title", "organisation", "date", "period", "kind", "series"]}},
                                "series": {"type": ["string", "null"], "description": "The series a person put it in (GET /series lists every series, found or set)."}}}]},
    "DocumentEdit": {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 300},
        "organisation": {"type": ["string", "null"], "maxLength": 200},
        "date": {"type": ["string", "null"], "pattern": "^$|^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$",
                 "description": "YYYY, YYYY-MM or YYYY-MM-DD, a real date (400 otherwise)."},
        "period": {"type": ["string", "null"], "maxLength": 60}, "kind": {"type": ["string", "null"], "maxLength": 60},
        "series": {"type": ["string", "null"], "maxLength": 200,
                   "description": "The report series by name (editions of one report across years); \"none\" keeps it out of any."}}},
    "DocumentWithPassages": {"allOf": [_ref("Document"), {"type": "object", "required": ["passage_list"], "properties": {
        "passage_list": {"type": "array", "items": {"type": "object", "required": ["ordinal", "passage_id", "section", "page", "text"],
                         "properties": {"ordinal": {"type": "integer"}, "passage_id": {"type": "string"}, "section": _NULLABLE_STR,
                                        "page": _NULLABLE_INT, "text": {"type": "string"}}}}}}]},
    "Explain": {"type": "object", "properties": {
        "dense_score": _NULLABLE_NUM, "dense_rank": _NULLABLE_INT, "lexical_score": _NULLABLE_NUM, "lexical_rank": _NULLABLE_INT,
        "rerank_score": _NULLABLE_NUM, "relevance": _NULLABLE_NUM, "matched_terms": {"type": "array", "items": {"type": "string"}},
        "matched_words": {"type": "array", "items": {"type": "string"}}}},
    "Result": {"type": "object", "required": ["rank", "score", "relevance", "match", "passage_id", "text", "highlights", "section", "page", "document", "also_in"],
               "properties": {
                   "rank": {"type": "integer", "minimum": 1}, "score": {"type": "number"},
                   "relevance": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                   "match": {"enum": ["strong", "partial", "weak", None]},
                   "passage_id": {"type": "string"}, "text": {"type": "string"},
                   "highlights": {"type": "array", "items": {"type": "string"}},
                   "section": _NULLABLE_STR, "page": _NULLABLE_INT, "document": _ref("DocumentSummary"), "explain": _ref("Explain"),
                   "also_in": {"type": "array", "description": "The same passage, or nearly, in other editions of its report series.",
                               "items": _ref("Place")}}},
    "Place": {"type": "object", "required": ["passage_id", "section", "page", "document"], "properties": {
        "passage_id": {"type": "string"}, "text": {"type": "string"}, "section": _NULLABLE_STR, "page": _NULLABLE_INT,
        "document": _ref("DocumentSummary")}},
    "Series": {"type": "object", "required": ["id", "name", "editions"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"},
        "editions": {"type": "array", "items": {"type": "object", "required": ["year", "label", "document"], "properties": {
            "year": _NULLABLE_INT, "label": {"type": "string"}, "document": _ref("DocumentSummary")}}}}},
    "Comparison": {"type": "object", "required": ["passage", "series", "editions"], "properties": {
        "passage": _ref("Place"), "series": {"type": "object", "required": ["id", "name"], "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}}},
        "editions": {"type": "array", "items": {"type": "object", "required": ["year", "label", "document", "passage", "similarity"],
                     "properties": {"year": _NULLABLE_INT, "label": {"type": "string"}, "document": _ref("DocumentSummary"),
                                    "passage": {"oneOf": [_ref("Place"), {"type": "null"}]}, "similarity": _NULLABLE_NUM}}}}},
    "SearchRequest": body_schema(),
    "SearchResponse": {"type": "object", "required": ["query", "mode", "rerank", "offset", "results", "took_ms"], "properties": {
        "query": {"type": "string"}, "mode": {"type": "string"}, "rerank": {"type": "boolean"}, "offset": {"type": "integer"},
        "results": {"type": "array", "items": _ref("Result")}, "took_ms": {"type": "number"},
        "message": {"type": "string", "description": "Present when no passage matched well enough."}}},
    "BatchRequest": {"type": "object", "required": ["queries"], "additionalProperties": False, "properties": {
        "queries": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": _ref("SearchRequest")}}},
    "BatchResponse": {"type": "object", "required": ["results"], "properties": {
        "results": {"type": "array", "items": _ref("SearchResponse")}}},
    "PassageWithContext": {"type": "object", "required": ["passage_id", "text", "section", "page", "ordinal", "document", "before", "after"],
                           "properties": {"passage_id": {"type": "string"}, "text": {"type": "string"}, "section": _NULLABLE_STR,
                                          "page": _NULLABLE_INT, "ordinal": {"type": "integer"}, "document": _ref("DocumentSummary"),
                                          "before": {"type": "array", "items": {"type": "string"}},
                                          "after": {"type": "array", "items": {"type": "string"}}}},
    "Job": {"type": "object", "required": ["id", "state", "files", "bytes", "created", "started", "finished", "progress", "report", "error"],
            "properties": {"id": {"type": "string"}, "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
                           "files": {"type": "array", "items": {"type": "string"}}, "bytes": {"type": "integer"},
                           "created": {"type": "string"}, "started": _NULLABLE_STR, "finished": _NULLABLE_STR,
                           "progress": {"type": "object", "properties": {"done": {"type": "integer"}, "total": {"type": "integer"},
                                                                         "unit": {"type": "string"}, "passages": {"type": "integer"}}},
                           "report": {"oneOf": [_ref("IngestReport"), {"type": "null"}]},
                           "error": {"oneOf": [{"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
                                               {"type": "null"}]}}},
    "IngestReport": {"type": "object", "required": ["added", "updated", "skipped", "failed", "moved", "removed", "warnings", "pages",
                                                    "passages_embedded", "passages_reused", "seconds"],
                     "properties": {"added": {"type": "array", "items": {"type": "string"}},
                                    "moved": {"type": "array", "items": {"type": "object", "required": ["from", "to"], "properties": {
                                        "from": {"type": "string"}, "to": {"type": "string"}}}},
                                    "removed": {"type": "array", "items": {"type": "string"}},
                                    "warnings": {"type": "array", "items": {"type": "object", "required": ["path", "warning"], "properties": {
                                        "path": {"type": "string"}, "warning": {"type": "string"}}}},
                                    "pages": {"type": "integer"},
                                    "updated": {"type": "array", "items": {"type": "string"}},
                                    "skipped": {"type": "array", "items": {"type": "string"}},
                                    "failed": {"type": "array", "items": {"type": "object", "required": ["path", "reason"],
                                               "properties": {"path": {"type": "string"}, "reason": {"type": "string"}}}},
                                    "passages_embedded": {"type": "integer"}, "passages_reused": {"type": "integer"},
                                    "seconds": {"type": "number"}}},
    "Health": {"type": "object", "required": ["status", "model", "documents", "passages"], "properties": {
        "status": {"const": "ok"}, "model": {"type": "string"}, "documents": {"type": "integer"}, "passages": {"type": "integer"}}},
    "Ready": {"type": "object", "required": ["status", "model_loaded", "index_open", "generation"], "properties": {
        "status": {"enum": ["ready", "starting"]}, "model_loaded": {"type": "boolean"}, "index_open": {"type": "boolean"},
        "generation": {"type": "integer"}}},
}

_SEARCH_PARAMS = query_parameters(_param)
_READ = (400, 401, 422, 429)
_KEY: list[dict[str, list[str]]] = [{"bearer": []}]


def spec(settings=None) -> dict:
    """The OpenAPI document for /api/v1 (the unversioned /api alias serves the same), with
    the limits that are settings (k, query length) read from `settings`: a schema value
    "$name" is the setting `name`, so the description and the validation cannot disagree."""
    from kb.settings import Settings

    return _settled(_spec(), settings or Settings(home=Path(".")))


def _settled(value, settings):
    if isinstance(value, dict):
        return {k: _settled(v, settings) for k, v in value.items()}
    if isinstance(value, list):
        return [_settled(v, settings) for v in value]
    if isinstance(value, str) and value.startswith("$") and hasattr(settings, value[1:]):
        return getattr(settings, value[1:])
    return value


def _spec() -> dict:
    paths = {
        "/search": {
            "get": {"summary": "Search passages", "operationId": "searchGet", "parameters": _SEARCH_PARAMS,
                    "responses": {"200": _json(_ref("SearchResponse"), "Ranked passages"), **_errors(*_READ)}},
            "post": {"summary": "Search passages (JSON body)", "operationId": "searchPost",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SearchRequest")}}},
                     "responses": {"200": _json(_ref("SearchResponse"), "Ranked passages"), **_errors(*_READ, 413)}}},
        "/search/batch": {"post": {
            "summary": "Many searches in one call", "operationId": "searchBatch",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("BatchRequest")}}},
            "responses": {"200": _json(_ref("BatchResponse"), "One search response per query"), **_errors(*_READ, 413)}}},
        "/documents": {
            "get": {"summary": "List documents", "operationId": "listDocuments",
                    "responses": {"200": _json({"type": "object", "required": ["documents"], "properties": {
                        "documents": {"type": "array", "items": _ref("Document")}}}, "Every ingested document"), **_errors(401, 429)}},
            "post": {"summary": "Upload files to ingest, as a job", "operationId": "uploadDocuments", "security": _KEY,
                     "parameters": [_param("wait", {"type": "number", "minimum": 0, "maximum": 60},
                                           "Seconds to wait for the job before answering 202 (default 0).")],
                     "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                         "type": "object", "required": ["files"], "properties": {
                             "files": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "binary"}}}}}}},
                     "responses": {"202": _json({"type": "object", "required": ["job"], "properties": {"job": _ref("Job")}},
                                                "Saved; follow the job at /api/v1/jobs/{id} (the Location header)"),
                                   "201": _json(_ref("IngestReport"), "Ingested (with wait)"),
                                   "200": _json(_ref("IngestReport"), "Unchanged (with wait)"),
                                   "422": _json({"oneOf": [_ref("IngestReport"), _ref("Error")]},
                                                "No file could be read (with wait), or a file type kb does not read"),
                                   **_errors(400, 401, 413, 429, 503, 507)}}},
        "/jobs/{job_id}": {"get": {
            "summary": "An upload job: state, progress and ingest report", "operationId": "getJob", "security": _KEY,
            "parameters": [_param("job_id", _ID, "Job id", where="path", required=True)],
            "responses": {"200": _json(_ref("Job"), "The job"), **_errors(401, 404, 429)}}},
        "/documents/{doc_id}": {
            "parameters": [_param("doc_id", _ID, "Document id", where="path", required=True)],
            "get": {"summary": "A document and its passages", "operationId": "getDocument",
                    "responses": {"200": _json(_ref("DocumentWithPassages"), "The document"), **_errors(401, 404, 429)}},
            "patch": {"summary": "Edit a document's metadata", "operationId": "editDocument", "security": _KEY,
                      "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("DocumentEdit")}}},
                      "responses": {"200": _json(_ref("Document"), "The document as edited"), **_errors(400, 401, 404, 429)}},
            "delete": {"summary": "Remove a document", "operationId": "deleteDocument", "security": _KEY,
                       "responses": {"200": _json({"type": "object", "required": ["removed"], "properties": {
                           "removed": _ref("DocumentSummary")}}, "Removed"), **_errors(401, 404, 429)}}},
        "/documents/{doc_id}/file": {"get": {
            "summary": "Download the original file", "operationId": "downloadDocument",
            "parameters": [_param("doc_id", _ID, "Document id", where="path", required=True)],
            "responses": {"200": {"description": "The file as ingested (PDF, text; .docx as an attachment)",
                                  "content": {"application/pdf": {}, "text/plain": {},
                                              "application/octet-stream": {}}}, **_errors(401, 404, 429)}}},
        "/passages/{passage_id}": {"get": {
            "summary": "A passage with its neighbours", "operationId": "getPassage",
            "parameters": [_param("passage_id", _ID, "Passage id", where="path", required=True),
                           _param("around", {"type": "integer", "minimum": 0, "maximum": 5}, "Neighbours each side (default 1).")],
            "responses": {"200": _json(_ref("PassageWithContext"), "The passage"), **_errors(400, 401, 404, 429)}}},
        "/passages/{passage_id}/similar": {"get": {
            "summary": "More like this: the closest passages in other documents", "operationId": "similarPassages",
            "parameters": [_param("passage_id", _ID, "Passage id", where="path", required=True),
                           _param("k", {"type": "integer", "minimum": 1, "maximum": "$max_k"}, "Results (default KB_DEFAULT_K).")],
            "responses": {"200": _json({"type": "object", "required": ["passage", "results"], "properties": {
                "passage": _ref("Place"), "results": {"type": "array", "items": _ref("Result")}}}, "Similar passages"),
                **_errors(400, 401, 404, 429)}}},
        "/passages/{passage_id}/editions": {"get": {
            "summary": "Compare editions: the closest passage in each other edition of the series", "operationId": "compareEditions",
            "parameters": [_param("passage_id", _ID, "Passage id", where="path", required=True)],
            "responses": {"200": _json(_ref("Comparison"), "The passage beside each other edition"), **_errors(401, 404, 429)}}},
        "/series": {"get": {"summary": "Report series and their editions", "operationId": "listSeries",
                            "responses": {"200": _json({"type": "object", "required": ["series"], "properties": {
                                "series": {"type": "array", "items": _ref("Series")}}}, "Every series"), **_errors(401, 429)}}},
        "/health": {"get": {"summary": "Liveness", "operationId": "health",
                            "responses": {"200": _json(_ref("Health"), "Alive")}}},
        "/ready": {"get": {"summary": "Readiness: model loaded, index open", "operationId": "ready",
                           "responses": {"200": _json(_ref("Ready"), "Ready"), "503": _json(_ref("Ready"), "Starting")}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "kb: search a knowledge base of reports", "version": "1.0.0",
                 "description": "Hybrid semantic and keyword search over ingested reports. Errors share one shape: "
                                '{"error": {"code", "message"}}. Writes need an API key (Authorization: Bearer).'},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(spec(current_app.extensions["kb"].settings))


@bp.get("/docs")
def docs():
    return render_template("api_docs.html", spec=spec(current_app.extensions["kb"].settings), base=current_app.config.get("APPLICATION_ROOT", "/").rstrip("/") + "/api/v1")
