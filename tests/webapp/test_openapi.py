"""The OpenAPI description is valid, covers every route, and real responses match it."""

import io
import json

import jsonschema

from webapp.openapi import spec


def _check(response, path, method, status=None):
    op = spec()["paths"][path][method]
    status = str(status or response.status_code)
    assert status in op["responses"], f"{method.upper()} {path} answered {status}, which the spec does not list"
    content = op["responses"][status].get("content", {})
    if "application/json" in content:
        schema = content["application/json"]["schema"]
        resolver_doc = {"components": spec()["components"], **schema}
        jsonschema.validate(response.get_json(), resolver_doc, cls=jsonschema.Draft202012Validator)


def test_the_description_is_valid_openapi():
    from openapi_spec_validator import validate

    validate(spec())


def test_every_api_route_is_described(app):
    described = {(path, method) for path, item in spec()["paths"].items() for method in item if method in ("get", "post", "patch", "delete")}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint.split(".")[0] == "api":
            path = rule.rule[len("/api/v1"):].replace("<", "{").replace(">", "}")
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes and routes == described


def test_the_spec_and_docs_are_served(client):
    assert client.get("/api/v1/openapi.json").get_json()["openapi"] == "3.1.0"
    assert client.get("/api/openapi.json").status_code == 200
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "GET /search" in page and "POST /documents" in page and "needs an API key" in page


def test_real_responses_match_their_schemas(client, sample_kb):
    doc = sample_kb.documents()[0]
    _check(client.get("/api/v1/search?q=newborn+care&explain=true"), "/search", "get")
    _check(client.get("/api/v1/search?q=zebra+xylophone+quantum&min_score=0.5"), "/search", "get")
    _check(client.get("/api/v1/search?q="), "/search", "get")
    _check(client.post("/api/v1/search", json={"query": "children", "k": 2, "offset": 2, "diversify": True}), "/search", "post")
    _check(client.post("/api/v1/search", json={"query": "a", "k": "x"}), "/search", "post")
    _check(client.post("/api/v1/search/batch", json={"queries": [{"query": "children"}]}), "/search/batch", "post")
    _check(client.get("/api/v1/documents"), "/documents", "get")
    _check(client.get(f"/api/v1/documents/{doc.id}"), "/documents/{doc_id}", "get")
    _check(client.get("/api/v1/documents/nope"), "/documents/{doc_id}", "get")
    pid = client.get(f"/api/v1/documents/{doc.id}").get_json()["passage_list"][1]["passage_id"]
    _check(client.get(f"/api/v1/passages/{pid}"), "/passages/{passage_id}", "get")
    _check(client.get("/api/v1/health"), "/health", "get")
    _check(client.get("/api/v1/ready"), "/ready", "get")
    _check(client.delete(f"/api/v1/documents/{doc.id}"), "/documents/{doc_id}", "delete")  # 401: no key
    _check(client.post("/api/v1/documents", data={"files": (io.BytesIO(b"x"), "a.txt")}), "/documents", "post")


def test_metrics_count_requests_and_index_size(client):
    client.get("/api/v1/search?q=newborn+care")
    client.get("/api/v1/documents/nope")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'kb_http_requests_total{method="GET",route="/api/v1/search",status="200"}' in text
    assert 'kb_http_requests_total{method="GET",route="/api/v1/documents/<doc_id>",status="404"}' in text
    assert 'kb_search_seconds_count{mode="hybrid"}' in text
    assert "kb_index_passages 5.0" in text and "kb_index_documents 1.0" in text


def test_the_descriptions_limits_are_the_settings(tmp_path):
    """k ≤ 100 and 1,000 characters were written into the description by hand."""
    from kb import Settings
    from webapp import create_app

    app = create_app({"KB_SETTINGS": Settings.load(env={}, home=tmp_path / "h", model="hash", max_k=20, max_query_chars=300,
                                                   candidates=150)})
    described = app.test_client().get("/api/v1/openapi.json").get_json()
    body = described["components"]["schemas"]["SearchRequest"]["properties"]
    assert body["k"]["maximum"] == 20 and body["query"]["maxLength"] == 300 and body["offset"]["maximum"] == 150
    params = {p["name"]: p["schema"] for p in described["paths"]["/search"]["get"]["parameters"]}
    assert params["k"]["maximum"] == 20 and params["q"]["maxLength"] == 300 and params["offset"]["maximum"] == 150
    client = app.test_client()
    assert client.get("/api/v1/search?q=water&k=21").status_code == 400
    # an offset of 25 digits was valid by the description (no maximum) and refused with a 400
    # (the fuzz test found it): the description now says how deep a search reaches
    assert client.get("/api/v1/search?q=water&offset=5750570120326890775379968").status_code == 400
    assert client.get("/api/v1/search", query_string={"q": "w" * 301}).status_code == 400
    assert "\"$max" not in json.dumps(described) and "\"$candidates" not in json.dumps(described)  # every "$setting" was replaced
