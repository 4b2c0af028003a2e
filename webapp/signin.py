"""Sign-in for people: a key typed once on the page becomes a signed, expiring cookie, or a
trusted single-sign-on proxy names the user in a header (`trusted_user_header`).

The cookie names the key and carries a digest of it: revoking or replacing the key ends
every sign-in made with it, and the cookie is useless once `session_hours` have passed.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

bp = Blueprint("signin", __name__)

COOKIE = "kb_signin"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="kb-signin")


def signed_in(kb, settings) -> str | None:
    """The client id of a signed-in person ("user:<name>" or "key:<name>"), or None."""
    if settings.trusted_user_header:
        user = request.headers.get(settings.trusted_user_header, "").strip()
        if user and len(user) <= 200:
            return f"user:{user}"
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 1000:
        return None
    try:
        data = _serializer().loads(raw, max_age=int(settings.session_hours * 3600))
    except BadSignature:  # also an expired one
        return None
    name = data.get("k") if isinstance(data, dict) else None
    if not isinstance(name, str) or kb.keys.fingerprint(name) != data.get("f"):
        return None
    return f"key:{name}"


def _next() -> str:
    """Where to go after signing in: a path on this site only (never another host)."""
    target = request.values.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 2000:
        return "/"
    return target


@bp.get("/signin")
def form():
    return render_template("signin.html", next=_next(), error=None)


@bp.post("/signin")
def submit():
    kb = current_app.extensions["kb"]
    settings = kb.settings
    name = kb.keys.check(request.form.get("key", "").strip())
    if name is None:
        exc = current_app.extensions["kb_failed"]("That key is not valid.")
        status = getattr(exc, "status", 401)
        return render_template("signin.html", next=_next(), error=exc.message), status
    response = redirect(_next(), 303)
    response.set_cookie(COOKIE, _serializer().dumps({"k": name, "f": kb.keys.fingerprint(name)}),
                        max_age=int(settings.session_hours * 3600), httponly=True, samesite="Lax",
                        secure=request.is_secure, path="/")
    return response


@bp.post("/signout")
def signout():
    response = redirect(url_for("signin.form"), 303)
    response.delete_cookie(COOKIE, path="/")
    return response
