"""One error shape: JSON ``{"error": {"code", "message", "request_id"}}`` under /api, a
friendly page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from kb.errors import Busy, IndexMismatch, InvalidRequest, KBError, LoadError, NotFound, Unavailable, Unprocessable

from .requestlog import request_id

log = logging.getLogger("kb.web")


# What the library's errors mean over HTTP (the most specific class wins). The web app's own
# errors (access, jobs) carry their status, being HTTP errors in the first place.
STATUS: dict[type, int] = {InvalidRequest: 400, Unprocessable: 422, NotFound: 404, LoadError: 422,
                           IndexMismatch: 409, Busy: 409, Unavailable: 503}


def status_of(exc: KBError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return getattr(exc, "status", 500)


def error_response(status: int, code: str, message: str):
    if request.path.startswith("/api/") or request.path == "/api":
        response = jsonify({"error": {"code": code, "message": message, "request_id": request_id()}})
        response.status_code = status
        return response
    return render_template("error.html", status=status, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(KBError)
    def kb_error(exc: KBError):
        status = status_of(exc)
        response = app.make_response(error_response(status, exc.code, exc.message))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="kb"'
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        message = {
            404: "There is nothing at this address.",
            405: f"{request.method} is not allowed here.",
            413: "The request body is too large.",
        }.get(exc.code or 500, exc.description or exc.name)
        response = error_response(exc.code or 500, code, message)
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response = app.make_response(response)
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s", request.path)
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")
