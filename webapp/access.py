"""Who may call kb and how much: keys, sign-in, rate and concurrency limits, CORS, body limits.

One hook checks every request, page or API, before its view runs:

- who it is: an API key (``Authorization: Bearer <key>``), a page sign-in (a signed cookie
  naming a key, `signin`), or a user named by a trusted single-sign-on proxy header
  (``trusted_user_header``, off by default); else the client address;
- whether it may: writes need a key; with ``read_needs_key`` everything but sign-in, health,
  readiness and the API description needs one of the three (pages redirect to sign-in);
  ``/metrics`` also opens to ``metrics_token``;
- how much: a token bucket per client (pages and API alike, ``RateLimit-*`` headers on API
  answers), at most ``client_concurrency`` requests in progress per client, and at most
  ``failed_signins`` failed key checks a minute per address.
"""

from __future__ import annotations

import hmac
import json
import math
import uuid
from pathlib import Path
from urllib.parse import quote

from flask import Flask, Response, current_app, g, redirect, request, url_for

from kb.errors import KBError

from .limits import InFlight, RateLimiter, SharedRateLimiter

__all__ = ["register", "RateLimiter", "Unauthorized", "TooMany", "client_id"]

WRITE_METHODS = {"POST", "DELETE", "PUT", "PATCH"}
READ_POSTS = ("/search", "/search/batch")  # POSTs that only read
PUBLIC_API = ("/health", "/ready", "/openapi.json", "/docs")
PUBLIC_PAGES = ("/signin", "/signout")


class Unauthorized(KBError):
    status, code = 401, "unauthorized"


class TooMany(KBError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int, code: str | None = None):
        super().__init__(message, code)
        self.retry_after = retry_after


class TooLarge(KBError):
    status, code = 413, "request_entity_too_large"


def _is_write() -> bool:
    return request.method in WRITE_METHODS and not request.path.endswith(READ_POSTS)


def _api_path() -> str:
    path = request.path
    return path[len("/api/v1"):] if path.startswith("/api/v1") else path[len("/api"):]


def _is_api() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def client_id() -> str:
    """The rate-limit and vote identity of this request: its key or user, else its address."""
    return g.get("client") or f"addr:{request.remote_addr}"


