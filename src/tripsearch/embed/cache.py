"""The ONNX export cache: its layout, the verification record, and the one status type.

Layout under ``cache_dir`` (default ``$TRIPSEARCH_CACHE``, else ``~/.cache/tripsearch/encoders``)::

    <fingerprint>/model.onnx       the transformer: token ids -> token embeddings (dynamic batch and sequence)
    <fingerprint>/tokenizer.json   the tokenizer as sentence-transformers configured it (lower-casing included)
    <fingerprint>/encoder.json     pooling, max_seq_length, dim, fingerprint, graph (recipe, attention),
                                   verification result, versions
    <fingerprint>.failed.json      why the last attempt for that fingerprint failed (no model is kept then)

An export folder is built under a temporary name and renamed into place (``install``), so a reader sees a
whole export or none. ``<fingerprint>`` is ``tripsearch.embed.models.fingerprint`` of the model folder, so a
changed model never picks up a stale export. Imports nothing heavy: checking the cache loads no model.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tripsearch.embed.models import ModelRef, resolve
from tripsearch.errors import OnnxUnavailable

FORMAT = 1  # bump when the layout or encoder.json meaning changes; older exports are then refused
MIN_COSINE = 0.9999
# How the ONNX graph is made (encoder.json ``graph.recipe``; ``tripsearch.embed.export``). An export made by an
# older recipe still loads (it is verified, only slower), and the next ``build_onnx`` re-makes it once.
RECIPE = "eager-attention-1"
SUPPORTED_POOLING = ("mean", "cls", "max")
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "encoder.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_VERSIONED = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "tokenizers")


@dataclass(frozen=True)
class OnnxStatus:
    """What became of the ONNX encoder for a model: ``path`` is the verified export folder, or None and ``reason``.

    Returned by ``build_onnx`` (export or reuse) and ``onnx_status`` (files checked, nothing loaded).
    ``encoder`` is the ``OnnxEncoder`` that ``build_onnx`` loaded and self-checked while getting ready, so a
    build can reuse it instead of loading the model a second time; None from ``onnx_status`` or on failure.
    """

    model: str
    fingerprint: str
    path: Path | None
    reason: str  # why not, or how it got ready
    encoder: Any = field(default=None, compare=False, repr=False)

    @property
    def ready(self) -> bool:
        return self.path is not None

    def line(self) -> str:
        if self.ready:
            return f"onnx encoder ready: {self.model} ({self.reason})"
        return f"onnx encoder not available for {self.model}: {self.reason}; queries use sentence-transformers"


def default_cache_dir() -> Path:
    env = os.environ.get("TRIPSEARCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tripsearch" / "encoders"


def cache_root(cache_dir: Path | str | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in _VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def attempt_key(min_cosine: float) -> dict[str, Any]:
    """What a recorded failure depends on: retry when any of it changes."""
    return {"format": FORMAT, "recipe": RECIPE, "min_cosine": min_cosine, "versions": versions()}


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def failed_file(cache: Path, fp: str) -> Path:
    return cache / f"{fp}.failed.json"


def check_export(folder: Path, fp: str, name: str, cache: Path) -> dict:
    """encoder.json of a complete, verified export for ``fp``, or OnnxUnavailable. Cheap: no model is loaded."""
    if not folder.is_dir():
        reason = f"no ONNX export for {name} (fingerprint {fp}) in {cache}"
        failed = read_json(failed_file(cache, fp))
        if failed and failed.get("reason"):
            reason += f"; the last export attempt failed: {failed['reason']}"
        else:
            reason += "; run ensure_fast_encoder() (or export_onnx()) to make one"
        raise OnnxUnavailable(reason)
    meta = read_json(folder / META_FILE)
    where = f"broken ONNX export in {folder}"
    if meta is None:
        raise OnnxUnavailable(f"{where}: {META_FILE} is missing or not valid JSON", broken=True)
    if meta.get("format") != FORMAT:
        raise OnnxUnavailable(
            f"{where}: export format {meta.get('format')!r}, this version reads {FORMAT}", broken=True
        )
    if meta.get("fingerprint") != fp:
        raise OnnxUnavailable(f"{where}: made for fingerprint {meta.get('fingerprint')!r}, not {fp}", broken=True)
    verification = meta.get("verification") or {}
    if verification.get("passed") is not True:
        raise OnnxUnavailable(f"{where}: {META_FILE} does not record a passed verification", broken=True)
    if meta.get("pooling") not in SUPPORTED_POOLING:
        raise OnnxUnavailable(f"{where}: unknown pooling {meta.get('pooling')!r}", broken=True)
    onnx_file = folder / ONNX_FILE
    if not onnx_file.is_file():
        raise OnnxUnavailable(f"{where}: {ONNX_FILE} is missing", broken=True)
    if onnx_file.stat().st_size != meta.get("onnx_bytes"):
        raise OnnxUnavailable(
            f"{where}: {ONNX_FILE} is {onnx_file.stat().st_size} bytes, the export wrote {meta.get('onnx_bytes')}",
            broken=True,
        )
    if not (folder / TOKENIZER_FILE).is_file():
        raise OnnxUnavailable(f"{where}: {TOKENIZER_FILE} is missing", broken=True)
    return meta


def onnx_status(model: str | ModelRef | None = None, cache_dir: Path | str | None = None) -> OnnxStatus:
    """What the cache holds for ``model``, without loading anything heavy (files are checked, not run)."""
    ref = resolve(model)
    cache = cache_root(cache_dir)
    try:
        meta = check_export(cache / ref.fingerprint, ref.fingerprint, ref.name, cache)
    except OnnxUnavailable as exc:
        return OnnxStatus(ref.name, ref.fingerprint, None, exc.reason)
    return OnnxStatus(ref.name, ref.fingerprint, cache / ref.fingerprint, ready_note(meta))


def ready_note(meta: dict, seconds: float | None = None) -> str:
    v = meta["verification"]
    made = f"exported in {seconds:.1f} s, " if seconds is not None else ""
    return (
        f"fingerprint {meta['fingerprint']}, {made}{meta['pooling']} pooling, dim {meta['dim']}, "
        f"min cosine {v['min_cosine']:.6f} on {v['texts']} texts"
    )


def install(tmp: Path, final: Path, replace: bool) -> Path:
    """Rename the finished export into place; returns what is now at ``final`` (ours: ``tmp``, else ``final``)."""
    if replace and final.exists():
        trash = final.with_name(f".trash-{final.name}-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            os.rename(final, trash)
        except FileNotFoundError:  # another process moved it first
            pass
        else:
            shutil.rmtree(trash, ignore_errors=True)
    try:
        os.rename(tmp, final)
        return tmp
    except OSError:
        if final.is_dir():  # a concurrent export got there first; both were verified, keep theirs
            return final
        raise
