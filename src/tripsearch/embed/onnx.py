"""The fast encoder, in three modules; this one keeps the names older code imports from ``tripsearch.embed.onnx``.

* ``tripsearch.embed.runtime``: ``OnnxEncoder`` on onnxruntime + tokenizers (never imports torch).
* ``tripsearch.embed.export``: ``build_onnx`` / ``export_onnx``, the torch path that makes a verified export.
* ``tripsearch.embed.cache``: the cache layout, the verification record, ``OnnxStatus``, ``onnx_status``.

Importing this module imports neither torch nor sentence_transformers (export does so only inside functions).
"""

from __future__ import annotations

from tripsearch.embed.cache import FORMAT, MIN_COSINE, OnnxStatus, default_cache_dir, onnx_status
from tripsearch.embed.export import VERIFY_TEXTS, build_onnx, export_onnx
from tripsearch.embed.runtime import OnnxEncoder
from tripsearch.errors import OnnxUnavailable

__all__ = [
    "FORMAT",
    "MIN_COSINE",
    "VERIFY_TEXTS",
    "OnnxEncoder",
    "OnnxStatus",
    "OnnxUnavailable",
    "build_onnx",
    "default_cache_dir",
    "export_onnx",
    "onnx_status",
]
