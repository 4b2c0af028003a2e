"""kb: a searchable knowledge base over reports.

Importing kb is cheap: the model, FAISS and the indexes load only when first needed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__all__ = [
    "KnowledgeBase",
    "Settings",
    "Document",
    "Passage",
    "Occurrence",
    "Result",
    "IngestReport",
    "Record",
    "KBError",
    "InvalidRequest",
    "NotFound",
    "LoadError",
    "IndexMismatch",
]

_WHERE = {
    "KnowledgeBase": "kb.knowledge",
    "Settings": "kb.settings",
    **dict.fromkeys(["Document", "Passage", "Occurrence", "Result", "IngestReport", "Record"], "kb.records"),
    **dict.fromkeys(["KBError", "InvalidRequest", "NotFound", "LoadError", "IndexMismatch"], "kb.errors"),
}

if TYPE_CHECKING:  # pragma: no cover
    from .errors import IndexMismatch, InvalidRequest, KBError, LoadError, NotFound
    from .knowledge import KnowledgeBase
    from .records import Document, IngestReport, Occurrence, Passage, Record, Result
    from .settings import Settings


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'kb' has no attribute {name!r}")
