"""The LangChain retriever against the real server."""

import pytest

from kb import KnowledgeBase, Settings

from ..conftest import SAMPLE_DIR
from .test_server import running_server

pytest.importorskip("langchain_core", reason="the langchain extra")


def test_the_langchain_retriever_returns_cited_passages(tmp_path):
    from kb.integrations.langchain import KBRetriever

    home = tmp_path / "home"
    KnowledgeBase(Settings.load(env={}, home=home, model="hash")).ingest([SAMPLE_DIR])
    with running_server(KB_HOME=str(home), KB_MODEL="hash") as base:
        retriever = KBRetriever(base_url=base, k=3, mode="lexical")
        docs = retriever.invoke("online child protection")
        assert len(docs) == 3 and "child" in docs[0].page_content.lower()
        meta = docs[0].metadata
        assert meta["title"] == "UNICEF China 2023 Annual Report" and len(meta["passage_id"]) == 16
        assert 0 <= meta["relevance"] <= 1 or meta["relevance"] is None
        narrow = KBRetriever(base_url=base, k=5, mode="lexical", search_kwargs={"filters": {"document": "nope"}})
        assert narrow.invoke("child protection") == []
