"""A post's language when its front matter does not say: py3langid, its model loaded in tens of milliseconds.

py3langid ships its model as one LZMA-compressed npz (4.5 MB -> 68 MB); decompressing and parsing it took
1.2-1.9 s per process on this machine (cProfile of a one-post update, 10k-passage store), which was the biggest
single part of a one-post update. The same arrays, once decompressed, are kept as plain ``.npy`` files under
``cache_dir()`` and memory-mapped: the identifier is built from exactly the package's model by its own class,
so every text gets the same answer as ``py3langid.classify`` (checked at each load against a CRC-32 of each
array file and probe scores, both recorded when the copy was made, as the ONNX export cache does with its probe
vector). The probes alone read a few hundred of the model's 100k feature rows: a copy damaged elsewhere passed
them and gave other texts another language; the CRCs catch that (25-35 ms more per load here, of 140 ms).

Layout: ``<cache_dir>/<key>/{ptc,pc,classes,nextmove,nextmove_row,out_feat}.npy`` and ``probe.json``, where
``<key>`` hashes the py3langid version and its model file, so an upgraded package never reads a stale copy. The
folder is written under a temporary name and renamed into place. Anything wrong with the copy (missing,
truncated, damaged bytes, another layout, a probe that disagrees, a read-only home) falls back to py3langid's own loading.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import zlib
from array import array
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

_ARRAYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
_PROBES = (  # one per script/language family the corpus has; their scores must match the package's to the bit
    "This talk was about observability and distributed tracing in Kubernetes clusters.",
    "Der Vortrag handelte von Beobachtbarkeit und verteiltem Tracing in Kubernetes-Clustern.",
    "La charla trató sobre observabilidad y trazas distribuidas en clústeres de Kubernetes.",
)
_TYPECODES = {2: "H", 4: "I", 8: "L"}
_identifier = None


def cache_dir() -> Path:
    """``$TRIPSEARCH_LANGID_CACHE``, else ``~/.cache/tripsearch/langid``."""
    env = os.environ.get("TRIPSEARCH_LANGID_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tripsearch" / "langid"


def detect_language(body: str) -> str:
    """The ISO 639-1 code py3langid gives the first 4000 characters of ``body`` with markup characters blanked;
    "en" for a body with no text. The model is loaded once per process (``identifier``)."""
    sample = re.sub(r"[`*_#>\[\]()<>{}|]", " ", body[:4000])
    return identifier().classify(sample)[0] if sample.strip() else "en"


def identifier():
    """py3langid's ``LanguageIdentifier`` with the package's model, from the uncompressed copy when there is a
    good one (made on first use), else loaded by py3langid itself."""
    global _identifier
    if _identifier is None:
        _identifier = _load()
    return _identifier


def _model_key(model_file: Path) -> str:
    import py3langid

    digest = hashlib.sha1(f"py3langid {getattr(py3langid, '__version__', '?')}\n".encode())
    digest.update(model_file.read_bytes())
    return digest.hexdigest()[:16]


def _build(arrays: dict[str, np.ndarray]):
    """The identifier from the model's arrays, as ``LanguageIdentifier.from_model_file`` builds it."""
    import numpy as np
    from py3langid.langid import LanguageIdentifier

    def stdlib(a: np.ndarray) -> array:  # the DFA tables as py3langid keeps them (its modelio._to_array)
        out = array(_TYPECODES[a.dtype.itemsize])
        out.frombytes(memoryview(np.ascontiguousarray(a)).cast("B"))
        return out

    # The 39 MB transition table is only ever indexed by int (py3langid's visit_counts): a memoryview of the
    # mapped file indexes like the stdlib array it copies it into, without the copy (0.06-0.26 s here).
    nextmove = np.ascontiguousarray(arrays["nextmove"])
    return LanguageIdentifier(
        np.asarray(arrays["ptc"]),
        np.asarray(arrays["pc"]),
        arrays["classes"].tolist(),
        memoryview(nextmove).cast("B").cast(_TYPECODES[nextmove.dtype.itemsize]),
        arrays["out_feat"].tolist(),
        tk_row=stdlib(arrays["nextmove_row"]),
    )


def _crcs(folder: Path) -> dict[str, int]:
    """The CRC-32 of each array file of a copy (read in 4 MB chunks, not mapped: an empty file is no error)."""
    crcs = {}
    for name in _ARRAYS:
        crc = 0
        with open(folder / f"{name}.npy", "rb") as fh:
            while chunk := fh.read(1 << 22):
                crc = zlib.crc32(chunk, crc)
        crcs[name] = crc
    return crcs


def _probe(ident) -> list[list]:
    return [[lang, float(score)] for lang, score in (ident.classify(text) for text in _PROBES)]


def _load():
    import numpy as np  # here, not at import: reading posts needs no numpy until a language is detected

    try:
        from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    except ImportError:  # a py3langid laid out otherwise (pyproject allows >=0.3): its own loading, no copy
        import py3langid

        return SimpleNamespace(classify=py3langid.classify)

    model_file = MODEL_DIR / MODEL_FILE
    try:
        folder = cache_dir() / _model_key(model_file)
    except OSError:  # no home folder: the package's own loading, nothing cached
        folder = None
    if folder is not None and folder.is_dir():
        try:
            recorded = json.loads((folder / "probe.json").read_text())
            if "crc32" not in recorded:
                raise ValueError("made by an older tripsearch, without CRC-32s")
            if recorded["crc32"] != _crcs(folder):
                raise ValueError("its files are not the bytes written (CRC-32)")
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
            ident = _build(arrays)
            if _probe(ident) == recorded["probe"]:
                return ident
            problem = "it classifies the probes differently from py3langid"
        except Exception as exc:  # truncated, another py3langid layout...: the package's own loading below
            problem = f"{type(exc).__name__}: {exc}"
        log.warning("%s: language model copy unusable (%s); made again", folder, problem)
        shutil.rmtree(folder, ignore_errors=True)  # a reader that mapped it keeps its pages (POSIX unlink)
    ident = LanguageIdentifier.from_model_file(model_file)
    if folder is not None:
        _save(folder, model_file, ident)
    return ident


def _save(folder: Path, model_file: Path, ident) -> None:
    """Write the uncompressed copy of ``model_file`` into ``folder``; a failure only costs the speed-up."""
    tmp = folder.parent / f".tmp-{folder.name}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        import lzma
        import tempfile

        import numpy as np

        tmp.mkdir(parents=True)
        with tempfile.TemporaryFile(suffix=".npz") as raw:  # as py3langid's load_model streams it
            with lzma.open(model_file) as src:
                shutil.copyfileobj(src, raw, length=1 << 20)
            raw.seek(0)
            with np.load(raw, allow_pickle=False) as data:
                for name in _ARRAYS:
                    np.save(tmp / f"{name}.npy", data[name], allow_pickle=False)
        copy = _build({name: np.load(tmp / f"{name}.npy", mmap_mode="r") for name in _ARRAYS})
        probe = _probe(ident)
        if _probe(copy) != probe:  # never install a copy that answers differently
            raise ValueError("the copy classifies the probes differently")
        record = {"probe": probe, "crc32": _crcs(tmp), "source": str(model_file)}
        (tmp / "probe.json").write_text(json.dumps(record))
        os.rename(tmp, folder)  # fails if another process installed it first: theirs is as good
    except Exception as exc:
        log.info("language model copy not written to %s (%s: %s)", folder, type(exc).__name__, exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
