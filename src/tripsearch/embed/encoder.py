"""The encoder seam: text → L2-normalised float32 vectors. Two implementations share it.

``SentenceTransformerEncoder`` loads any sentence-transformers model (torch; slow to import).
``tripsearch.embed.onnx`` runs an exported copy of the same model on onnxruntime (fast to start).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

Progress = Callable[[int], None]  # called with the number of texts just encoded


class Encoder(Protocol):
    name: str  # what the user asked for: "all-MiniLM-L6-v2", a path, or a hub name
    fingerprint: str  # content hash of the model folder
    dim: int
    kind: str  # "sentence-transformers" or "onnx"

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        """(len(texts), dim) float32 rows of unit length, in the order given."""
        ...


def encode_sorted(
    encode_batch: Callable[[list[str]], np.ndarray],
    texts: Sequence[str],
    batch_size: int,
    progress: Progress | None,
    dim: int,
) -> np.ndarray:
    """Encode in batches of similar length (less padding), then put rows back in the caller's order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        vectors = np.asarray(encode_batch([texts[i] for i in idx]), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        out[idx] = vectors / np.maximum(norms, 1e-12)
        if progress:
            progress(len(idx))
    return out


class SentenceTransformerEncoder:
    kind = "sentence-transformers"

    def __init__(self, model: str | None = None):
        from tripsearch.embed.models import fingerprint, model_name, model_path

        self.name = model_name(model)
        self.path = model_path(model)
        self.fingerprint = fingerprint(self.path)
        from sentence_transformers import SentenceTransformer  # 8–10 s: only when a model is really needed

        self.model = SentenceTransformer(self.path, device="cpu")
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        def batch(items: list[str]) -> np.ndarray:
            return self.model.encode(items, batch_size=len(items), convert_to_numpy=True, show_progress_bar=False)

        return encode_sorted(batch, texts, batch_size, progress, self.dim)
