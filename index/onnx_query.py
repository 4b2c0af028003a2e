"""Query encoding on ONNX Runtime: the same vectors as torch (a test checks the cosine), and
several times faster for one short query on a CPU, where a query's encode is most of a search.

The model is exported once with `torch.onnx` (transformer + mean pooling + L2 norm in one
graph) into a cache folder and then run with plain `onnxruntime` and the model's own
tokenizer. Only models built as Transformer → mean Pooling (→ Normalize) are exported;
others keep torch.

Queries that arrive together (server threads) can be encoded together (`max_batch` > 1):
the first caller runs one padded batch for everyone waiting, and hands the lead to a waiter
if more arrived meanwhile (mean pooling masks the padding, so each vector is what it would
be alone). On this 2-core CPU it did not raise throughput (dense API requests at 8 clients:
84 req/s batched, 98 one by one; the encoder is compute-bound and padding costs), so the
default is 1: queries are encoded one at a time, in arrival order, each run on all the
encoder's threads (no two runs oversubscribe the cores).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

__all__ = ["OnnxQueryEncoder", "Batcher", "supports_onnx"]

log = logging.getLogger("index")


def supports_onnx(st_model) -> bool:
    kinds = [type(m).__name__ for m in st_model]
    pooling = st_model[1] if len(kinds) > 1 else None
    mean = getattr(pooling, "pooling_mode_mean_tokens", None) or getattr(pooling, "pooling_mode", None) == "mean"
    return kinds[:2] == ["Transformer", "Pooling"] and bool(mean) and all(k == "Normalize" for k in kinds[2:])


def _export(st_model, path: Path) -> None:
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    sample = st_model.tokenizer(["export sample", "a second, longer export sample"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"embedding": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(Encoder(st_model[0].auto_model.eval()), tuple(sample[n] for n in names), str(tmp),
                          input_names=names, output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)
    st_model.tokenizer.backend_tokenizer.save(str(tmp.with_suffix(".tokenizer")))
    sidecar = {"max_seq_length": int(st_model.max_seq_length), "dim": int((getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension)())}
    tmp.with_suffix(".info").write_text(json.dumps(sidecar))
    # the graph goes last: its presence says the other two files are there (another process
    # exporting at the same time writes the same bytes)
    os.replace(tmp.with_suffix(".tokenizer"), path.with_suffix(".tokenizer.json"))
    os.replace(tmp.with_suffix(".info"), path.with_suffix(".json"))
    os.replace(tmp, path)


class _Slot:
    __slots__ = ("text", "ready", "lead", "vector", "error")

    def __init__(self, text: str):
        self.text, self.ready, self.lead = text, threading.Event(), False
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None


class Batcher:
    """Runs `encode_batch` over whatever calls are waiting, at most `max_batch` at a time."""

    def __init__(self, encode_batch, max_batch: int = 32):
        self._encode, self._max = encode_batch, max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Slot] = []
        self._busy = False
        self.runs = 0  # batches run (fewer than calls when calls overlapped)

    def __call__(self, text: str) -> np.ndarray:
        slot = _Slot(text)
        with self._lock:
            self._waiting.append(slot)
            slot.lead, self._busy = not self._busy, True
        if not slot.lead:
            slot.ready.wait()
        if slot.lead:  # ours from the start, or handed over by the last leader
            self._lead()
        if slot.error is not None:
            raise slot.error
        assert slot.vector is not None
        return slot.vector

    def _lead(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting[:self._max], self._waiting[self._max:]
        try:
            vectors = self._encode([s.text for s in batch])
            for s, v in zip(batch, vectors):
                s.vector = v
        except BaseException as exc:  # every caller in the batch sees the error
            for s in batch:
                s.error = exc
        self.runs += 1
        for s in batch:
            s.lead = False
            s.ready.set()
        with self._lock:
            if self._waiting:
                self._waiting[0].lead = True
                self._waiting[0].ready.set()
            else:
                self._busy = False


class OnnxQueryEncoder:
    """Opens an exported encoder with nothing but onnxruntime and `tokenizers`: a server
    answering queries never imports torch (seconds at start and hundreds of MB)."""

    def __init__(self, path: Path, threads: int | None = None, max_batch: int = 1):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        info = json.loads(path.with_suffix(".json").read_text())
        self.dim, self.max_length = int(info["dim"]), int(info["max_seq_length"])
        self._tokenizer = Tokenizer.from_file(str(path.with_suffix(".tokenizer.json")))
        self._tokenizer.enable_truncation(self.max_length)
        self._tokenizer.enable_padding()  # to the longest in the batch (the file says fixed 128)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)  # a short query still gains from 2
        # Threads spin while a run lasts (fast) but stop at its end: spinning on afterwards took
        # a core from the request's own work and from the client (a slower HTTP p99).
        options.add_session_config_entry("session.force_spinning_stop", "1")
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.encode = Batcher(self.encode_batch, max_batch)

    @classmethod
    def open(cls, st_model_loader, path: Path, max_batch: int = 1, threads: int | None = None) -> "OnnxQueryEncoder":
        """The encoder at `path`, exported first from the model `st_model_loader()` gives if missing."""
        if not (path.exists() and path.with_suffix(".json").exists() and path.with_suffix(".tokenizer.json").exists()):
            log.info("exporting the query encoder to %s", path)
            _export(st_model_loader(), path)
        return cls(path, threads=threads, max_batch=max_batch)

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(list(texts))
        feed = {"input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64)}
        return np.ascontiguousarray(self._session.run(None, feed)[0], dtype=np.float32)
