"""The versioned API: /api/v1 (with /api as an alias), paging, batches, passages, readiness."""

import pytest

ONLINE = "what was done on online child protection"


def test_v1_and_the_alias_answer_the_same(client):
    a = client.get("/api/v1/search", query_string={"q": ONLINE, "k": 3, "mode": "lexical"}).get_json()
    b = client.get("/api/search", query_string={"q": ONLINE, "k": 3, "mode": "lexical"}).get_json()
    assert a["results"] == b["results"] and len(a["results"]) == 3
    assert client.get("/api/v1/nope").get_json()["error"]["code"] == "not_found"


def test_offset_pages_through_results(client):
    whole = client.post("/api/v1/search", json={"query": "children", "k": 4, "min_score": 0}).get_json()["results"]
    first = client.post("/api/v1/search", json={"query": "children", "k": 2, "min_score": 0}).get_json()["results"]
    second = client.post("/api/v1/search", json={"query": "children", "k": 2, "offset": 2, "min_score": 0}).get_json()
    assert [r["passage_id"] for r in first + second["results"]] == [r["passage_id"] for r in whole]
    assert second["offset"] == 2 and [r["rank"] for r in second["results"]] == [3, 4]


@pytest.mark.parametrize("body, status", [
    ({"query": "a", "offset": -1}, 400),
    ({"query": "a", "offset": "2"}, 400),
    ({"query": "a", "offset": 10_000}, 422),  # well formed, past the deepest result: refused on meaning
])
def test_bad_offsets(client, body, status):
    r = client.post("/api/v1/search", json=body)
    assert r.status_code == status and r.get_json()["error"]["code"] == "invalid_offset"


def test_batch_runs_every_search_or_none(client):
    r = client.post("/api/v1/search/batch", json={"queries": [{"query": ONLINE, "k": 1}, {"query": "newborn care", "k": 2, "mode": "dense"}]})
    assert r.status_code == 200
    out = r.get_json()["results"]
    assert "Online Protection" in out[0]["results"][0]["text"] and out[1]["mode"] == "dense"
    for bad in ({"queries": []}, {"queries": [{"query": "a"}] * 33}, {"queries": [{"query": "a"}, {"query": ""}]},
                {"queries": "a"}, {"queries": [{"query": "a"}], "extra": 1}, ["a"]):
        r = client.post("/api/v1/search/batch", json=bad)
        assert r.status_code == 400 and set(r.get_json()) == {"error"}
    r = client.post("/api/v1/search/batch", json={"queries": [{"query": "a"}, {"query": "b", "k": 0}]})
    error = r.get_json()["error"]  # which search was refused, with that search's own code
    assert error["code"] == "invalid_k" and error["message"].startswith("queries[1]: k must be")


def test_passage_with_neighbours_and_document_with_passages(client, sample_kb):
    doc = sample_kb.documents()[0]
    full = client.get(f"/api/v1/documents/{doc.id}").get_json()
    items = full["passage_list"]
    assert full["id"] == doc.id and len(items) == full["passages"] and [p["ordinal"] for p in items] == list(range(len(items)))
    middle = items[2]
    one = client.get(f"/api/v1/passages/{middle['passage_id']}").get_json()
    assert one["text"] == middle["text"] and one["document"]["id"] == doc.id
    assert one["before"] == [items[1]["text"]] and one["after"] == [items[3]["text"]]
    wide = client.get(f"/api/v1/passages/{middle['passage_id']}", query_string={"around": 2}).get_json()
    assert len(wide["before"]) == 2
    assert client.get("/api/v1/passages/0000000000000000").status_code == 404
    assert client.get("/api/v1/passages/x").status_code == 404
    assert client.get(f"/api/v1/passages/{middle['passage_id']}", query_string={"around": 9}).status_code == 400


def test_health_and_ready(client, app):
    assert client.get("/api/v1/health").get_json()["status"] == "ok"
    app.extensions["kb"].warm()
    ready = client.get("/api/v1/ready")
    assert ready.status_code == 200 and ready.get_json()["model_loaded"] and ready.get_json()["index_open"]


