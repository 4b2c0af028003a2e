import re

from kb import KnowledgeBase, Settings
from webapp import create_app


def test_empty_page_shows_the_search_box(client):
    r = client.get("/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert '<form id="search" class="search" method="get"' in page and 'name="q"' in page
    assert "Content-Security-Policy" in r.headers and r.headers["X-Content-Type-Options"] == "nosniff"


def test_results_are_rendered_on_the_server_with_highlights(client):
    page = client.get("/", query_string={"q": "what was done on online child protection"}).get_data(as_text=True)
    first = page.split('<li class="result"', 2)[1]
    assert "UNICEF China 2023 Annual Report" in first and "2024-04-19" in first
    assert '<mark>The State Council approved the Regulations on Minors’ <b class="term">Online</b> <b class="term">Protection</b>' in first
    assert 'value="what was done on online child protection"' in page


def test_each_result_says_how_well_it_matches(client):
    page = client.get("/", query_string={"q": "what was done on online child protection"}).get_data(as_text=True)
    first = page.split('<li class="result"', 2)[1]
    assert 'class="match match-strong"' in first and "strong match" in first


def test_a_query_nothing_answers_says_so_instead_of_showing_noise(client):
    page = client.get("/", query_string={"q": "quantum chromodynamics of zebra xylophones"}).get_data(as_text=True)
    assert '<li class="result"' not in page
    assert "No passage matched “quantum chromodynamics of zebra xylophones” well" in page


def test_bad_parameters_give_a_friendly_page_not_a_500(client):
    for qs in ({"q": "a", "k": "lots"}, {"q": "a", "mode": "nope"}, {"q": "x" * 10_001}, {"q": "a", "k": "0"},
               {"q": "a", "page": "0"}, {"q": "a", "page": "x"}, {"q": "a", "page": "99999999"},
               {"q": "a", "date_from": "last year"}, {"q": "a", "k": "1000"}):
        r = client.get("/", query_string=qs)
        assert r.status_code == 400 and 'class="error"' in r.get_data(as_text=True)


def test_a_query_with_markup_is_shown_as_text(client):
    evil = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    page = client.get("/", query_string={"q": evil}).get_data(as_text=True)
    assert "<script>alert(2)" not in page and "<img src=x" not in page
    assert 'value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in page


def test_a_report_with_markup_is_shown_as_text(tmp_path):
    report = tmp_path / "evil.txt"
    report.write_text("Evil Report\n\nThe <script>alert('x')</script> tag and <b>bold</b> words about water pumps.\n")
    settings = Settings.load(env={}, home=tmp_path / "home", model="hash", min_score=0.0)
    KnowledgeBase(settings).ingest([report])
    client = create_app({"KB_SETTINGS": settings}).test_client()
    page = client.get("/", query_string={"q": "water pumps script"}).get_data(as_text=True)
    text = page.split('<p class="text">')[1].split("</p>")[0]
    assert '&lt;<b class="term">script</b>&gt;alert(&#39;x&#39;)&lt;/<b class="term">script</b>&gt;' in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text and "<script>alert(" not in page and "<b>bold</b>" not in page


ONLINE = "what was done on online child protection"


def _results(page):
    return page.split('<li class="result"')[1:]


def test_context_why_and_citation_for_each_result(client, sample_kb):
    page = client.get("/", query_string={"q": ONLINE}).get_data(as_text=True)
    first = _results(page)[0]
    assert '<details class="context"><summary>Show context</summary>' in first
    assert first.count('<p class="around">') >= 1 and '<p class="here">' in first
    assert '<details class="why">' in first
    words = re.search(r"<dt>Matched words</dt><dd>([^<]*)</dd>", first).group(1).split(", ")
    assert {"online", "child", "protection"} <= set(words)  # the query's words, not the index's stems
    doc = sample_kb.documents()[0]
    assert f'href="/documents/{doc.id}/file"' in first
    assert ('UNICEF China 2023 Annual Report, UNICEF China, Protection from violence, exploitation, abuse and neglect, '
            f'for every child, 2024-04-19. /documents/{doc.id}/read?p=') in first


def test_pagination_and_page_size(client):
    one = client.get("/", query_string={"q": "children", "k": "2"}).get_data(as_text=True)
    assert len(_results(one)) == 2 and 'rel="next" href="/?q=children&amp;k=2&amp;page=2"' in one
    assert 'rel="prev"' not in one
    two = client.get("/", query_string={"q": "children", "k": "2", "page": "2"}).get_data(as_text=True)
    assert 'id="r3"' in two and 'id="r4"' in two and 'rel="prev" href="/?q=children&amp;k=2"' in two
    ids_one = {r.split('name="passage" value="')[1][:16] for r in _results(one)}
    ids_two = {r.split('name="passage" value="')[1][:16] for r in _results(two)}
    assert not ids_one & ids_two
    far = client.get("/", query_string={"q": "children", "k": "2", "page": "50"})
    assert far.status_code == 200 and "No more passages matched" in far.get_data(as_text=True)


def test_filters_facets_and_grouping(client, sample_kb):
    doc = sample_kb.documents()[0]
    page = client.get("/", query_string={"q": "children", "document": doc.id}).get_data(as_text=True)
    assert _results(page) and f'<option value="{doc.id}" selected>' in page
    facets = page.split('<ul class="facets">')[1].split("</ul>")[0]
    assert "UNICEF China 2023 Annual Report" in facets and '<span class="count">' in facets
    section = "Protection from violence, exploitation, abuse and neglect, for every child"
    page = client.get("/", query_string={"q": "children", "section": section}).get_data(as_text=True)
    assert all(section in r.split('<p class="text">')[0] for r in _results(page))
    none = client.get("/", query_string={"q": "children", "date_to": "2000"}).get_data(as_text=True)
    assert not _results(none) and "Search without the filters" in none
    grouped = client.get("/", query_string={"q": "children", "group": "report"}).get_data(as_text=True)
    assert grouped.count('<section class="group">') == 1 and "UNICEF China 2023 Annual Report" in grouped


def test_spelling_suggestion(sample_kb):
    from kb.reading import suggest

    assert suggest(sample_kb, "onlne protectoin") == "online protection"
    assert suggest(sample_kb, "online protection") is None


def test_feedback_is_stored_and_becomes_an_evaluation_set(client, sample_kb, runner):
    page = client.get("/", query_string={"q": ONLINE}).get_data(as_text=True)
    first = _results(page)[0]
    passage = first.split('name="passage" value="')[1][:16]
    token = first.split('name="token" value="')[1].split('"')[0]
    before = sample_kb.feedback.count()
    r = client.post("/feedback", data={"q": ONLINE, "passage": passage, "token": token, "helpful": "1"})
    assert r.status_code == 303 and "feedback=thanks" in r.headers["Location"]
    after = sample_kb.feedback.count()
    assert before <= after <= before + 1  # (another test may have voted the same from this address)
    r = client.post("/feedback", data={"q": ONLINE, "passage": passage, "token": token, "helpful": "0"},
                    headers={"Accept": "application/json"})
    assert r.get_json() == {"ok": True} and sample_kb.feedback.count() == after  # one vote per voter
    assert sample_kb.feedback.judgments()[ONLINE][passage] == 0  # the later vote wins
    client.post("/feedback", data={"q": ONLINE, "passage": passage, "token": token, "helpful": "1"})
    bad = client.post("/feedback", data={"q": ONLINE, "passage": passage, "token": "forged", "helpful": "1"})
    assert bad.status_code == 400 and "expired" in bad.get_data(as_text=True)
    assert client.post("/feedback", data={"q": ONLINE, "passage": "0" * 16, "token": token, "helpful": "1"}).status_code == 400
    assert client.post("/feedback", data={"q": "another query", "passage": passage, "token": token, "helpful": "1"}).status_code == 400
    assert sample_kb.feedback.count() == after
    import json

    from kb.cli import main

    out = runner.invoke(main, ["eval", "--feedback", "--json", "--home", str(sample_kb.home)])
    assert out.exit_code == 0, out.output
    row = json.loads(out.stdout)[0]
    assert row["queries"] >= 1 and row["ndcg@10"] == 1.0  # the helpful passage ranks first


def test_documents_view_and_original_file(client, sample_kb):
    doc = sample_kb.documents()[0]
    listing = client.get("/documents").get_data(as_text=True)
    assert f'href="/documents/{doc.id}"' in listing and "UNICEF China 2023 Annual Report" in listing and "2024-04-19" in listing
    one = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert "Sections" in one and "Protection from violence" in one and f"/documents/{doc.id}/file" in one
    f = client.get(f"/documents/{doc.id}/file")
    assert f.status_code == 200 and f.mimetype == "text/plain" and "sandbox" in f.headers["Content-Security-Policy"]
    assert "748,000 health professionals" in f.get_data(as_text=True)
    for bad in ("/documents/nope", "/documents/nope/file", "/documents/..%2F..%2Fetc%2Fpasswd/file"):
        r = client.get(bad)
        assert r.status_code == 404 and "<html" in r.get_data(as_text=True)


def test_an_ingested_html_report_is_served_as_text(tmp_path):
    report = tmp_path / "evil.html"
    report.write_text("<html><head><title>Evil</title></head><body><p>Water pumps and wells.</p><script>alert(1)</script></body></html>")
    settings = Settings.load(env={}, home=tmp_path / "home", model="hash", min_score=0.0)
    kb = KnowledgeBase(settings)
    kb.ingest([report])
    client = create_app({"KB_SETTINGS": settings}).test_client()
    r = client.get(f"/documents/{kb.documents()[0].id}/file")
    assert r.mimetype == "text/plain" and "<script>" in r.get_data(as_text=True)


def test_no_session_is_opened_and_no_cookie_set(app, client):
    """kb keeps no per-user state: a session cookie sent in is never read, none is set, and
    code that tried to store something in the session would fail loudly."""
    import pytest
    from flask import session
    from flask.sessions import NullSession

    client.set_cookie("session", "eyJ4IjoxfQ.forged")
    for r in (client.get("/"), client.get("/api/v1/search", query_string={"q": "newborn care", "mode": "lexical"})):
        assert r.status_code == 200 and "Set-Cookie" not in r.headers
    with app.test_request_context("/", headers={"Cookie": "session=eyJ4IjoxfQ.forged"}):
        assert isinstance(session._get_current_object(), NullSession)
        with pytest.raises(RuntimeError):
            session["user"] = "x"


def test_a_vote_token_is_for_one_query_and_passage_and_expires(client, sample_kb, app):
    """Finding 8: the token was one constant per secret; 200 identical votes were all kept."""
    from webapp.pages import feedback_token

    QUERY = "health professionals trained in newborn care"

    page = client.get("/", query_string={"q": QUERY}).get_data(as_text=True)
    first = _results(page)[0]
    passage = first.split('name="passage" value="')[1][:16]
    token = first.split('name="token" value="')[1].split('"')[0]
    with app.test_request_context():
        old = feedback_token(QUERY, passage, expires=1)
    assert client.post("/feedback", data={"q": QUERY, "passage": passage, "token": old, "helpful": "1"}).status_code == 400
    before = sample_kb.feedback.count()
    codes = [client.post("/feedback", data={"q": QUERY, "passage": passage, "token": token, "helpful": "1"}).status_code
             for _ in range(200)]
    assert sample_kb.feedback.count() <= before + 1  # one vote per voter, however often sent
    assert codes.count(303) >= 1 and codes.count(429) >= 100  # and an address alone is held to short bursts


def test_no_server_path_or_request_host_reaches_readers(tmp_path):
    """Finding 12: absolute server paths were shown, the Host header went into citation links,
    and original files were sent as Cache-Control: public behind a key."""
    from kb import Settings
    from webapp import create_app

    from ..conftest import SAMPLE

    settings = Settings.load(env={}, home=tmp_path / "home", model="hash")
    app = create_app({"KB_SETTINGS": settings, "TESTING": True})
    kb = app.extensions["kb"]
    kb.ingest([SAMPLE])
    doc = kb.documents()[0]
    client = app.test_client()
    folder = str(SAMPLE.parent)
    for path in ("/api/v1/documents", f"/api/v1/documents/{doc.id}", "/api/v1/search?q=children", f"/documents/{doc.id}",
                 "/?q=children"):
        body = client.get(path, headers={"Host": "evil.example"}).get_data(as_text=True)
        assert folder not in body and "evil.example" not in body, path
    assert client.get("/api/v1/documents").get_json()["documents"][0]["source"] == SAMPLE.name
    public = create_app({"KB_SETTINGS": settings.replace(public_url="https://kb.example.org"), "TESTING": True})
    page = public.test_client().get("/?q=children", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert f"https://kb.example.org/documents/{doc.id}/read?p=" in page and "evil.example" not in page
    key = kb.keys.create("reader")
    closed = create_app({"KB_SETTINGS": settings.replace(read_needs_key=True), "TESTING": True}).test_client()
    r = closed.get(f"/documents/{doc.id}/file", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-store"
