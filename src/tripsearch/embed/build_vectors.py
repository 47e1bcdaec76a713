"""The vectors a build needs: reused by content hash where the previous generation has them, the rest embedded
with the model loaded once (``load_build_encoder``), in token-sized batches (``tripsearch.embed.late``).

Split from ``tripsearch.build``, which scans the folder and writes the generation; this module only embeds.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from tripsearch.embed.models import ModelRef
from tripsearch.records import Passage

if TYPE_CHECKING:  # annotations only: build imports this module
    from tripsearch.build import BuildReport, _Previous

BUILD_THREADS = 1  # onnxruntime intra-op threads per session in a build (two batches run at once)


def load_build_encoder(ref: ModelRef, backend: str, report: BuildReport):
    """The encoder for a build, loaded once. With ``backend="auto"`` the ONNX export is made or checked first
    (cached by model fingerprint, so queries never need torch) and the encoder that check loaded is the one
    the build uses; sentence-transformers only when no verified export can be had."""
    from tripsearch.embed import load_encoder
    from tripsearch.embed.export import build_onnx

    # One onnxruntime thread and two batches in flight (benchmarks/embed_settings.py, medians of 3 rounds on 2
    # cores): 2,830 tokens/s against 2,275 for one batch on two threads and 1,752 for one on one; two on two
    # threads, 2,975, was within noise of it and took more memory. Padding and pooling overlap the inference.
    # Re-measured with the eager-attention export (late chunking, 150 passages, medians of 3 rounds, load ~8):
    # 1 x 2 in flight 1,761 tokens/s, 2 x 1 1,438, 2 x 2 1,625.
    if backend == "auto":
        status = build_onnx(ref, threads=BUILD_THREADS)
        report.encoder_status = status.line()
        if status.encoder is not None:
            return status.encoder
        backend = "sentence-transformers" if not status.ready else "onnx"
    return load_encoder(ref, backend=backend, threads=BUILD_THREADS)


class EncoderPrefetch:
    """Loads a build's encoder (``load_build_encoder``) in a background thread from ``start()`` on, so the model
    load (about 1 s here: the onnxruntime session, the tokenizer, the self-check) overlaps the rest of the
    scan and the planning; onnxruntime releases the GIL while it creates a session. ``build.scan`` starts it at
    the first post with text that has no vectors, so an update with nothing to embed still loads no model.
    ``encoder()`` waits for it, re-raising what the load raised; never started, it loads in the caller."""

    def __init__(self, ref: ModelRef, backend: str, report: BuildReport):
        self.ref, self.backend, self.report = ref, backend, report
        self._pool: ThreadPoolExecutor | None = None
        self._future: Future | None = None

    def start(self) -> None:
        if self._future is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder-load")
            self._future = self._pool.submit(load_build_encoder, self.ref, self.backend, self.report)

    def encoder(self):
        if self._future is None:
            return load_build_encoder(self.ref, self.backend, self.report)
        return self._future.result()

    def close(self) -> None:
        """Lets the thread end on its own (a load is never cut short: onnxruntime cannot be interrupted)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)


def embed_missing(
    passages: list[Passage],
    previous: _Previous,
    ref,
    how,
    progress,
    report: BuildReport,
    prefetch: EncoderPrefetch | None = None,
):
    """Passage and sentence vectors in row order: reused by content hash where possible, the rest embedded
    (``Encoder.embed_passages``; ``how`` is (backend, method)). Returns (vectors, sentence vectors, the method
    they were made with, the encoder or None when nothing needed a model). ``prefetch``: where the encoder
    is loading already (else it is loaded here)."""
    backend, method = how
    missing = [i for i, p in enumerate(passages) if p.content_hash not in previous.vectors_by_hash]
    encoder = None
    if missing or previous.manifest is None or not previous.reusable:
        encoder = (prefetch or EncoderPrefetch(ref, backend, report)).encoder()
        report.model_loaded, report.encoder_kind = True, encoder.kind
    else:
        method = previous.method
    dim = encoder.dim if encoder else previous.manifest.dim
    fresh: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if missing:
        from tripsearch.embed.late import PassageInput

        tokens = [0]

        def tick(done: int, total: int) -> None:
            tokens[0] = done
            if progress:
                progress(done, total)

        embed_started = time.monotonic()
        new, new_sentences, used = encoder.embed_passages(
            [PassageInput.of(passages[i]) for i in missing], progress=tick, method=method
        )
        if used != method and len(missing) < len(passages):  # a model that cannot do ``method``: redo all its way
            missing = list(range(len(passages)))
            new, new_sentences, used = encoder.embed_passages(
                [PassageInput.of(p) for p in passages], progress=tick, method=used
            )
        method = used
        report.tokens, report.embed_seconds = tokens[0], time.monotonic() - embed_started
        fresh = {i: (new[n], new_sentences[n]) for n, i in enumerate(missing)}
    report.embedded, report.reused = len(missing), len(passages) - len(missing)
    vectors = np.zeros((len(passages), dim), dtype=np.float32)
    blocks = []
    for i, passage in enumerate(passages):
        if i in fresh:
            vectors[i], block = fresh[i]
        else:
            vectors[i] = previous.vectors_by_hash[passage.content_hash]
            block = previous.sentence_vectors_by_hash[passage.content_hash]
        blocks.append(block.reshape(-1, dim))
    sentence_vectors = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
    return vectors, sentence_vectors, method, encoder
