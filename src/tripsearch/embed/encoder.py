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

    def __init__(self, model=None):
        """``model``: a name, folder, None for the default model, or an already resolved ``ModelRef``."""
        from tripsearch.embed.models import resolve

        ref = resolve(model)
        self.name, self.path, self.fingerprint = ref.name, ref.path, ref.fingerprint
        from sentence_transformers import SentenceTransformer  # 8–10 s: only when a model is really needed

        try:
            self.model = SentenceTransformer(self.path, device="cpu")
        except Exception as exc:  # a folder that is not a model: ValueError, OSError, JSON errors, ...
            from tripsearch.errors import ModelProblem

            raise ModelProblem(f"{self.path}: cannot load the model ({type(exc).__name__}: {exc})") from None
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        def batch(items: list[str]) -> np.ndarray:
            return self.model.encode(items, batch_size=len(items), convert_to_numpy=True, show_progress_bar=False)

        return encode_sorted(batch, texts, batch_size, progress, self.dim)

    def _pooling(self) -> str:
        modules = list(self.model)
        if len(modules) >= 2 and type(modules[0]).__name__ == "Transformer" and type(modules[1]).__name__ == "Pooling":
            mode = modules[1].pooling_mode
            mode = mode if isinstance(mode, str) else (mode[0] if len(mode) == 1 else "")
            if all(type(m).__name__ == "Normalize" for m in modules[2:]) and hasattr(
                modules[0].tokenizer, "backend_tokenizer"
            ):
                return mode
        return ""

    def embed_passages(self, items, progress=None, *, method: str | None = None, workers: int = 1):
        """As ``OnnxEncoder.embed_passages``, on torch (one batch at a time: torch parallelises inside it)."""
        from tripsearch.embed import late

        method = method or late.TWO_PASS
        if self._pooling() != "mean":
            return (*late.embed_separately(self.encode, items, self.dim, progress), late.TWO_PASS)
        vectors, sentences = late.embed_passages(
            _TorchTokens(self.model),
            items,
            self.model.max_seq_length,
            self.dim,
            method=method,
            workers=1,
            progress=progress,
            fallback=self.encode,
        )
        return vectors, sentences, method


class _TorchTokens:
    """The token-embedding seam of ``tripsearch.embed.late`` over a loaded SentenceTransformer."""

    def __init__(self, model):
        from tokenizers import Tokenizer

        transformer = model[0]
        self.raw_tokenizer = Tokenizer.from_str(transformer.tokenizer.backend_tokenizer.to_str())
        self.raw_tokenizer.no_truncation()
        self.raw_tokenizer.no_padding()
        self.pad_id = int(transformer.tokenizer.pad_token_id or 0)
        self.transformer = transformer

    def token_embeddings(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            features = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
            if "token_type_ids" in self.transformer.tokenizer.model_input_names:
                features["token_type_ids"] = torch.zeros_like(features["input_ids"])
            return self.transformer(features)["token_embeddings"].float().numpy()