def register(app: Flask) -> None:
    """Hooks on the app (blueprints are shared between apps), and `gate` around it."""
    from . import SECURITY_HEADERS, signin

    settings = app.extensions["kb"].settings
    shared = Path(settings.home) / "cache" / "limits.sqlite3"

    def bucket(name: str, per_minute: int, burst: int | None = None) -> RateLimiter:
        """Several processes serve this home: one allowance across them, in a file they share."""
        if settings.workers > 1:
            return SharedRateLimiter(shared, name, per_minute, burst)
        return RateLimiter(per_minute, burst)

    limiter = bucket("keyed", settings.rate_limit, burst=settings.rate_limit)  # keys and signed-in people
    anonymous = bucket("anonymous", settings.rate_limit)  # an address alone: short bursts
    failures = bucket("signin", settings.failed_signins, burst=settings.failed_signins)
    inflight = InFlight(settings.client_concurrency)
    origins = {o.strip() for o in settings.cors_origins.split(",") if o.strip()}
    app.extensions["kb_limiter"] = limiter
    app.extensions["kb_failures"] = failures

    def failed(message: str) -> KBError:
        """A wrong key or sign-in: counted against the address, 429 once too many."""
        wait = failures.take(f"addr:{request.remote_addr}")
        if wait:
            return TooMany(f"Too many failed key checks; try again in {math.ceil(wait)} s.", math.ceil(wait))
        return Unauthorized(message)

    app.extensions["kb_failed"] = failed

    @app.before_request
    def check_access():
        if request.endpoint == "static":
            return None
        api = _is_api()
        if api and request.method == "OPTIONS":
            return _preflight(origins)
        upload = api and request.method == "POST" and _api_path() == "/documents"
        limit = settings.max_upload_bytes if upload else settings.max_request_bytes
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(f"The request body is larger than {limit} bytes.")
        kb = current_app.extensions["kb"]
        header = request.headers.get("Authorization", "")
        if (header or request.path == "/signin" and request.method == "POST") and \
                failures.remaining(f"addr:{request.remote_addr}") < 1:  # locked out of key checks for a while
            wait = math.ceil(60 / max(1, settings.failed_signins))
            raise TooMany(f"Too many failed key checks; try again in {wait} s.", wait)
        g.api_key = g.client = None
        metrics_ok = False
        if header:
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if request.path == "/metrics" and settings.metrics_token and hmac.compare_digest(token, settings.metrics_token):
                metrics_ok = True
            else:
                g.api_key = kb.keys.check(token) if scheme.lower() == "bearer" else None
                if g.api_key is None:
                    raise failed("The API key is not valid (send Authorization: Bearer <key>).")
                g.client = f"key:{g.api_key}"
        if g.client is None:
            g.client = signin.signed_in(kb, settings)
        public = (api and _api_path() in PUBLIC_API) or (not api and request.path in PUBLIC_PAGES)
        if api and (_is_write() or _api_path().startswith("/jobs/")) and g.api_key is None:
            raise Unauthorized("This needs an API key: send Authorization: Bearer <key> (create one with kb keys create NAME).")
        if request.path == "/metrics" and settings.metrics_token and not metrics_ok and g.client is None:
            raise Unauthorized("/metrics needs the metrics token or a key.")
        if settings.read_needs_key and not public and not metrics_ok and g.client is None:
            if api or request.method != "GET":
                raise Unauthorized("This needs an API key: send Authorization: Bearer <key>, or sign in on the page.")
            return redirect(url_for("signin.form", next=quote(request.full_path.rstrip("?"), safe="/?=&")), 303)
        client = client_id()
        g.limiter = limiter if g.client else anonymous
        if not g.client and request.environ.get("kb.gated"):
            return None  # an address alone: counted and held by `gate`, before Flask
        refused = admit(g.limiter, client)
        if refused is not None:
            raise refused
        g.inflight = client
        return None

    def admit(bucket: RateLimiter, client: str) -> TooMany | None:
        """Take a token from `client`'s bucket and a place among its requests in progress
        (to give back with `inflight.leave`), or say why not."""
        wait = bucket.take(client)
        if wait:
            return TooMany(f"Too many requests; try again in {math.ceil(wait)} s.", math.ceil(wait))
        if not inflight.enter(client):
            return TooMany(f"Too many requests at once from one client (at most {inflight.limit}); try again in a moment.",
                           1, "too_many_at_once")
        return None

    inner = app.wsgi_app

    def gate(environ, start_response):
        """Requests from an address alone (no key, sign-in or proxy user) are counted and held
        here, before Flask: a flood's 429s then cost a few microseconds each, not a request's
        worth of routing and rendering, so the flood cannot slow other clients down."""
        cookies = environ.get("HTTP_COOKIE", "")
        user = settings.trusted_user_header and environ.get("HTTP_" + settings.trusted_user_header.upper().replace("-", "_"))
        if environ.get("HTTP_AUTHORIZATION") or signin.COOKIE in cookies or user or environ.get("PATH_INFO", "").startswith("/static/"):
            return inner(environ, start_response)
        client = f"addr:{environ.get('REMOTE_ADDR')}"
        refused = admit(anonymous, client)
        if refused is not None:
            rid = uuid.uuid4().hex
            body = json.dumps({"error": {"code": refused.code, "message": refused.message, "request_id": rid}}).encode()
            start_response("429 Too Many Requests", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                                     ("Retry-After", str(refused.retry_after)), ("X-Request-Id", rid),
                                                     *SECURITY_HEADERS.items()])
            return [body]
        environ["kb.gated"] = True
        try:
            return inner(environ, start_response)
        finally:
            inflight.leave(client)

    app.wsgi_app = gate  # type: ignore[method-assign]

    @app.teardown_request
    def leave(_exc=None):
        client = g.pop("inflight", None)
        if client is not None:
            inflight.leave(client)

    @app.after_request
    def headers(response: Response) -> Response:
        if not _is_api():
            return response
        bucket = g.get("limiter")
        if bucket is not None:
            client = client_id()
            response.headers["RateLimit-Limit"] = str(bucket.per_minute)
            response.headers["RateLimit-Remaining"] = str(bucket.remaining(client))
            response.headers["RateLimit-Reset"] = str(math.ceil((bucket.capacity - bucket.remaining(client)) / bucket.rate))
        origin = request.headers.get("Origin")
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
