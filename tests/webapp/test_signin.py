"""Access for people (finding 1, 7): with reads behind a key, every page, original file and
/metrics needs a sign-in, an API key or a trusted proxy's user; limits apply to pages too."""

import threading

import pytest

from kb import Settings
from webapp import create_app
from webapp.access import InFlight

REPORT = b"Water Report 2024\n\nIn 2024 the programme drilled 312 new boreholes in rural districts.\n"


def _app(tmp_path, **settings):
    s = Settings.load(env={}, home=tmp_path / "home", model="hash", read_needs_key=True, secret_key="s" * 32, **settings)
    app = create_app({"KB_SETTINGS": s, "TESTING": True})
    kb = app.extensions["kb"]
    (tmp_path / "water.txt").write_bytes(REPORT)
    kb.ingest([tmp_path / "water.txt"])
    return app, kb, kb.keys.create("staff")


def _paths(kb):
    doc = kb.documents()[0]
    return ["/", "/?q=boreholes", "/documents", f"/documents/{doc.id}", f"/documents/{doc.id}/file", "/metrics"]


def test_without_a_sign_in_no_page_file_or_metric_is_served(tmp_path):
    app, kb, _ = _app(tmp_path)
    client = app.test_client()
    for path in _paths(kb):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["Location"].startswith("/signin?next="), path
        # "312 new", not "312": the redirect's own URL holds the document's id, which is hex
        assert b"drilled" not in r.data and b"312 new" not in r.data
    assert client.post("/feedback", data={"q": "x"}).status_code == 401
    assert client.get("/signin").status_code == 200
    assert client.get("/api/v1/health").status_code == 200


def test_a_key_signs_a_person_in_until_it_is_revoked(tmp_path):
    app, kb, key = _app(tmp_path)
    client = app.test_client()
    r = client.post("/signin", data={"key": key, "next": "/?q=boreholes"})
    assert r.status_code == 303 and r.headers["Location"] == "/?q=boreholes"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and key not in cookie
    for path in _paths(kb):
        assert client.get(path).status_code == 200, path
    assert b"drilled" in client.get("/?q=boreholes").data
    kb.keys.revoke("staff")
    assert client.get("/documents").status_code == 303  # revoking the key ends the sign-in


def test_a_sign_in_expires(tmp_path, monkeypatch):
    app, kb, key = _app(tmp_path, session_hours=1)
    client = app.test_client()
    client.post("/signin", data={"key": key})
    assert client.get("/documents").status_code == 200
    import itsdangerous.timed

    later = itsdangerous.timed.time.time() + 2 * 3600
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    assert client.get("/documents").status_code == 303


def test_a_wrong_key_is_refused_and_guessing_is_limited(tmp_path):
    app, kb, key = _app(tmp_path, failed_signins=3)
    client = app.test_client()
    for _ in range(3):
        r = client.post("/signin", data={"key": "kb_wrong"})
        assert r.status_code == 401 and b"not valid" in r.data
    assert client.post("/signin", data={"key": key}).status_code == 429  # locked out, even with the right key
    assert client.get("/api/v1/documents", headers={"Authorization": "Bearer kb_wrong"}).status_code == 429


def test_bad_api_keys_count_as_failed_guesses(tmp_path):
    app, kb, key = _app(tmp_path, failed_signins=2)
    client = app.test_client()
    codes = [client.get("/api/v1/documents", headers={"Authorization": f"Bearer kb_guess{n}"}).status_code for n in range(4)]
    assert codes == [401, 401, 429, 429]


def test_next_never_leaves_the_site(tmp_path):
    app, kb, key = _app(tmp_path)
    client = app.test_client()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        r = client.post("/signin", data={"key": key, "next": target})
        assert r.headers["Location"] == "/", target


def test_a_trusted_proxy_user_is_signed_in_only_when_configured(tmp_path):
    app, kb, _ = _app(tmp_path)
    assert app.test_client().get("/documents", headers={"X-Forwarded-User": "ana"}).status_code == 303
    app2, kb2, _ = _app(tmp_path / "2", trusted_user_header="X-Forwarded-User")
    client = app2.test_client()
    assert client.get("/documents", headers={"X-Forwarded-User": "ana"}).status_code == 200
    assert client.get("/documents").status_code == 303


def test_metrics_open_to_their_own_token(tmp_path):
    app, kb, key = _app(tmp_path, metrics_token="m" * 24)
    client = app.test_client()
    assert client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 24}).status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.get("/documents", headers={"Authorization": "Bearer " + "m" * 24}).status_code == 401  # only metrics


def test_the_client_address_comes_from_a_proxy_only_when_configured(tmp_path):
    s = Settings.load(env={}, home=tmp_path / "h1", model="hash", rate_limit=2)
    client = create_app({"KB_SETTINGS": s}).test_client()
    for n in range(2):
        client.get("/api/v1/documents", headers={"X-Forwarded-For": f"10.0.0.{n}"})
    assert client.get("/api/v1/documents", headers={"X-Forwarded-For": "10.0.0.9"}).status_code == 429  # header ignored
    s = Settings.load(env={}, home=tmp_path / "h2", model="hash", rate_limit=2, trusted_proxies=1)
    client = create_app({"KB_SETTINGS": s}).test_client()
    codes = [client.get("/api/v1/documents", headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code for n in range(4)]
    assert codes == [200] * 4  # each forwarded client has its own bucket


def test_requests_in_progress_are_capped_per_client():
    cap = InFlight(2)
    assert cap.enter("a") and cap.enter("a") and not cap.enter("a") and cap.enter("b")
    cap.leave("a")
    assert cap.enter("a")
    threads = [threading.Thread(target=lambda: (cap.enter("c"), cap.leave("c"))) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cap.enter("c") and cap.enter("c") and not cap.enter("c")


@pytest.mark.parametrize("path", ["/", "/documents"])
def test_pages_stay_open_without_read_needs_key(tmp_path, path):
    s = Settings.load(env={}, home=tmp_path / "home", model="hash")
    assert create_app({"KB_SETTINGS": s}).test_client().get(path).status_code == 200
