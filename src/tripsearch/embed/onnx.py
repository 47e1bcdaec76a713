"""The fast encoder: an ONNX export of a sentence-transformers model, run on onnxruntime + tokenizers.

Two halves with very different costs:

* **Export** (build time; imports torch and sentence-transformers, ~10 s): ``export_onnx`` / ``build_onnx``
  load the model with sentence-transformers, export its transformer to ONNX, and keep the export only if it
  reproduces sentence-transformers on ``VERIFY_TEXTS`` (every cosine >= ``MIN_COSINE``).
* **Use** (query time; imports only numpy, onnxruntime and tokenizers, well under a second):
  ``OnnxEncoder`` — never imports torch or sentence_transformers.

Cache layout under ``cache_dir`` (default ``$TRIPSEARCH_CACHE``, else ``~/.cache/tripsearch/encoders``)::

    <fingerprint>/model.onnx       the transformer: token ids -> token embeddings (dynamic batch and sequence)
    <fingerprint>/tokenizer.json   the tokenizer as sentence-transformers configured it (lower-casing included)
    <fingerprint>/encoder.json     pooling, max_seq_length, dim, fingerprint, verification result, versions
    <fingerprint>.failed.json      why the last attempt for that fingerprint failed (no model is kept then)

An export folder is built under a temporary name and renamed into place, so a reader sees a whole export or
none. ``<fingerprint>`` is ``tripsearch.embed.models.fingerprint`` of the model folder, so a changed model
never picks up a stale export.

How failures are reported: ``export_onnx`` returns the export folder, or None when no verified export could
be made (unsupported pooling or architecture, export error, verification below threshold, model not found).
It never raises for those. The reason is on the ``OnnxStatus`` that ``build_onnx`` returns (``export_onnx``
is ``build_onnx(...).path``), and failures that would repeat (everything except "model could not be loaded")
are also recorded in ``<fingerprint>.failed.json``, where ``onnx_status`` and ``OnnxUnavailable`` messages
find them. A recorded failure is not retried until a relevant library version changes or ``force=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tripsearch.embed.encoder import Progress, encode_sorted
from tripsearch.embed.models import fingerprint as model_fingerprint
from tripsearch.embed.models import model_name, model_path
from tripsearch.errors import OnnxUnavailable

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the layout or encoder.json meaning changes; older exports are then refused
MIN_COSINE = 0.9999
SUPPORTED_POOLING = ("mean", "cls", "max")
OPSET = 17
_ONNX_FILE = "model.onnx"
_TOKENIZER_FILE = "tokenizer.json"
_META_FILE = "encoder.json"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_VERSIONED = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "tokenizers")
_VERIFY_BATCH_SIZES = (1, 4, 32)  # the query path, small mixed batches, one heavily padded batch
_PROBE = "tripsearch self-check: what did the speaker say about multi-account strategy?"


def _long_text() -> str:
    """~450 tokens, no repetition, so truncating at 250 instead of 256 already drops the cosine to ~0.997."""
    return " ".join(
        [
            "The second day opened with a keynote on platform engineering and why internal developer portals fail.",
            "The speaker argued that golden paths only work when the platform team treats developers as customers.",
            "After lunch I went to a hands-on workshop about eBPF tracing, which ran over time by forty minutes.",
            "Key takeaway: measure p99 latency per tenant, not per cluster, or noisy neighbours stay invisible.",
            "The hallway track was, as usual, more useful than half of the scheduled sessions.",
            "A database panel disagreed loudly about whether Postgres logical replication is ready for zero-downtime upgrades.",
            "One panelist had migrated four hundred tenants with pglogical and still kept a manual rollback runbook.",
            "In the afternoon a security talk walked through a supply-chain attack on a popular npm package.",
            "The attacker had phished a maintainer, published a patch release, and exfiltrated CI secrets for six hours.",
            "Their fix was boring and effective: short-lived tokens, provenance attestations, and two-person releases.",
            "The closing keynote switched topics entirely and talked about burnout in on-call rotations.",
            "She showed survey data from eleven hundred engineers linking pager load to attrition within a year.",
            "Dinner was at a Bavarian beer hall where nobody could hear each other over the brass band.",
            "On the last morning I skipped the sponsor demos and wrote up these notes on the train to the airport.",
            "Next year the conference moves to Lisbon, and the call for papers opens in February.",
            "I would go again, but I would plan the schedule around the workshops instead of the keynotes.",
            "Slides for most talks are already online, and the videos should follow within a month or so.",
            "If you only watch one, make it the supply-chain talk; it changed how our team thinks about releases.",
        ]
    )


_GERMAN_LONG = (
    "Zusammenfassung des zweiten Konferenztages. Die Keynote behandelte Plattform-Teams und interne Entwicklerportale. "
    "Danach ging es um Kostenkontrolle in der Cloud: Reservierungen, Spot-Instanzen und warum niemand die Rechnung "
    "versteht. Im Workshop über Rust haben wir einen kleinen HTTP-Server mit Tokio gebaut, der am Ende tatsächlich "
    "lief. Am Nachmittag sprach eine Forscherin über formale Verifikation verteilter Protokolle mit TLA+ und zeigte, "
    "wie ein Modellprüfer einen Fehler fand, der neun Schritte und zwei Netzwerkpartitionen brauchte. Die "
    "Podiumsdiskussion zur Barrierefreiheit war leider schlecht besucht, obwohl sie die konkretesten Ratschläge des "
    "Tages enthielt: Tastaturnavigation testen, Kontraste messen, Screenreader wirklich benutzen. Abends gab es ein "
    "Treffen der lokalen Go-Community mit Brezeln, Club-Mate und einer spontanen Diskussion über Generics. Zum "
    "Schluss noch ein Hinweis: Die Aufzeichnungen erscheinen in etwa vier Wochen auf der Website der Veranstalter, "
    "und die Folien sind teilweise schon verlinkt. Nächstes Jahr findet die Konferenz in Leipzig statt."
)


# Fixed texts the export must reproduce. Tests use different texts, so agreement there is not circular.
VERIFY_TEXTS: tuple[str, ...] = (
    "Kubernetes",
    "What did they say about multi-account strategy?",
    "  The keynote started late because of Wi-Fi problems.  ",
    "Der Vortrag über Observability mit OpenTelemetry war der beste Teil der Konferenz.",
    "Straßenbahn, Größenänderung und Überwachung: Wörter, die Tokenizer gern zerlegen.",
    "La présentation sur Rust et la sécurité mémoire était passionnante.",
    "def chunk(xs, n):\n    return [xs[i:i + n] for i in range(0, len(xs), n)]",
    'func main() {\n\tfmt.Println("hello, gophers")\n}',
    "kubectl apply -f deploy.yaml && kubectl rollout status deploy/api --timeout=120s",
    "See [the slides](https://example.com/talks/2024/ebpf.pdf) — **highly** recommended!",
    "2019-05-14: 3,200 attendees, 95 talks and $1.5M raised for the PSF.",
    "Great conference 🎉🚀 — would go again 👍",
    "東京でのカンファレンスは素晴らしかった。",
    "LIGHTNING TALKS WERE THE HIGHLIGHT OF THE WHOLE WEEK",
    "",
    " \n\t ",
    "?!",
    "x" * 300,
    "AWS re:Invent day one. Werner's keynote was about cost as a non-functional requirement; the most "
    "concrete session was a customer story about moving a Java 17 Lambda from a 6.2 second cold start "
    "to under a second with SnapStart, plus the trade-offs around uniqueness of random seeds.",
    _long_text(),
    _GERMAN_LONG,
)


@dataclass(frozen=True)
class OnnxStatus:
    """Outcome of ``build_onnx`` / ``onnx_status``: ``path`` is the verified export folder, or None and ``reason``."""

    model: str
    fingerprint: str
    path: Path | None
    reason: str  # why not, or how it got ready

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


def _cache(cache_dir: Path | str | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _resolve(model: str | None) -> tuple[str, str, str]:
    """(name, folder or hub name, fingerprint). Light: no torch (the default model's package imports nothing)."""
    path = model_path(model)
    return model_name(model), path, model_fingerprint(path)


def _cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in _VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def _attempt_key(min_cosine: float) -> dict[str, Any]:
    """What a recorded failure depends on: retry when any of it changes."""
    return {"format": FORMAT, "min_cosine": min_cosine, "versions": _versions()}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _failed_file(cache: Path, fp: str) -> Path:
    return cache / f"{fp}.failed.json"


# --------------------------------------------------------------------------------------------------- reading


def _check_export(folder: Path, fp: str, name: str, cache: Path) -> dict:
    """encoder.json of a complete, verified export for ``fp``, or OnnxUnavailable. Cheap: no model is loaded."""
    if not folder.is_dir():
        reason = f"no ONNX export for {name} (fingerprint {fp}) in {cache}"
        failed = _read_json(_failed_file(cache, fp))
        if failed and failed.get("reason"):
            reason += f"; the last export attempt failed: {failed['reason']}"
        else:
            reason += "; run ensure_fast_encoder() (or export_onnx()) to make one"
        raise OnnxUnavailable(reason)
    meta = _read_json(folder / _META_FILE)
    where = f"broken ONNX export in {folder}"
    if meta is None:
        raise OnnxUnavailable(f"{where}: {_META_FILE} is missing or not valid JSON", broken=True)
    if meta.get("format") != FORMAT:
        raise OnnxUnavailable(
            f"{where}: export format {meta.get('format')!r}, this version reads {FORMAT}", broken=True
        )
    if meta.get("fingerprint") != fp:
        raise OnnxUnavailable(f"{where}: made for fingerprint {meta.get('fingerprint')!r}, not {fp}", broken=True)
    verification = meta.get("verification") or {}
    if verification.get("passed") is not True:
        raise OnnxUnavailable(f"{where}: {_META_FILE} does not record a passed verification", broken=True)
    if meta.get("pooling") not in SUPPORTED_POOLING:
        raise OnnxUnavailable(f"{where}: unknown pooling {meta.get('pooling')!r}", broken=True)
    onnx_file = folder / _ONNX_FILE
    if not onnx_file.is_file():
        raise OnnxUnavailable(f"{where}: {_ONNX_FILE} is missing", broken=True)
    if onnx_file.stat().st_size != meta.get("onnx_bytes"):
        raise OnnxUnavailable(
            f"{where}: {_ONNX_FILE} is {onnx_file.stat().st_size} bytes, the export wrote {meta.get('onnx_bytes')}",
            broken=True,
        )
    if not (folder / _TOKENIZER_FILE).is_file():
        raise OnnxUnavailable(f"{where}: {_TOKENIZER_FILE} is missing", broken=True)
    return meta


class _Runtime:
    """onnxruntime session + tokenizer for one export folder: texts -> pooled (not yet normalised) vectors."""

    def __init__(self, folder: Path, meta: dict, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        where = f"broken ONNX export in {folder}"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _cores()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(str(folder / _ONNX_FILE), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for corrupt or truncated files
            raise OnnxUnavailable(f"{where}: onnxruntime cannot load {_ONNX_FILE}: {exc}", broken=True) from exc
        try:
            tokenizer = Tokenizer.from_file(str(folder / _TOKENIZER_FILE))
        except Exception as exc:
            raise OnnxUnavailable(f"{where}: cannot read {_TOKENIZER_FILE}: {exc}", broken=True) from exc
        tokenizer.no_truncation()
        tokenizer.enable_truncation(max_length=int(meta["max_seq_length"]))
        tokenizer.enable_padding(
            direction="right",
            pad_id=int(meta["pad_id"]),
            pad_token=meta["pad_token"],
            pad_type_id=int(meta["pad_type_id"]),
        )
        self.tokenizer = tokenizer
        self.inputs = [i.name for i in self.session.get_inputs()]
        unknown = set(self.inputs) - set(_INPUTS)
        if unknown or "input_ids" not in self.inputs:
            raise OnnxUnavailable(f"{where}: unexpected model inputs {self.inputs}", broken=True)
        self.output = self.session.get_outputs()[0].name
        self.pooling = meta["pooling"]

    def pooled(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        feeds = {k: v for k, v in feeds.items() if k in self.inputs}
        hidden = self.session.run([self.output], feeds)[0].astype(np.float32, copy=False)
        return _pool(hidden, mask, self.pooling)


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
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


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.nan_to_num((a * b).sum(axis=1), nan=-1.0)


class OnnxEncoder:
    """The ``Encoder`` for ``model`` from its verified ONNX export. Imports neither torch nor sentence_transformers.

    Raises ``OnnxUnavailable`` (with the reason) if there is no verified export for the model's fingerprint in
    ``cache_dir``, or if the export there is broken (files missing or corrupt, or it fails the load-time
    self-check against the embedding recorded at export).
    """

    kind = "onnx"

    def __init__(self, model: str | None = None, cache_dir: Path | str | None = None, *, threads: int | None = None):
        self.name, self.path, self.fingerprint = _resolve(model)
        cache = _cache(cache_dir)
        self.export_dir = cache / self.fingerprint
        meta = _check_export(self.export_dir, self.fingerprint, self.name, cache)
        self._init(self.export_dir, meta, threads)
        self._self_check(meta)

    @classmethod
    def _from_folder(cls, folder: Path, meta: dict, name: str, path: str) -> OnnxEncoder:
        """An encoder over a not yet installed export (used to verify it)."""
        enc = cls.__new__(cls)
        enc.name, enc.path, enc.fingerprint, enc.export_dir = name, path, meta["fingerprint"], folder
        enc._init(folder, meta, None)
        return enc

    def _init(self, folder: Path, meta: dict, threads: int | None) -> None:
        self.meta = meta
        self.dim = int(meta["dim"])
        self.max_seq_length = int(meta["max_seq_length"])
        self.pooling = meta["pooling"]
        self._runtime = _Runtime(folder, meta, threads)

    def _self_check(self, meta: dict) -> None:
        probe = meta.get("probe") or {}
        expected = np.asarray(probe.get("vector") or [], dtype=np.float32)
        if expected.shape != (self.dim,):
            raise OnnxUnavailable(f"broken ONNX export in {self.export_dir}: no self-check vector", broken=True)
        got = self.encode([probe["text"]])
        cosine = float(_cosines(got, expected[None, :])[0])
        if cosine < meta["verification"]["threshold"]:
            raise OnnxUnavailable(
                f"broken ONNX export in {self.export_dir}: self-check cosine {cosine:.6f} "
                f"< {meta['verification']['threshold']}",
                broken=True,
            )

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        return encode_sorted(self._runtime.pooled, texts, batch_size, progress, self.dim)

    def __repr__(self) -> str:
        return f"OnnxEncoder({self.name!r}, fingerprint={self.fingerprint}, pooling={self.pooling}, dim={self.dim})"


def onnx_status(model: str | None = None, cache_dir: Path | str | None = None) -> OnnxStatus:
    """What the cache holds for ``model``, without loading anything heavy (files are checked, not run)."""
    name, _, fp = _resolve(model)
    cache = _cache(cache_dir)
    try:
        meta = _check_export(cache / fp, fp, name, cache)
    except OnnxUnavailable as exc:
        return OnnxStatus(name, fp, None, exc.reason)
    return OnnxStatus(name, fp, cache / fp, _ready_note(meta))


def _ready_note(meta: dict, seconds: float | None = None) -> str:
    v = meta["verification"]
    made = f"exported in {seconds:.1f} s, " if seconds is not None else ""
    return (
        f"fingerprint {meta['fingerprint']}, {made}{meta['pooling']} pooling, dim {meta['dim']}, "
        f"min cosine {v['min_cosine']:.6f} on {v['texts']} texts"
    )


# --------------------------------------------------------------------------------------------------- export


class _Refused(Exception):
    """The export cannot or must not be used; ``record`` says whether to remember it in <fp>.failed.json."""

    def __init__(self, reason: str, stage: str, *, record: bool = True, details: dict | None = None):
        super().__init__(reason)
        self.reason, self.stage, self.record, self.details = reason, stage, record, details or {}


def export_onnx(model: str | None = None, cache_dir: Path | None = None, *, force: bool = False) -> Path | None:
    """Make (or find) a verified ONNX export of ``model``: its folder, or None if the model cannot be exported.

    Never raises for an unsupported or failing model; ``build_onnx`` returns the same plus the reason.
    """
    return build_onnx(model, cache_dir, force=force).path


def build_onnx(
    model: str | None = None,
    cache_dir: Path | str | None = None,
    *,
    force: bool = False,
    min_cosine: float = MIN_COSINE,
) -> OnnxStatus:
    """Like ``export_onnx`` but returns an ``OnnxStatus`` with the reason. A usable export is reused unless
    ``force``; a broken one is replaced; a recorded failure is not retried unless versions changed or ``force``."""
    try:
        name, path, fp = _resolve(model)
    except Exception as exc:
        return OnnxStatus(model_name(model), "?", None, f"model not found: {exc}")
    cache = _cache(cache_dir)
    final = cache / fp
    replace = False
    if not force:
        if final.exists():
            try:
                encoder = OnnxEncoder(model, cache)
                return OnnxStatus(name, fp, final, _ready_note(encoder.meta))
            except OnnxUnavailable as exc:
                log.warning("replacing %s", exc.reason)
                replace = True
        failed = _read_json(_failed_file(cache, fp))
        if failed and failed.get("attempt") == json.loads(json.dumps(_attempt_key(min_cosine))):
            return OnnxStatus(
                name, fp, None, f"{failed.get('reason')} (recorded {failed.get('when')}; force=True retries)"
            )
    else:
        replace = final.exists()

    started = time.perf_counter()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".tmp-{fp}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        meta = _export_and_verify(name, path, fp, tmp, min_cosine)
        installed = _install(tmp, final, replace)
        _failed_file(cache, fp).unlink(missing_ok=True)
        if installed is not tmp:
            meta = _read_json(final / _META_FILE) or meta
        return OnnxStatus(name, fp, final, _ready_note(meta, time.perf_counter() - started))
    except _Refused as exc:
        if exc.record:
            _write_json(
                _failed_file(cache, fp),
                {
                    "fingerprint": fp,
                    "model": name,
                    "source": path,
                    "stage": exc.stage,
                    "reason": exc.reason,
                    "when": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "attempt": _attempt_key(min_cosine),
                    **exc.details,
                },
            )
        log.warning("no ONNX export for %s: %s", name, exc.reason)
        return OnnxStatus(name, fp, None, exc.reason)
    except Exception as exc:  # anything unforeseen (disk full, permissions): report, never crash a build
        log.warning("ONNX export of %s failed", name, exc_info=True)
        return OnnxStatus(name, fp, None, f"export failed: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _install(tmp: Path, final: Path, replace: bool) -> Path:
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


def _export_and_verify(name: str, path: str, fp: str, tmp: Path, min_cosine: float) -> dict:
    """Write a verified export into ``tmp`` and return its encoder.json, or raise _Refused."""
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
    names = [n for n in _INPUTS if n in sample and n in accepted]
    if "input_ids" not in names or "attention_mask" not in names:
        raise _Refused(
            f"the transformer does not take input_ids and attention_mask (tokenizer gives {list(sample)})",
            "unsupported",
        )

    class _TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            out = self.inner(**dict(zip(names, args)), return_dict=True)
            return out.last_hidden_state

    tmp.mkdir(parents=True)
    onnx_file = tmp / _ONNX_FILE
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

    tokenizer.backend_tokenizer.save(str(tmp / _TOKENIZER_FILE))  # as configured by sentence-transformers
    digest = hashlib.sha256()
    with open(onnx_file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
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
        "onnx_bytes": onnx_file.stat().st_size,
        "onnx_sha256": digest.hexdigest(),
        "opset": OPSET,
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "verification": {"passed": False, "threshold": min_cosine},
    }

    # Verify: the same code path OnnxEncoder uses, against sentence-transformers, at several batch sizes.
    texts = list(VERIFY_TEXTS)
    reference = st.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    probe_reference = st.encode([_PROBE], convert_to_numpy=True, show_progress_bar=False)[0]
    try:
        candidate = OnnxEncoder._from_folder(tmp, meta, name, path)
    except OnnxUnavailable as exc:
        raise _Refused(f"the export does not load: {exc.reason}", "verification") from exc
    worst = np.ones(len(texts))
    for batch_size in _VERIFY_BATCH_SIZES:
        got = candidate.encode(texts, batch_size=batch_size)
        if got.shape != reference.shape:
            raise _Refused(
                f"the export gives shape {got.shape}, sentence-transformers {reference.shape}", "verification"
            )
        worst = np.minimum(worst, _cosines(got, reference))
    verification = {
        "passed": bool(worst.min() >= min_cosine),
        "threshold": min_cosine,
        "min_cosine": round(float(worst.min()), 7),
        "texts": len(texts),
        "batch_sizes": list(_VERIFY_BATCH_SIZES),
        "cosines": [round(float(c), 7) for c in worst],
    }
    if not verification["passed"]:
        bad = int(worst.argmin())
        raise _Refused(
            f"verification failed: cosine {worst.min():.6f} < {min_cosine} against sentence-transformers "
            f"(worst text #{bad}: {texts[bad][:40]!r})",
            "verification",
            details={"verification": verification},
        )
    meta["verification"] = verification
    meta["probe"] = {"text": _PROBE, "vector": [round(float(x), 7) for x in probe_reference]}
    del candidate  # release the session before the folder is renamed
    _write_json(tmp / _META_FILE, meta)
    return meta
