"""`kb mcp`: the knowledge base as a Model Context Protocol server (stdio), for AI assistants.

Tools: `search` (ranked passages with their document, section, page and relevance),
`list_documents`, `get_document` (metadata and a page of passages) and `get_passage` (a
passage with its neighbours). It reads the home directly, as `kb search` does; with
`--url` it asks a running kb server instead (through `kb.client`), keys and limits included.
Needs the optional extra: ``pip install 'kb[mcp]'``.
"""

from __future__ import annotations

from typing import Any

from . import reading

__all__ = ["build_server"]

INSTRUCTIONS = ("Search an organisation's reports. Call `search` with the user's question in plain words; "
                "each result has the passage text and where it comes from (document title, section, page) "
                "to quote and cite. `get_passage` gives a passage's neighbours for context.")


class _Local:
    """Tools over a home on this machine."""

    def __init__(self, kb):
        self.kb = kb

    def search(self, query: str, k: int, mode: str) -> list[dict]:
        return [r.to_dict() for r in self.kb.search(query, k=k, mode=mode)]

    def documents(self) -> list[dict]:
        return [d.to_dict() for d in self.kb.documents()]

    def document(self, doc_id: str, offset: int, limit: int) -> dict:
        return reading.document_page(self.kb, doc_id, offset, limit)

    def passage(self, passage_id: str, around: int) -> dict:
        return reading.passage_around(self.kb, passage_id, around)


class _Remote:
    """The same tools through a kb server's API."""

    def __init__(self, client):
        self.client = client

    def search(self, query: str, k: int, mode: str) -> list[dict]:
        return self.client.search(query, k=k, mode=mode)["results"]

    def documents(self) -> list[dict]:
        return self.client.documents()

    def document(self, doc_id: str, offset: int, limit: int) -> dict:
        return self.client.document(doc_id, offset, limit)

    def passage(self, passage_id: str, around: int) -> dict:
        return self.client.passage(passage_id, around)


def _brief(result: dict) -> dict:
    """A search result as an assistant needs it: text, where from, how good."""
    doc = result["document"]
    return {"text": result["text"], "relevance": result.get("relevance"), "match": result.get("match"),
            "passage_id": result["passage_id"], "document_id": doc["id"], "title": doc["title"],
            "organisation": doc.get("organisation"), "date": doc.get("date"), "section": result.get("section"),
            "page": result.get("page"), "highlights": result.get("highlights", [])}


def build_server(source: Any):
    """An MCPServer with kb's tools over `source` (a KnowledgeBase, or a kb.client.Client)."""
    import functools

    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from .client import Client, ClientError
    from .errors import KBError

    def said(tool):
        """kb's own errors reach the assistant as their message (the SDK hides others)."""
        @functools.wraps(tool)
        def wrapper(*args, **kwargs):
            try:
                return tool(*args, **kwargs)
            except (KBError, ClientError) as exc:
                raise ToolError(getattr(exc, "message", str(exc))) from None
        return wrapper

    tools = _Remote(source) if isinstance(source, Client) else _Local(source)
    server = MCPServer("kb", instructions=INSTRUCTIONS)

    @server.tool()
    @said
    def search(query: str, k: int = 5, mode: str = "hybrid") -> list[dict]:
        """Passages of the reports that answer `query` (plain words), best first: text,
        relevance (0-1), document title, organisation, date, section, page. An empty list
        means nothing matched well. `k`: 1-20 results; `mode`: hybrid, dense or lexical."""
        return [_brief(r) for r in tools.search(query, max(1, min(int(k), 20)), mode)]

    @server.tool()
    @said
    def list_documents() -> list[dict]:
        """Every report in the knowledge base: id, title, organisation, date, period, kind."""
        return [{k: d.get(k) for k in ("id", "title", "organisation", "date", "period", "kind", "passages")}
                for d in tools.documents()]

    @server.tool()
    @said
    def get_document(document_id: str, offset: int = 0, limit: int = 20) -> dict:
        """A report's metadata and its passages in reading order, `limit` (1-100) from `offset`."""
        return tools.document(document_id, max(0, int(offset)), max(1, min(int(limit), 100)))

    @server.tool()
    @said
    def get_passage(passage_id: str, around: int = 1) -> dict:
        """One passage (from a search result) with `around` (0-5) passages before and after it."""
        return tools.passage(passage_id, max(0, min(int(around), 5)))

    return server
