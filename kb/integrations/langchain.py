"""A LangChain retriever over a kb server (``pip install 'kb[langchain]'``).

    from kb.integrations.langchain import KBRetriever

    retriever = KBRetriever(base_url="http://127.0.0.1:8000", k=4)
    docs = retriever.invoke("what was done on online child protection")
    docs[0].page_content, docs[0].metadata["title"], docs[0].metadata["page"]

Each passage becomes a `Document` whose metadata says where it comes from (document id,
title, organisation, date, section, page, passage id) and how well it matched (relevance,
match); an empty list means nothing matched well enough.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from ..client import Client

__all__ = ["KBRetriever", "to_document"]


def to_document(result: dict) -> Document:
    doc = result["document"]
    return Document(page_content=result["text"], metadata={
        "passage_id": result["passage_id"], "document_id": doc["id"], "title": doc["title"],
        "source": doc.get("source"), "organisation": doc.get("organisation"), "date": doc.get("date"),
        "period": doc.get("period"), "section": result.get("section"), "page": result.get("page"),
        "relevance": result.get("relevance"), "match": result.get("match"), "highlights": result.get("highlights", [])})


class KBRetriever(BaseRetriever):
    """Passages from kb's search API, best first."""

    base_url: str = "http://127.0.0.1:8000"
    api_key: str | None = None
    k: int = 4
    mode: str = "hybrid"
    search_kwargs: dict[str, Any] = {}  # any other search field: filters, min_score, rerank, ...
    timeout: float = 60.0

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        client = Client(self.base_url, key=self.api_key, timeout=self.timeout)
        answer = client.search(query, k=self.k, mode=self.mode, **self.search_kwargs)
        return [to_document(r) for r in answer["results"]]
