"""The Flask front end: the staff search page (`pages`) and the JSON API (`api`)."""

from __future__ import annotations

import secrets

from flask import Flask

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


def create_app(config: dict | None = None) -> Flask:
    """Build the app. `config` may hold KB_SETTINGS (a `kb.Settings`) or KB_HOME (a folder)."""
    from kb import KnowledgeBase, Settings

    from . import api, errors, pages

    app = Flask(__name__)
    app.config.from_mapping(KB_SETTINGS=None, KB_HOME=None, JSON_SORT_KEYS=False)
    if config:
        app.config.update(config)
    settings = app.config["KB_SETTINGS"] or Settings.load(home=app.config["KB_HOME"])
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or settings.secret_key or secrets.token_hex(32)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["kb"] = KnowledgeBase(settings)

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(api.bp, url_prefix="/api", name="api_alias")  # unversioned alias of v1
    errors.register(app)

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app
