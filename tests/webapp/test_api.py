import pytest

ONLINE = "what was done on online child protection"


def test_get_search_returns_the_contract_shape(client):
    r = client.get("/api/search", query_string={"q": ONLINE, "k": 3})
    assert r.status_code == 200 and r.is_json
    data = r.get_json()
    assert data["query"] == ONLINE and data["mode"] == "hybrid" and len(data["results"]) == 3
    first = data["results"][0]
    assert "Online Protection" in first["text"] and first["rank"] == 1
    assert first["document"]["title"] == "UNICEF China 2023 Annual Report"
    assert first["document"]["date"] == "2024-04-19" and first["page"] is None


def test_post_search_with_mode_filters_and_explain(client, sample_kb):
    doc_id = sample_kb.documents()[0].id
    r = client.post("/api/search", json={"query": "newborn care", "k": 2, "mode": "dense", "filters": {"document": [doc_id]}, "explain": True})
    assert r.status_code == 200
    data = r.get_json()
    assert data["mode"] == "dense" and "748,000" in data["results"][0]["text"]
    assert data["results"][0]["explain"]["dense_rank"] == 1


def test_results_carry_calibrated_relevance_and_rerank_explains(client):
    data = client.get("/api/search", query_string={"q": ONLINE, "k": 5, "rerank": "true", "explain": "true", "min_score": "0"}).get_json()
    assert data["rerank"] is True and "Online Protection" in data["results"][0]["text"]
    first = data["results"][0]
    assert 0.5 <= first["relevance"] <= 1 and first["match"] == "strong"
    assert first["explain"]["rerank_score"] is not None and "onlin" in first["explain"]["matched_terms"]
    # the stems stand for the query's own words: "online" and "protection", not "onlin" and "protect"
    assert {"online", "child", "protection"} <= set(first["explain"]["matched_words"])
    assert not set(first["explain"]["matched_words"]) & {"was", "on"}  # stop words never match


def test_nothing_relevant_says_so_plainly(client):
    data = client.post("/api/search", json={"query": "quantum chromodynamics of zebra xylophones", "min_score": 0.3}).get_json()
    assert data["results"] == [] and "No passage matched well" in data["message"]
    some = client.post("/api/search", json={"query": "quantum chromodynamics of zebra xylophones", "min_score": 0}).get_json()
    assert len(some["results"]) == 5 and "message" not in some  # the sample's five passages, all weak
    assert all(r["match"] == "weak" and r["relevance"] < 0.02 for r in some["results"])


def test_diversify_over_the_api(client):
    data = client.post("/api/search", json={"query": "children", "k": 5, "diversify": True, "min_score": 0}).get_json()
    assert len(data["results"]) == 5 and len({r["passage_id"] for r in data["results"]}) == 5


def test_get_and_post_agree(client):
    a = client.get("/api/search", query_string={"q": ONLINE, "k": 5, "mode": "lexical"}).get_json()
    b = client.post("/api/search", json={"query": ONLINE, "k": 5, "mode": "lexical"}).get_json()
    assert a["results"] == b["results"]


@pytest.mark.parametrize(
    "method, kwargs, status, code",
    [
        ("get", {"query_string": {"q": ""}}, 400, "empty_query"),
        ("get", {"query_string": {"q": "x" * 10_001}}, 400, "query_too_long"),
        ("get", {"query_string": {"q": "a", "k": "ten"}}, 400, "invalid_k"),
        ("get", {"query_string": {"q": "a", "k": "-1"}}, 400, "invalid_k"),
        ("get", {"query_string": {"q": "a", "k": "100000"}}, 400, "invalid_k"),
        ("get", {"query_string": {"q": "a", "mode": "magic"}}, 400, "invalid_mode"),
        ("get", {"query_string": {"q": "a", "colour": "red"}}, 400, "invalid_request"),
        ("get", {"query_string": {"q": "a", "date_from": "yesterday"}}, 400, "invalid_filter"),
        ("post", {"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
        ("post", {"json": ["a", "list"]}, 400, "invalid_json"),
        ("post", {"json": {"query": "a", "k": "3"}}, 400, "invalid_k"),
        ("post", {"json": {"query": "a", "k": 2.5}}, 400, "invalid_k"),
        ("post", {"json": {"query": 42}}, 400, "empty_query"),
        ("post", {"json": {"query": "a", "mode": 1}}, 400, "invalid_mode"),
        ("post", {"json": {"query": "a", "filters": {"bogus": 1}}}, 400, "invalid_filter"),
        ("post", {"json": {"query": "a", "limit": 3}}, 400, "invalid_request"),
        ("post", {"json": {"query": "a", "explain": "maybe"}}, 400, "invalid_request"),
        ("get", {"query_string": {"q": "a", "min_score": "high"}}, 400, "invalid_min_score"),
        ("get", {"query_string": {"q": "a", "min_score": "2"}}, 400, "invalid_min_score"),
        ("post", {"json": {"query": "a", "min_score": "0.5"}}, 400, "invalid_min_score"),
        ("post", {"json": {"query": "a", "min_score": -1}}, 400, "invalid_min_score"),
        ("get", {"query_string": {"q": "a", "rerank": "perhaps"}}, 400, "invalid_request"),
        ("post", {"json": {"query": "a", "diversify": 3}}, 400, "invalid_request"),
        ("post", {"data": "x" * 2_000_000, "content_type": "application/json"}, 413, "request_entity_too_large"),
        ("delete", {}, 405, "method_not_allowed"),
    ],
)
def test_every_error_has_one_json_shape(client, method, kwargs, status, code):
    r = getattr(client, method)("/api/search", **kwargs)
    assert r.status_code == status
    body = r.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code and body["error"]["message"]


def test_unknown_api_route_is_json_404(client):
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_health_and_documents(client):
    health = client.get("/api/health").get_json()
    assert health["status"] == "ok" and health["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert health["passages"] > 0 and health["documents"] == 1
    docs = client.get("/api/documents").get_json()["documents"]
    assert client.get(f"/api/documents/{docs[0]['id']}").get_json()["title"] == docs[0]["title"]
    assert client.get("/api/documents/../../etc/passwd").status_code == 404


def test_json_answers_are_what_the_standard_library_writes(app, client):
    """The API's JSON is written by orjson (webapp/jsonio.py); it must be the JSON Flask's own
    provider writes: compact, keys in order, non-ASCII as written, one newline at the end."""
    import datetime
    import json
    from dataclasses import dataclass

    from flask.json.provider import DefaultJSONProvider

    body = client.get("/api/v1/search", query_string={"q": "儿童 online protection — “quoted”", "min_score": "0"}).get_data()
    data = json.loads(body)
    assert data["results"] and body == (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    @dataclass
    class Point:
        x: int

    flask_json = DefaultJSONProvider(app)
    flask_json.ensure_ascii, flask_json.sort_keys = False, False
    odd = {"when": datetime.datetime(2024, 4, 19, 8, 30, tzinfo=datetime.timezone.utc), "day": datetime.date(2024, 4, 19),
           "point": Point(3), "big": 2**70, "keys": {1: "int key"}, "text": "中文 ü \u2028", "ratio": 0.1 + 0.2}
    with app.app_context():
        assert app.json.dumps(odd) == flask_json.dumps(odd, separators=(",", ":"))
        assert app.json.response(odd).get_data() == flask_json.response(odd).get_data()
