"""One error shape: JSON ``{"error": {"code", "message", "request_id"}}`` under /api, a
friendly page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from kb.errors import KBError

from .requestlog import request_id

log = logging.getLogger("kb.web")


def error_response(status: int, code: str, message: str):
    if request.path.startswith("/api/") or request.path == "/api":
        response = jsonify({"error": {"code": code, "message": message, "request_id": request_id()}})
        response.status_code = status
        return response
    return render_template("error.html", status=status, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(KBError)
    def kb_error(exc: KBError):
        response = app.make_response(error_response(exc.status, exc.code, exc.message))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        if exc.status == 401:
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
