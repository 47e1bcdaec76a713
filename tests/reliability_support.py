"""Shared by the test_reliability_* modules (issue 7, "Nothing lost, nothing crashes").

Versioned posts: every paragraph of version ``v`` of post ``n`` carries the word ``mk{n}v{v}``, so the
passages of a post in an index tell which version of it they came from, and a post that is half old,
half new cannot hide. ``index_state`` reads an index back as {post path: version}, checking on the way
that it is internally consistent (one version per post, a vector per passage and per sentence, and each
vector really the embedding of its passage).

Subprocess runs of ``python -m tripsearch`` use the environment as it is (``TRIPSEARCH_CACHE`` if set, else
the default cache); ``fast_encoder`` makes sure the ONNX export is there first, once, so no run spends
its ~50 s exporting (or gets killed while exporting).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"\bmk(\d+)v(\d+)\b")

# `slow` marks the tests that run the real model (builds, subprocesses); they still run under plain
# `python -m pytest`, and `-m "not slow"` leaves them out. Registered in pyproject.toml.
slow = pytest.mark.slow

_SECTION_TOPICS = [
    "service meshes and sidecars",
    "database migrations without downtime",
    "observability with traces",
    "platform teams and golden paths",
    "supply chain security for packages",
    "edge caching of APIs",
]


def versioned_post(n: int, version: int, sections: int = 2) -> str:
    """Post ``n`` at ``version``: YAML front matter, ``sections`` talks, the marker in every paragraph."""
    mark = f"mk{n}v{version}"
    parts = [
        "---",
        f'title: "Report {n}"',
        f"date: 2023-0{1 + n % 9}-1{n % 10}",
        "lang: en",  # declared, so no language model is loaded per run
        "tags: [testing]",
        "---",
        "",
    ]
    for s in range(sections):
        topic = _SECTION_TOPICS[(n + s) % len(_SECTION_TOPICS)]
        parts += [
            f"## Talk {s + 1} on {topic}",
            "",
            f"The speaker {mark} explained {topic} in some depth. Questions {mark} went on for a while.",
            "",
            f"My takeaway {mark} is to try it on one team first.",
            "",
        ]
    return "\n".join(parts)


def write_post(folder: Path, n: int, version: int, sections: int = 2) -> Path:
    path = folder / f"post{n}.md"
    path.write_text(versioned_post(n, version, sections))
    return path


def open_index(index_dir: Path, encoder=None):
    from tripsearch import Index

    return Index.open(index_dir, encoder=encoder)


@dataclass
class IndexState:
    generation: str
    versions: dict[str, int]  # post path -> version
    passages: int


def index_state(index_dir: Path, encoder=None, check_vectors: bool = True) -> IndexState:
    """Open the live generation and check it: one version per post, counts and vectors that line up."""
    idx = open_index(index_dir, encoder)
    try:
        versions: dict[str, set[int]] = {}
        for passage in idx.passages:
            marks = MARKER.findall(passage.text)
            found = {int(v) for _, v in marks}
            assert len(found) <= 1, f"{passage.post.path}: one passage mixes versions {found}"
            post_number = re.search(r"\d+", passage.post.path)[0]
            assert all(n == post_number for n, _ in marks), f"{passage.post.path}: holds another post's text"
            versions.setdefault(passage.post.path, set()).update(found)
        for path, found in versions.items():
            assert len(found) == 1, f"{path}: passages from versions {sorted(found)} in one index (half-written post)"
        # A vector per passage and per sentence, read straight from the files (not through Index).
        from tripsearch.store.vectors import SENTENCES_FILE, VECTORS_FILE, all_vectors, read_vectors

        vectors = all_vectors(read_vectors(idx.generation / VECTORS_FILE, idx.manifest.dim))
        sentences = all_vectors(read_vectors(idx.generation / SENTENCES_FILE, idx.manifest.dim))
        if idx.manifest.segments:  # a base and a delta (store.segments): the base's live rows, then the delta's
            vectors, sentences = _segmented_vectors(idx, vectors, sentences)
        assert len(vectors) == len(idx.passages), (len(vectors), len(idx.passages))
        assert len(sentences) == sum(len(p.sentences) for p in idx.passages)
        assert idx.manifest.counts["passages"] == len(idx.passages)
        if check_vectors and encoder is not None and idx.passages:
            fresh = encoder.encode([p.embedding_text() for p in idx.passages])
            cosines = np.sum(fresh * vectors, axis=1)
            assert cosines.min() > 0.999, f"vector rows do not match their passages (min cosine {cosines.min():.4f})"
        return IndexState(idx.generation.name, {p: next(iter(v)) for p, v in versions.items()}, len(idx.passages))
    finally:
        idx.close()


def _segmented_vectors(idx, vectors: np.ndarray, sentences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vectors of a two-segment generation in its row order, read from the files: the base's rows that no
    tombstone hides, then the delta's (``store.segments``)."""
    from tripsearch.store.database import open_database, row_columns
    from tripsearch.store.segments import DELTA_SENTENCES, DELTA_VECTORS, TOMBSTONES
    from tripsearch.store.vectors import all_vectors, read_vectors

    dead = np.load(idx.generation / TOMBSTONES)
    con = open_database(idx.generation / "passages.sqlite")
    counts, _ = row_columns(con)
    con.close()
    assert len(dead) == len(vectors) == len(counts) and len(sentences) == counts.sum()
    delta = all_vectors(read_vectors(idx.generation / DELTA_VECTORS, idx.manifest.dim))
    delta_sentences = all_vectors(read_vectors(idx.generation / DELTA_SENTENCES, idx.manifest.dim))
    return (
        np.concatenate([vectors[~dead], delta]),
        np.concatenate([sentences[np.repeat(~dead, counts)], delta_sentences]),
    )


