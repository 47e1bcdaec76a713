"""The ONNX runtime: a verified export of a sentence-transformers model, run on onnxruntime + tokenizers.

Imports only numpy, onnxruntime and tokenizers — never torch or sentence_transformers (a test checks this in a
subprocess): the query path and a build with a cached export start in well under a second and stay small.
The export itself (the torch path) is ``tripsearch.embed.export``; the cache layout is ``tripsearch.embed.cache``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tripsearch.embed.cache import INPUTS, ONNX_FILE, TOKENIZER_FILE, cache_root, check_export
from tripsearch.embed.encoder import Progress, encode_sorted
from tripsearch.embed.models import ModelRef, resolve
from tripsearch.errors import OnnxUnavailable

_loads = 0  # onnxruntime sessions created in this process: a build should create one (tests count them)


def session_loads() -> int:
    """How many ONNX model sessions this process has loaded so far."""
    return _loads


def cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Runtime:
    """onnxruntime session + tokenizer for one export folder: texts -> pooled (not yet normalised) vectors.

    ``threads``: onnxruntime intra-op threads (default: all cores). The session is safe to run from several
    threads at once (onnxruntime releases the GIL), which the build uses to keep both cores busy.
    """

    def __init__(self, folder: Path, meta: dict, threads: int | None = None):
        global _loads
        import onnxruntime as ort
        from tokenizers import Tokenizer

        where = f"broken ONNX export in {folder}"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or cores()
        options.inter_op_num_threads = 1
        # Idle intra-op threads sleep instead of spinning: on this shared 2-core machine a 2-thread session ran
        # 10-26 % more tokens/s that way ((8, 256) batches, medians of 20 runs, load ~8) and 12 % more for
        # one 16-token query (median of 200); the same outputs. No effect on a 1-thread session (the build's).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for corrupt or truncated files
            raise OnnxUnavailable(f"{where}: onnxruntime cannot load {ONNX_FILE}: {exc}", broken=True) from exc
        _loads += 1
        try:
            tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        except Exception as exc:
            raise OnnxUnavailable(f"{where}: cannot read {TOKENIZER_FILE}: {exc}", broken=True) from exc
        tokenizer.no_truncation()
        tokenizer.no_padding()
        # Whole texts with character offsets, for pooling token spans (tripsearch.embed.late).
        self.raw_tokenizer = Tokenizer.from_str(tokenizer.to_str())
        tokenizer.enable_truncation(max_length=int(meta["max_seq_length"]))
        tokenizer.enable_padding(
            direction="right",
            pad_id=int(meta["pad_id"]),
            pad_token=meta["pad_token"],
            pad_type_id=int(meta["pad_type_id"]),
        )
        self.tokenizer = tokenizer
        self.pad_id = int(meta["pad_id"])
        self.pad_type_id = int(meta["pad_type_id"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        unknown = set(self.inputs) - set(INPUTS)
        if unknown or "input_ids" not in self.inputs:
            raise OnnxUnavailable(f"{where}: unexpected model inputs {self.inputs}", broken=True)
        self.output = self.session.get_outputs()[0].name
        self.pooling = meta["pooling"]

    def token_embeddings(self, ids: np.ndarray, mask: np.ndarray, type_ids: np.ndarray | None = None) -> np.ndarray:
        """(B, T, dim) float32 last hidden states for right-padded int64 ``ids`` / ``mask`` of shape (B, T)."""
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids) if type_ids is None else type_ids
        feeds = {k: v for k, v in feeds.items() if k in self.inputs}
        return self.session.run([self.output], feeds)[0].astype(np.float32, copy=False)

    def pooled(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        type_ids = np.array([e.type_ids for e in encodings], dtype=np.int64)
        return pool(self.token_embeddings(ids, mask, type_ids), mask, self.pooling)


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """sentence-transformers' Pooling for right-padded batches: hidden (B, T, D), mask (B, T)."""
    if mode == "mean":
        m = mask[:, :, None].astype(np.float32)
        return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    if mode == "cls":
        first = mask.argmax(axis=1)
        return hidden[np.arange(hidden.shape[0]), first]
    if mode == "max":
        return np.where(mask[:, :, None] > 0, hidden, -np.inf).max(axis=1)
    raise ValueError(f"unsupported pooling {mode!r}")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.nan_to_num((a * b).sum(axis=1), nan=-1.0)


