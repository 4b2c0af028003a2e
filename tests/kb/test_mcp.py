"""`kb mcp` driven by the MCP Python SDK's own client over stdio, on a real home."""

import asyncio
import json
import os
import sys

import pytest

from kb import KnowledgeBase, Settings

from ..conftest import ROOT, SAMPLE_DIR

mcp = pytest.importorskip("mcp", reason="the mcp extra")


def _call(home, steps, extra_args=()):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "kb.cli", "mcp", "--home", str(home), *extra_args],
                                   env={**os.environ, "KB_MODEL": "hash"}, cwd=str(ROOT))

    async def run():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await steps(session)

    return asyncio.run(asyncio.wait_for(run(), 120))


def _json(result):
    assert not result.is_error, result
    return json.loads(result.content[0].text) if len(result.content) == 1 else [json.loads(c.text) for c in result.content]


def test_an_assistant_lists_the_tools_searches_and_reads_a_passage(tmp_path):
    home = tmp_path / "home"
    KnowledgeBase(Settings.load(env={}, home=home, model="hash")).ingest([SAMPLE_DIR])

    async def steps(session):
        names = sorted(t.name for t in (await session.list_tools()).tools)
        found = await session.call_tool("search", {"query": "online child protection", "k": 3, "mode": "lexical"})
        hits = _json(found)
        hits = hits if isinstance(hits, list) else [hits]
        around = await session.call_tool("get_passage", {"passage_id": hits[0]["passage_id"], "around": 1})
        docs = _json(await session.call_tool("list_documents", {}))
        docs = docs if isinstance(docs, list) else [docs]
        doc = _json(await session.call_tool("get_document", {"document_id": docs[0]["id"], "limit": 2}))
        missing = await session.call_tool("get_passage", {"passage_id": "0" * 16})
        return names, hits, _json(around), docs, doc, missing

    names, hits, around, docs, doc, missing = _call(home, steps)
    assert names == ["get_document", "get_passage", "list_documents", "search"]
    assert 1 <= len(hits) <= 3 and "child" in hits[0]["text"].lower() and hits[0]["title"]
    assert around["passage_id"] == hits[0]["passage_id"] and around["document"]["id"] == hits[0]["document_id"]
    assert docs[0]["title"] == "UNICEF China 2023 Annual Report" and len(doc["passage_list"]) == 2
    assert missing.is_error and "no passage" in missing.content[0].text
