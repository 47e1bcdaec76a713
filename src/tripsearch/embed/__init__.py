"""Stage 3: embed passages and questions. Nothing heavy is imported until an encoder is loaded.

Two backends share the ``Encoder`` seam (``tripsearch.embed.encoder``):

* ``"sentence-transformers"``: torch; any sentence-transformers model; 8–10 s just to import.
* ``"onnx"``: a verified ONNX export of the same model on onnxruntime + tokenizers; starts in well under a
  second and never imports torch. Exports are made at build time by ``ensure_fast_encoder``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tripsearch.embed.models import DEFAULT_MODEL
from tripsearch.errors import BadInput

__all__ = ["BACKENDS", "DEFAULT_MODEL", "ensure_fast_encoder", "load_encoder"]

BACKENDS = ("auto", "onnx", "sentence-transformers")

log = logging.getLogger(__name__)


def load_encoder(model=None, backend: str = "auto", cache_dir: Path | str | None = None, *, threads: int | None = None):
    """The encoder for ``model`` (a name, folder, None for all-MiniLM-L6-v2, or a resolved ``ModelRef``).

    ``backend``: ``"onnx"`` (raises ``tripsearch.errors.OnnxUnavailable`` with the reason if there is no
    usable verified export for the model's fingerprint in ``cache_dir``), ``"sentence-transformers"``, or
    ``"auto"``: ONNX when a verified export exists, else sentence-transformers (a broken export is logged as
    a warning and skipped). ``cache_dir`` defaults to ``$TRIPSEARCH_CACHE``, else ~/.cache/tripsearch/encoders.
    ``threads``: onnxruntime intra-op threads (default all cores).
    """
    if backend not in BACKENDS:
        raise BadInput(f"unknown encoder backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend in ("auto", "onnx"):
        from tripsearch.embed.runtime import OnnxEncoder
        from tripsearch.errors import OnnxUnavailable

        try:
            return OnnxEncoder(model, cache_dir, threads=threads)
        except OnnxUnavailable as exc:
            if backend == "onnx":
                raise
            if exc.broken:
                log.warning("falling back to sentence-transformers: %s", exc.reason)
            else:
                log.info("using sentence-transformers: %s", exc.reason)
    from tripsearch.embed.encoder import SentenceTransformerEncoder

    return SentenceTransformerEncoder(model)


def ensure_fast_encoder(model: str | None = None, cache_dir: Path | str | None = None) -> str:
    """Export ``model`` to ONNX unless a verified export is already cached; a one-line status for humans.

    Starts with "onnx encoder ready" on success; otherwise says why not (queries then use
    sentence-transformers). Never raises for a model that cannot be exported, so a build can always call it.
    """
    from tripsearch.embed.export import build_onnx

    return build_onnx(model, cache_dir).line()