class OnnxEncoder:
    """The ``Encoder`` for ``model`` from its verified ONNX export. Imports neither torch nor sentence_transformers.

    ``model``: a name, folder, None (the default model) or a ``ModelRef`` already resolved by the caller (then
    the model folder is not hashed again). ``threads``: onnxruntime intra-op threads (default all cores).
    Raises ``OnnxUnavailable`` (with the reason) if there is no verified export for the model's fingerprint in
    ``cache_dir``, or if the export there is broken (files missing or corrupt, or it fails the load-time
    self-check against the embedding recorded at export).
    """

    kind = "onnx"

    def __init__(
        self,
        model: str | ModelRef | None = None,
        cache_dir: Path | str | None = None,
        *,
        threads: int | None = None,
    ):
        ref = resolve(model)
        self.name, self.path, self.fingerprint = ref.name, ref.path, ref.fingerprint
        cache = cache_root(cache_dir)
        self.export_dir = cache / self.fingerprint
        meta = check_export(self.export_dir, self.fingerprint, self.name, cache)
        self._init(self.export_dir, meta, threads)
        self._self_check(meta)

    @classmethod
    def from_folder(cls, folder: Path, meta: dict, ref: ModelRef, threads: int | None = None) -> OnnxEncoder:
        """An encoder over a not yet installed export (used to verify it)."""
        enc = cls.__new__(cls)
        enc.name, enc.path, enc.fingerprint, enc.export_dir = ref.name, ref.path, meta["fingerprint"], folder
        enc._init(folder, meta, threads)
        return enc

    def _init(self, folder: Path, meta: dict, threads: int | None) -> None:
        self.meta = meta
        self.dim = int(meta["dim"])
        self.max_seq_length = int(meta["max_seq_length"])
        self.pooling = meta["pooling"]
        self.runtime = Runtime(folder, meta, threads)

    def _self_check(self, meta: dict) -> None:
        probe = meta.get("probe") or {}
        expected = np.asarray(probe.get("vector") or [], dtype=np.float32)
        if expected.shape != (self.dim,):
            raise OnnxUnavailable(f"broken ONNX export in {self.export_dir}: no self-check vector", broken=True)
        got = self.encode([probe["text"]])
        cosine = float(cosines(got, expected[None, :])[0])
        if cosine < meta["verification"]["threshold"]:
            raise OnnxUnavailable(
                f"broken ONNX export in {self.export_dir}: self-check cosine {cosine:.6f} "
                f"< {meta['verification']['threshold']}",
                broken=True,
            )

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        return encode_sorted(self.runtime.pooled, texts, batch_size, progress, self.dim)

    def embed_passages(self, items, progress=None, *, method: str | None = None, workers: int = 2):
        """(passage vectors (len(items), dim), per passage its sentence vectors, the method used) with
        ``tripsearch.embed.late`` (``items`` are ``PassageInput``s; ``method`` defaults to ``late.TWO_PASS``).
        ``progress(done, total)`` counts tokens. A model without mean pooling always gets ``TWO_PASS``."""
        from tripsearch.embed import late

        method = method or late.TWO_PASS
        if self.pooling != "mean":
            return (*late.embed_separately(self.encode, items, self.dim, progress), late.TWO_PASS)
        vectors, sentences = late.embed_passages(
            self.runtime,
            items,
            self.max_seq_length,
            self.dim,
            method=method,
            workers=workers,
            progress=progress,
            fallback=self.encode,
        )
        return vectors, sentences, method

    def __repr__(self) -> str:
        return f"OnnxEncoder({self.name!r}, fingerprint={self.fingerprint}, pooling={self.pooling}, dim={self.dim})"