def corpus_versions(folder: Path) -> dict[str, int]:
    """{post path: version} of the versioned posts in ``folder``, from their marker words."""
    out = {}
    for path in sorted(folder.glob("post*.md")):
        found = {int(v) for _, v in MARKER.findall(path.read_text())}
        assert len(found) == 1
        out[path.name] = found.pop()
    return out


def indexer_command(posts: Path, index_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tripsearch", "index", str(posts), "--index", str(index_dir), *extra]


def run_indexer(posts: Path, index_dir: Path, *extra: str, timeout: float = 300, env: dict | None = None):
    """Run ``tripsearch index`` to the end; the CompletedProcess."""
    return subprocess.run(
        indexer_command(posts, index_dir, *extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def fast_encoder():
    """The default model's ONNX encoder, exported once (the cache is $TRIPSEARCH_CACHE or the default)."""
    from tripsearch.embed import ensure_fast_encoder
    from tripsearch.embed.onnx import OnnxEncoder

    status = ensure_fast_encoder(None)
    if not status.startswith("onnx encoder ready"):
        pytest.skip(f"no ONNX export of the default model: {status}")
    return OnnxEncoder(None)


def seed_export_for_copy(model_dir: Path, cache_dir: Path) -> str:
    """Give ``model_dir`` (a copy of the default model with a changed config.json) an ONNX export in
    ``cache_dir`` without the ~50 s export: its weights and tokenizer are the default model's, so the default
    model's verified export *is* its export; only the fingerprint it is filed under differs. Returns that
    fingerprint."""
    from tripsearch.embed.models import fingerprint, model_path
    from tripsearch.embed.onnx import default_cache_dir

    source = default_cache_dir() / fingerprint(model_path(None))
    target_fp = fingerprint(str(model_dir))
    target = cache_dir / target_fp
    shutil.copytree(source, target, copy_function=os.link)
    meta_file = target / "encoder.json"
    meta = json.loads(meta_file.read_text())
    meta["fingerprint"] = target_fp
    meta_file.unlink()  # a hard link to the real cache's file: replace it, never write through it
    meta_file.write_text(json.dumps(meta))
    return target_fp


def wait_for(predicate, timeout: float, interval: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def lock_is_held(index_dir: Path) -> bool:
    """Whether some process holds the index's flock, read from /proc/locks (no probing, so no interference)."""
    try:
        inode = (index_dir / ".lock").stat().st_ino
        return any(line.split()[1] == "FLOCK" and line.split()[5].endswith(f":{inode}") for line in open("/proc/locks"))
    except (OSError, IndexError):
        return False


@pytest.fixture
def say(request):
    """Print a line past pytest's output capture, so the counts show in a normal run."""
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if terminal is None or capture is None:
            return
        with capture.global_and_fixture_disabled():
            terminal.write_line(f"\n    [reliability] {line}")

    return write