def test_not_ready_before_the_model_loads(tmp_path):
    from kb import Settings
    from webapp import create_app

    client = create_app({"KB_SETTINGS": Settings.load(env={}, home=tmp_path / "h", model="hash")}).test_client()
    r = client.get("/api/v1/ready")
    assert r.status_code == 503 and r.get_json()["status"] == "starting"


def test_download_the_original_file(client, sample_kb):
    doc = sample_kb.documents()[0]
    r = client.get(f"/api/v1/documents/{doc.id}/file")
    assert r.status_code == 200 and r.mimetype == "text/plain" and "748,000" in r.get_data(as_text=True)
    missing = client.get("/api/v1/documents/nope/file")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_bytes_that_are_not_utf8_get_a_clear_400(client):
    r = client.post("/api/v1/search", data=b'{"query": "\xff\xfe"}', content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_json"
    r = client.get("/api/v1/search?q=%ff%fe%fd")
    assert r.status_code in (200, 400) and r.is_json  # undecodable bytes are replaced, never a 500
    r = client.get("/api/v1/search", query_string={"q": "x" * 100_000})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "query_too_long"


def test_a_pasted_paragraph_is_a_query(client, sample_kb):
    """A paragraph of the report (2,000 characters, as long as an argument or an abstract)
    finds its own first passage first; past the setting's limit the query is refused by name."""
    from ..conftest import SAMPLE

    paragraph = max(SAMPLE.read_text().splitlines(), key=len)[:2000]
    r = client.post("/api/v1/search", json={"query": paragraph, "k": 3})
    assert r.status_code == 200 and paragraph.startswith(r.get_json()["results"][0]["text"][:300])
    too_long = "word " * (sample_kb.settings.max_query_chars // 5 + 1)
    r = client.post("/api/v1/search", json={"query": too_long})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "query_too_long"
    assert f'maxlength="{sample_kb.settings.max_query_chars}"' in client.get("/").get_data(as_text=True)


def test_highlight_by_terms_or_by_model(client):
    q = "how many health professionals were trained in newborn care"
    by_terms = client.get("/api/v1/search", query_string={"q": q, "k": 3, "highlight": "terms"}).get_json()["results"]
    by_model = client.get("/api/v1/search", query_string={"q": q, "k": 3}).get_json()["results"]
    assert [r["passage_id"] for r in by_terms] == [r["passage_id"] for r in by_model]
    top = by_terms[0]["highlights"]
    assert top and all(any(w in h.lower() for w in ("health", "professionals", "trained", "newborn")) for h in top)
    bare = client.get("/api/v1/search", query_string={"q": q, "k": 3, "highlight": "none"}).get_json()["results"]
    assert [r["passage_id"] for r in bare] == [r["passage_id"] for r in by_model]
    assert all(r["highlights"] == [] and r["text"] for r in bare)
    bad = client.post("/api/v1/search", json={"query": q, "highlight": "colour"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_highlight"
    batch = client.post("/api/v1/search/batch", json={"queries": [{"query": q}, {"query": q, "highlight": "x"}]})
    assert batch.status_code == 400 and batch.get_json()["error"]["code"] == "invalid_highlight"


def test_http_statuses_are_the_web_apps_mapping_of_the_librarys_error_classes():
    """The library raises errors with codes and no HTTP status; the web app maps each class."""
    import inspect

    import kb.errors
    from webapp.errors import status_of

    classes = [c for _, c in inspect.getmembers(kb.errors, inspect.isclass)
               if issubclass(c, kb.errors.KBError) and c is not kb.errors.KBError]
    assert len(classes) >= 6
    for cls in classes:
        assert "status" not in vars(cls), cls
        assert 400 <= status_of(cls("x")) < 500 or (cls is kb.errors.Unavailable and status_of(cls("x")) == 503), cls
    assert status_of(kb.errors.Unprocessable("x")) == 422 and status_of(kb.errors.InvalidRequest("x")) == 400
    assert status_of(kb.errors.KBError("x")) == 500
