"""The ONNX export (build time; the torch path): make a verified export of a sentence-transformers model.

``build_onnx`` loads the model with sentence-transformers, exports its transformer to ONNX traced with eager
attention (see ``use_eager_attention``), and keeps the export only if ``OnnxEncoder`` reproduces
sentence-transformers on ``VERIFY_TEXTS`` (every cosine >= ``MIN_COSINE``) at several batch sizes. encoder.json
records how the graph was made (``graph``: ``tripsearch.embed.cache.RECIPE`` and the attention used); a cached
export made by an older recipe is re-made once by the next ``build_onnx`` (and kept if that fails). torch and
sentence-transformers are imported only when an export is really made (~10 s, ~1 GB); reusing a cached export
imports neither.

How failures are reported: ``export_onnx`` returns the export folder, or None when no verified export could
be made (unsupported pooling or architecture, export error, verification below threshold, model not found).
It never raises for those. The reason is on the ``OnnxStatus`` that ``build_onnx`` returns, and failures that
would repeat (everything except "model could not be loaded") are also recorded in ``<fingerprint>.failed.json``
(see ``tripsearch.embed.cache``). A recorded failure is not retried until a relevant library version changes
or ``force=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from tripsearch.embed.cache import (
    FORMAT,
    INPUTS,
    META_FILE,
    MIN_COSINE,
    ONNX_FILE,
    RECIPE,
    SUPPORTED_POOLING,
    TOKENIZER_FILE,
    OnnxStatus,
    attempt_key,
    cache_root,
    failed_file,
    install,
    read_json,
    ready_note,
    versions,
    write_json,
)
from tripsearch.embed.models import ModelRef, model_name, resolve
from tripsearch.embed.runtime import OnnxEncoder, cosines
from tripsearch.embed.verify_texts import VERIFY_TEXTS
from tripsearch.errors import OnnxUnavailable

log = logging.getLogger(__name__)

OPSET = 17
_VERIFY_BATCH_SIZES = (1, 4, 32)  # the query path, small mixed batches, one heavily padded batch
_PROBE = "tripsearch self-check: what did the speaker say about multi-account strategy?"


class _Refused(Exception):
    """The export cannot or must not be used; ``record`` says whether to remember it in <fp>.failed.json."""

    def __init__(self, reason: str, stage: str, *, record: bool = True, details: dict | None = None):
        super().__init__(reason)
        self.reason, self.stage, self.record, self.details = reason, stage, record, details or {}


def export_onnx(
    model: str | ModelRef | None = None, cache_dir: Path | None = None, *, force: bool = False
) -> Path | None:
    """Make (or find) a verified ONNX export of ``model``: its folder, or None if the model cannot be exported.

    Never raises for an unsupported or failing model; ``build_onnx`` returns the same plus the reason.
    """
    return build_onnx(model, cache_dir, force=force).path


def build_onnx(
    model: str | ModelRef | None = None,
    cache_dir: Path | str | None = None,
    *,
    force: bool = False,
    min_cosine: float = MIN_COSINE,
    threads: int | None = None,
) -> OnnxStatus:
    """Like ``export_onnx`` but returns an ``OnnxStatus`` with the reason, and on success the loaded, checked
    ``OnnxEncoder`` (``status.encoder``, with ``threads`` intra-op threads) so the caller need not load it again.

    A usable export is reused unless ``force``; a broken one is replaced; a recorded failure is not retried
    unless versions changed or ``force``."""
    try:
        ref = resolve(model)
    except Exception as exc:
        return OnnxStatus(
            model_name(model if not isinstance(model, ModelRef) else model.name), "?", None, f"model not found: {exc}"
        )
    name, path, fp = ref.name, ref.path, ref.fingerprint
    cache = cache_root(cache_dir)
    final = cache / fp
    replace = False
    previous = None  # a verified export made by an older recipe: re-made once, and still used if that fails
    if not force:
        if final.exists():
            try:
                encoder = OnnxEncoder(ref, cache, threads=threads)
            except OnnxUnavailable as exc:
                log.warning("replacing %s", exc.reason)
                replace = True
            else:
                previous = OnnxStatus(name, fp, final, ready_note(encoder.meta), encoder)
                if (encoder.meta.get("graph") or {}).get("recipe") == RECIPE:
                    return previous
                log.info("re-making the ONNX export of %s with graph recipe %s", name, RECIPE)
                replace = True
        failed = read_json(failed_file(cache, fp))
        if failed and failed.get("attempt") == json.loads(json.dumps(attempt_key(min_cosine))):
            return previous or OnnxStatus(
                name, fp, None, f"{failed.get('reason')} (recorded {failed.get('when')}; force=True retries)"
            )
    else:
        replace = final.exists()

    started = time.perf_counter()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".tmp-{fp}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        meta, candidate = _export_and_verify(ref, tmp, min_cosine, threads)
        installed = install(tmp, final, replace)
        failed_file(cache, fp).unlink(missing_ok=True)
        if installed is not tmp:  # a concurrent export won: use theirs (both were verified)
            meta = read_json(final / META_FILE) or meta
            candidate = None
        else:  # the verified session stays valid after the rename: the model is in memory
            candidate.export_dir, candidate.meta = final, meta
        return OnnxStatus(name, fp, final, ready_note(meta, time.perf_counter() - started), candidate)
    except _Refused as exc:
        if exc.record:
            write_json(
                failed_file(cache, fp),
                {
                    "fingerprint": fp,
                    "model": name,
                    "source": path,
                    "stage": exc.stage,
                    "reason": exc.reason,
                    "when": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "attempt": attempt_key(min_cosine),
                    **exc.details,
                },
            )
        log.warning("no new ONNX export for %s: %s", name, exc.reason)
        return previous or OnnxStatus(name, fp, None, exc.reason)
    except Exception as exc:  # anything unforeseen (disk full, permissions): report, never crash a build
        log.warning("ONNX export of %s failed", name, exc_info=True)
        return previous or OnnxStatus(name, fp, None, f"export failed: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _unsupported(st) -> str | None:
    """Why this SentenceTransformer cannot be reproduced by tokenizer -> transformer -> pooling, or None."""
    modules = list(st)
    kinds = [type(m).__name__ for m in modules]
    if len(kinds) < 2 or kinds[0] != "Transformer" or kinds[1] != "Pooling" or any(k != "Normalize" for k in kinds[2:]):
        return f"module pipeline {' -> '.join(kinds)} is not supported (only Transformer -> Pooling [-> Normalize])"
    transformer, pooling = modules[0], modules[1]
    mode = pooling.pooling_mode
    if isinstance(mode, (list, tuple)) and len(mode) == 1:
        mode = mode[0]
    if not isinstance(mode, str) or mode not in SUPPORTED_POOLING:
        return f"pooling mode {mode!r} is not supported (only {', '.join(SUPPORTED_POOLING)})"
    default_prompt = getattr(st, "default_prompt_name", None)
    if default_prompt and (getattr(st, "prompts", None) or {}).get(default_prompt):
        return f"the model prepends a default prompt ({default_prompt!r}), which the ONNX encoder does not"
    task = getattr(transformer, "transformer_task", "feature-extraction")
    if task != "feature-extraction":
        return f"transformer task {task!r} is not supported (only feature-extraction)"
    modalities = list((getattr(transformer, "modality_config", None) or {"text": None}).keys())
    if modalities != ["text"]:
        return f"input modalities {modalities} are not supported (only plain text)"
    if getattr(transformer, "query_expansion", None):
        return "query expansion is not supported"
    if getattr(transformer, "processing_kwargs", None):
        return f"custom processing_kwargs {transformer.processing_kwargs} are not supported"
    tokenizer = getattr(transformer, "tokenizer", None)
    if tokenizer is None or not getattr(tokenizer, "is_fast", False) or not hasattr(tokenizer, "backend_tokenizer"):
        return "the model has no fast (tokenizers) tokenizer"
    if getattr(tokenizer, "padding_side", "right") != "right":
        return f"padding side {tokenizer.padding_side!r} is not supported (only right)"
    if tokenizer.pad_token_id is None:
        return "the tokenizer has no padding token"
    if not transformer.max_seq_length or transformer.max_seq_length > 1_000_000:
        return f"no usable max_seq_length ({transformer.max_seq_length!r})"
    return None


def _export_and_verify(ref: ModelRef, tmp: Path, min_cosine: float, threads: int | None) -> tuple[dict, OnnxEncoder]:
    """Write a verified export into ``tmp``; its encoder.json and the verified encoder, or raise _Refused."""
    name, path, fp = ref.name, ref.path, ref.fingerprint
    import warnings

    try:
        import torch
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(path, device="cpu")
    except Exception as exc:
        # Not recorded: the sentence-transformers backend cannot load it either, and it may be transient (hub).
        raise _Refused(
            f"sentence-transformers cannot load the model: {type(exc).__name__}: {exc}", "load", record=False
        ) from exc

    why = _unsupported(st)
    if why:
        raise _Refused(why, "unsupported")
    transformer, pooling = st[0], st[1]
    mode = pooling.pooling_mode if isinstance(pooling.pooling_mode, str) else pooling.pooling_mode[0]
    tokenizer = transformer.tokenizer
    auto_model = transformer.auto_model.eval()
    dim = int(pooling.get_embedding_dimension())

    import inspect

    accepted = set(inspect.signature(auto_model.forward).parameters)
    sample = tokenizer(
        ["a short one", "a somewhat longer sentence, so the batch is padded"], padding=True, return_tensors="pt"
    )
    names = [n for n in INPUTS if n in sample and n in accepted]
    if "input_ids" not in names or "attention_mask" not in names:
        raise _Refused(
            f"the transformer does not take input_ids and attention_mask (tokenizer gives {list(sample)})",
            "unsupported",
        )

    # The reference comes from the model as sentence-transformers runs it (default attention), before the switch.
    texts = list(VERIFY_TEXTS)
    reference = st.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    probe_reference = st.encode([_PROBE], convert_to_numpy=True, show_progress_bar=False)[0]
    eager = use_eager_attention(auto_model)

    class _TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            out = self.inner(**dict(zip(names, args)), return_dict=True)
            return out.last_hidden_state

    tmp.mkdir(parents=True)
    onnx_file = tmp / ONNX_FILE
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _TokenEmbeddings(auto_model),
                tuple(sample[n] for n in names),
                str(onnx_file),
                input_names=names,
                output_names=["token_embeddings"],
                dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "token_embeddings"]},
                opset_version=OPSET,
                dynamo=False,
            )
        import onnx

        onnx.checker.check_model(str(onnx_file))
    except Exception as exc:
        raise _Refused(f"torch.onnx.export failed: {type(exc).__name__}: {exc}", "export") from exc
    tokenizer.backend_tokenizer.save(str(tmp / TOKENIZER_FILE))  # as configured by sentence-transformers

    meta: dict[str, Any] = {
        "format": FORMAT,
        "fingerprint": fp,
        "model": name,
        "source": path,
        "pooling": mode,
        "normalize": any(type(m).__name__ == "Normalize" for m in st),
        "max_seq_length": int(transformer.max_seq_length),
        "dim": dim,
        "inputs": names,
        "pad_id": int(tokenizer.pad_token_id),
        "pad_token": str(tokenizer.pad_token),
        "pad_type_id": int(getattr(tokenizer, "pad_token_type_id", 0) or 0),
        "opset": OPSET,
        "graph": {"recipe": RECIPE, "attention": "eager" if eager else "default"},
        "versions": versions(),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "verification": {"passed": False, "threshold": min_cosine},
    }
    verification, candidate = _verify(tmp, meta, ref, threads, texts, reference, min_cosine)
    if not verification["passed"]:
        bad = int(np.argmin(verification["cosines"]))
        raise _Refused(
            f"verification failed: cosine {verification['min_cosine']:.6f} < {min_cosine} against "
            f"sentence-transformers (worst text #{bad}: {texts[bad][:40]!r})",
            "verification",
            details={"verification": verification},
        )
    meta["verification"] = verification
    meta["probe"] = {"text": _PROBE, "vector": [round(float(x), 7) for x in probe_reference]}
    # The session keeps working after the folder is renamed (the model is in memory), so the build reuses it.
    write_json(tmp / META_FILE, meta)
    return meta, candidate


def use_eager_attention(auto_model) -> bool:
    """Switch a transformers model to eager attention for the ONNX trace; False if it cannot be switched.

    Why: torch traces the default (SDPA) attention with an IsNaN/Where guard per layer that cost ~10 % of
    onnxruntime's run time (profile of the SDPA export, 1 thread, 8 x 256 tokens). The eager trace computes the
    same function (token embeddings within 3e-6; on 400 real passages late-chunked, passage and sentence cosines
    >= 0.9999998 and top-10 agreement 1.0 for the 122 dev questions) and is faster on this 2-core machine:
    one (8, 256) batch on 1 thread, 2,720-2,785 vs 2,381-2,590 tokens per CPU second (+7-14 %); late chunking of
    150 real passages, 1 thread x 2 batches in flight, median wall 1,761 vs 1,511 tokens/s (+16 %, load ~8).
    MatMul is ~70 % of the time and already near the core's fp32 peak, so no graph change gives much more:
    onnxruntime's transformer optimizer fuses the eager trace (Attention, SkipLayerNormalization, BiasGelu) but
    that measured no faster than the eager trace itself (2,696-2,759 tokens per CPU second), so it is not done.
    Scripts and logs: the report of issue 14 (micro.py, bench.py, agreement.py)."""
    try:
        auto_model.set_attn_implementation("eager")
    except Exception:  # older transformers, or a model without that switch: set the config field directly
        try:
            auto_model.config._attn_implementation = "eager"
        except Exception:
            return False
    return getattr(auto_model.config, "_attn_implementation", None) == "eager"


def _verify(
    tmp: Path, meta: dict, ref: ModelRef, threads: int | None, texts: list[str], reference, min_cosine: float
) -> tuple[dict, OnnxEncoder]:
    """Record model.onnx's size and hash in ``meta``, load it the way ``OnnxEncoder`` does, and compare it with
    sentence-transformers' ``reference`` vectors at several batch sizes: (verification record, the encoder)."""
    onnx_file = tmp / ONNX_FILE
    digest = hashlib.sha256()
    with open(onnx_file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    meta["onnx_bytes"], meta["onnx_sha256"] = onnx_file.stat().st_size, digest.hexdigest()
    try:
        candidate = OnnxEncoder.from_folder(tmp, meta, ref, threads)
    except OnnxUnavailable as exc:
        raise _Refused(f"the export does not load: {exc.reason}", "verification") from exc
    worst = np.ones(len(texts))
    for batch_size in _VERIFY_BATCH_SIZES:
        got = candidate.encode(texts, batch_size=batch_size)
        if got.shape != reference.shape:
            raise _Refused(
                f"the export gives shape {got.shape}, sentence-transformers {reference.shape}", "verification"
            )
        worst = np.minimum(worst, cosines(got, reference))
    verification = {
        "passed": bool(worst.min() >= min_cosine),
        "threshold": min_cosine,
        "min_cosine": round(float(worst.min()), 7),
        "texts": len(texts),
        "batch_sizes": list(_VERIFY_BATCH_SIZES),
        "cosines": [round(float(c), 7) for c in worst],
    }
    return verification, candidate
