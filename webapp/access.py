"""Who may call the API and how often: API keys, per-client rate limits, CORS, body limits.

Writes (upload, delete) always need a key, sent as ``Authorization: Bearer <key>``; reads
need one only with ``KB_READ_NEEDS_KEY``. Limits are token buckets kept in this process.
"""

from __future__ import annotations

import math
import threading
import time

from flask import Flask, Response, current_app, g, request

from kb.errors import KBError

__all__ = ["register", "RateLimiter", "Unauthorized", "TooMany"]

WRITE_METHODS = {"POST", "DELETE", "PUT", "PATCH"}
READ_POSTS = ("/search", "/search/batch")  # POSTs that only read


class Unauthorized(KBError):
    status, code = 401, "unauthorized"


class TooMany(KBError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class TooLarge(KBError):
    status, code = 413, "request_entity_too_large"


class RateLimiter:
    """A token bucket per client: `per_minute` requests a minute, bursts up to that many."""

    def __init__(self, per_minute: int):
        self.rate, self.capacity = per_minute / 60.0, float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str, now: float | None = None) -> float:
        """0 if allowed, else seconds until a request would be."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > 100_000:  # forget the idle: a full bucket is the default anyway
                self._buckets = {c: v for c, v in self._buckets.items() if now - v[1] < 60}
            return (1 - tokens) / self.rate


def _is_write() -> bool:
    return request.method in WRITE_METHODS and not request.path.endswith(READ_POSTS)


def _api_path() -> str:
    path = request.path
    return path[len("/api/v1"):] if path.startswith("/api/v1") else path[len("/api"):]


def _is_api() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def register(app: Flask) -> None:
    """Hooks on the app (blueprints are shared between apps), acting on /api paths only."""
    settings = app.extensions["kb"].settings
    limiter = RateLimiter(settings.rate_limit)
    origins = {o.strip() for o in settings.cors_origins.split(",") if o.strip()}
    app.extensions["kb_limiter"] = limiter

    @app.before_request
    def check_access():
        if not _is_api():
            return None
        if request.method == "OPTIONS":
            return _preflight(origins)
        kb = current_app.extensions["kb"]
        upload = request.method == "POST" and _api_path() == "/documents"
        limit = settings.max_upload_bytes if upload else settings.max_request_bytes
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(f"The request body is larger than {limit} bytes.")
        header = request.headers.get("Authorization", "")
        g.api_key = None
        if header:
            scheme, _, token = header.partition(" ")
            g.api_key = kb.keys.check(token.strip()) if scheme.lower() == "bearer" else None
            if g.api_key is None:
                raise Unauthorized("The API key is not valid (send Authorization: Bearer <key>).")
        public = _api_path() in ("/health", "/ready", "/openapi.json", "/docs")
        if g.api_key is None and not public and (_is_write() or settings.read_needs_key):
            raise Unauthorized("This needs an API key: send Authorization: Bearer <key> (create one with kb keys create NAME).")
        wait = limiter.take(f"key:{g.api_key}" if g.api_key else f"addr:{request.remote_addr}")
        if wait:
            raise TooMany(f"Too many requests; try again in {math.ceil(wait)} s.", math.ceil(wait))
        return None

    @app.after_request
    def cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if not _is_api():
            return response
        if origin and ("*" in origins or origin in origins):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response


def _preflight(origins: set[str]) -> Response:
    origin = request.headers.get("Origin", "")
    response = Response(status=204)
    if origin and ("*" in origins or origin in origins):
        response.headers.update({
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        })
    return response
