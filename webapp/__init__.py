"""The Flask front end: the staff search page (`pages`) and the JSON API (`api`)."""

from __future__ import annotations

import secrets

from flask import Flask, abort, request
from flask.sessions import SessionInterface

__all__ = ["create_app"]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class NoSessions(SessionInterface):
    """kb keeps no per-user state in Flask's session: no session cookie is read or set (the
    sign-in cookie and the feedback form sign their own values). Flask's default opened a signed-cookie session on every request, for
    nothing: a tenth of what a search request spends in Flask."""

    def open_session(self, app, request):
        return None  # Flask then holds a null session: writing to it raises

    def save_session(self, app, session, response) -> None:
        pass


def create_app(config: dict | None = None) -> Flask:
    """Build the app. `config` may hold KB_SETTINGS (a `kb.Settings`) or KB_HOME (a folder)."""
    from kb import KnowledgeBase, Settings

    from . import access, api, errors, metrics, openapi, pages, requestlog, signin
    from .jobs import JobQueue
    from .jsonio import OrjsonProvider

    app = Flask(__name__)
    app.json = OrjsonProvider(app)  # compact, unsorted, non-ASCII kept: what clients read, written faster
    app.session_interface = NoSessions()
    app.config.from_mapping(KB_SETTINGS=None, KB_HOME=None, JSON_SORT_KEYS=False)
    if config:
        app.config.update(config)
    settings = app.config["KB_SETTINGS"] or Settings.load(home=app.config["KB_HOME"])
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or settings.secret_key or secrets.token_hex(32)
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_request_bytes, settings.max_upload_bytes)  # per route below
    app.extensions["kb"] = KnowledgeBase(settings)
    app.extensions["kb_jobs"] = JobQueue(app.extensions["kb"], settings.upload_workers, settings.max_jobs)

    requestlog.register(app)
    metrics.register(app)
    access.register(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(signin.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(api.bp, url_prefix="/api", name="api_alias")  # unversioned alias of v1
    app.register_blueprint(openapi.bp, url_prefix="/api/v1")
    app.register_blueprint(openapi.bp, url_prefix="/api", name="openapi_alias")
    errors.register(app)

    @app.before_request
    def body_limit():
        if not request.path.startswith("/api") and (request.content_length or 0) > settings.max_request_bytes:
            abort(413)

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    if settings.trusted_proxies:  # the client address (and scheme) from the proxies' headers, only when told
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)
    return app
