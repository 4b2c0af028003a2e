"""Imports go one way: webapp -> kb -> index.

One deliberate exception: `kb serve` (kb/cli.py) starts the web app, so the CLI, the
composition root, imports `webapp` inside that command. No library module of kb does.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"index": {"kb", "webapp"}, "kb": {"webapp"}}
EXEMPT = {Path("kb/cli.py"): {"webapp"}}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package):
    for path in (ROOT / package).rglob("*.py"):
        bad = set(_imports(path)) & FORBIDDEN[package] - EXEMPT.get(path.relative_to(ROOT), set())
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_importing_kb_loads_no_model_or_index():
    import subprocess
    import sys

    code = "import sys, kb, index, webapp; print(sorted(m for m in ('torch', 'sentence_transformers', 'faiss', 'bm25s') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_the_web_app_talks_to_knowledgebase_methods_only():
    """webapp reads the store, the service tables, the live index and the engine's parts only
    through `KnowledgeBase` methods (which return dataclasses or a small store of their own,
    like `job_log()`), so another backend slots in below, and webapp holds no SQL."""
    inner = {"store", "live", "lexical", "vectors", "searcher", "service", "session"}
    for path in (ROOT / "webapp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in inner:
                raise AssertionError(f"{path.relative_to(ROOT)}:{node.lineno} reaches into .{node.attr}")
