"""Request ids and request logs: one line per request, text or JSON (`log_format`).

Every response carries ``X-Request-Id`` (the client's own, if it sent a sane one, else a new
one), and every JSON error body repeats it, so a failing call can be found in the log.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from flask import Flask, g, request

__all__ = ["register", "request_id", "JsonFormatter", "configure_logging"]

log = logging.getLogger("kb.request")
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_FIELDS = ("request_id", "method", "path", "status", "ms", "client", "bytes")


def request_id() -> str:
    """This request's id (made on first use)."""
    rid = g.get("request_id")
    if rid is None:
        sent = request.headers.get("X-Request-Id", "")
        rid = g.request_id = sent if _SANE.match(sent) else uuid.uuid4().hex
    return rid


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object per line: time, level, logger, message, and the
    request's fields when the record is a request line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        out.update({k: getattr(record, k) for k in _FIELDS if hasattr(record, k)})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(fmt: str, level: int = logging.INFO) -> None:
    """kb's loggers to stderr, as text or JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("kb")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def register(app: Flask) -> None:
    settings = app.extensions["kb"].settings

    @app.before_request
    def start():
        g.started = time.perf_counter()
        request_id()

    @app.after_request
    def finish(response):
        rid = request_id()
        response.headers["X-Request-Id"] = rid
        if settings.log_requests:
            ms = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1)
            client = g.get("client") or f"addr:{request.remote_addr}"
            fields = {"request_id": rid, "method": request.method, "path": request.path, "status": response.status_code,
                      "ms": ms, "client": client, "bytes": response.calculate_content_length()}
            log.info("%s %s %s %.1f ms %s", request.method, request.path, response.status_code, ms, rid, extra=fields)
        return response
