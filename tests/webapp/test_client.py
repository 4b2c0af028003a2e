"""kb.client.Client against the real server (`kb serve`, waitress, over HTTP)."""

import pytest

from kb import KnowledgeBase, Settings
from kb.client import Client, ClientError

from ..conftest import SAMPLE_DIR
from .test_server import running_server

REPORT = ("Water and Sanitation Annual Report 2024\n\nRural water supply\n\nIn 2024 the programme drilled 312 new "
          "boreholes in rural districts and trained 1,450 village water committees to maintain hand pumps.\n")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("client") / "home"
    kb = KnowledgeBase(Settings.load(env={}, home=home, model="hash"))
    kb.ingest([SAMPLE_DIR])
    key = kb.keys.create("client")
    with running_server(KB_HOME=str(home), KB_MODEL="hash") as base:
        yield base, key


def test_search_batch_and_documents(served):
    base, key = served
    kb = Client(base)
    answer = kb.search("online child protection", k=3, mode="lexical")
    assert len(answer["results"]) == 3 and "child" in answer["results"][0]["text"].lower()
    batch = kb.batch([{"query": "newborn care", "k": 1}, {"query": "child marriage", "k": 2, "min_score": 0}])
    assert [len(b["results"]) for b in batch] == [1, 2]
    docs = kb.documents()
    page = kb.document(docs[0]["id"], limit=2)
    assert page["id"] == docs[0]["id"] and len(page["passage_list"]) == 2
    first = page["passage_list"][0]["passage_id"]
    assert kb.passage(first, around=0)["passage_id"] == first


def test_errors_raise_with_code_and_request_id(served):
    base, key = served
    with pytest.raises(ClientError) as info:
        Client(base).search(" ")
    assert info.value.status == 400 and info.value.code == "empty_query" and info.value.request_id
    with pytest.raises(ClientError) as info:
        Client(base).upload([])
    assert info.value.status == 401


def test_upload_wait_edit_and_remove(served, tmp_path):
    base, key = served
    kb = Client(base, key=key)
    (tmp_path / "water.txt").write_text(REPORT)
    job = kb.upload([tmp_path / "water.txt"])
    done = kb.wait(job["id"], timeout=120, every=0.1)
    assert done["state"] == "done" and len(done["report"]["added"]) == 1
    hit = kb.search("boreholes drilled", k=1)["results"][0]
    assert "312 new boreholes" in hit["text"]
    doc_id = hit["document"]["id"]
    assert kb.edit(doc_id, title="Water 2024")["title"] == "Water 2024"
    assert kb.remove(doc_id)["id"] == doc_id
    with pytest.raises(ClientError) as info:
        kb.document(doc_id)
    assert info.value.status == 404 and info.value.code == "not_found"
