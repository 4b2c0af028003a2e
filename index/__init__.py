"""The retrieval engine: embedders, vector and lexical indexes, fusion.

It knows passages only as (id, text, vector); documents and the web live in `kb` and `webapp`.
"""

from .embedders import DEFAULT_MODEL, Embedder, HashEmbedder, SentenceTransformerEmbedder, load_embedder, model_id
from .engine import MODES, Hit, SearchEngine
from .fusion import reciprocal_rank_fusion
from .lexical import BM25Index, LexicalIndex, load_lexical_index, new_lexical_index
from .vectors import FaissIndex, VectorIndex, load_vector_index, new_vector_index

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "HashEmbedder",
    "SentenceTransformerEmbedder",
    "load_embedder",
    "model_id",
    "MODES",
    "Hit",
    "SearchEngine",
    "reciprocal_rank_fusion",
    "BM25Index",
    "new_lexical_index",
    "load_lexical_index",
    "LexicalIndex",
    "FaissIndex",
    "VectorIndex",
    "new_vector_index",
    "load_vector_index",
]
