"""Issue 13: an index that opens by mapping its files, checks checksums on demand, and past a size searches a
few hundred candidates found by an ANN graph instead of every row.

The switch-over is tested on the sample corpus with ``ANN_MIN_ROWS`` lowered to 0 and the candidate pool
shrunk, so that the graph, not the pool's size, decides what is found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, post_with_most_passages

from tripsearch import Index
from tripsearch.search import candidates
from tripsearch.search.filters import Filters
from tripsearch.store import ann
from tripsearch.store import generations as gen
from tripsearch.store.vectors import VECTORS_FILE, all_vectors, read_vectors

QUERIES = [
    "how did they cut Lambda cold starts",
    "tail-based sampling",
    "kubernetes operators",
    "python packaging",
    "go generics",
    "observability on a budget",
]


def _damage_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _copy(index_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(index_dir, tmp_path / "index"))


# -------------------------------------------------------------------------------------------- mapped open
def test_open_maps_the_vectors_and_builds_no_passage(sample_index_dir):
    idx = Index.open(sample_index_dir)
    try:
        assert isinstance(idx._vectors, np.memmap) and isinstance(idx.sentences.vectors, np.memmap)
        stored = all_vectors(read_vectors(idx.generation / VECTORS_FILE, idx.manifest.dim))
        assert np.array_equal(np.asarray(idx._vectors), stored)
        assert not idx.passages._cache  # nothing read from the passages table yet
        hits = idx.search("cold starts", k=3)
        # Only what the search showed (a pool of 3 per hit) and the rows just before them (is it a talk's window?).
        assert hits and len(idx.passages._cache) <= 2 * 3 * 3
        assert [p.id for p in idx.passages][: len(hits)] == [idx.passages[r].id for r in range(len(hits))]
    finally:
        idx.close()


def test_large_index_opens_without_checksums_and_verify_finds_the_damage(sample_index_dir, tmp_path, monkeypatch):
    index_dir = _copy(sample_index_dir, tmp_path)
    target = gen.current_generation(index_dir) / VECTORS_FILE
    _damage_middle(target)  # same size, one float changed: only a checksum can tell
    with pytest.raises(gen.IndexCorrupt):
        Index.open(index_dir)  # small: checked on open
    monkeypatch.setattr(gen, "VERIFY_ON_OPEN_BYTES", 0)
    idx = Index.open(index_dir)
    with pytest.raises(gen.IndexCorrupt) as caught:
        idx.verify()
    assert str(target) in str(caught.value)
    idx.close()
    done = _verify(index_dir)
    assert done.returncode == 3 and str(target) in done.stderr and "Traceback" not in done.stderr


def _verify(index_dir) -> subprocess.CompletedProcess:
    """`tripsearch verify --index DIR` in a subprocess, with this checkout's source first on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "tripsearch", "verify", "--index", str(index_dir)]
    return subprocess.run(command, capture_output=True, text=True, env=env)


@pytest.mark.parametrize("how", ["truncate", "append"])
def test_large_index_refuses_a_resized_vector_file_on_open(sample_index_dir, tmp_path, monkeypatch, how):
    index_dir = _copy(sample_index_dir, tmp_path)
    target = gen.current_generation(index_dir) / VECTORS_FILE
    data = target.read_bytes()
    target.write_bytes(data[: len(data) - 4] if how == "truncate" else data + b"\0\0\0\0")
    monkeypatch.setattr(gen, "VERIFY_ON_OPEN_BYTES", 0)
    with pytest.raises(gen.IndexCorrupt) as caught:
        Index.open(index_dir)
    assert str(target) in str(caught.value)


def test_verify_command_on_a_sound_index(sample_index_dir):
    done = _verify(sample_index_dir)
    assert done.returncode == 0 and "every checksum matches" in done.stdout


# ------------------------------------------------------------------------------------------ ANN switch-over
def test_small_index_has_no_graph_and_scores_every_row(sample_index_dir):
    idx = Index.open(sample_index_dir)
    assert ann.ANN_FILE not in idx.manifest.files and idx._candidates() is None
    idx.close()


def test_ann_index_finds_what_exact_search_finds(ann_sample_index_dir, sample_index_dir, monkeypatch):
    """With a pool of 8 graph neighbours (of about 40 passages): the graph finds the 8 nearest passages, every
    hit carries exactly the dense score the exact path gives it (candidates are re-scored, not approximated), and
    on questions the sample answers the best passage is the exact search's."""
    monkeypatch.setattr(candidates, "DENSE_CANDIDATES", 8)  # the graph must find them, not the pool's size
    monkeypatch.setattr(candidates, "KEYWORD_CANDIDATES", 8)
    graph, exact = Index.open(ann_sample_index_dir), Index.open(sample_index_dir)
    assert len(graph.passages) > 3 * 8
    assert ann.ANN_FILE in graph.manifest.files and (graph.generation / ann.ANN_FILE).is_file()
    search = graph._candidates()
    vectors = exact.encoder.encode(QUERIES)
    for query, vector in zip(QUERIES, vectors):
        nearest = np.argsort(-(np.asarray(exact._vectors) @ vector))[:8]
        found = search.store.dense_candidates(vector, 8, None)  # the passage graph alone (no sentence hits)
        assert set(found.tolist()) == set(nearest.tolist()), query
        ann_hits = _hits(graph, query, 3, "dense", vector=vector)
        exact_hits = _hits(exact, query, len(exact.passages), "dense", vector=vector)
        exact_score = {h.passage_id: h.score for h in exact_hits}
        assert np.allclose([h.score for h in ann_hits], [exact_score[h.passage_id] for h in ann_hits], atol=1e-5)
        assert _hits(graph, query, 3, "keyword") == _hits(exact, query, 3, "keyword")
    for query, vector in zip(QUERIES[:3], vectors[:3]):  # the sample's own topics
        for mode in ("dense", "hybrid"):
            top = _hits(graph, query, 1, mode, vector=vector)[0]
            assert top.passage_id == _hits(exact, query, 1, mode, vector=vector)[0].passage_id, (query, mode)


def test_candidate_sentence_similarities_are_the_exact_ones(ann_sample_index_dir, sample_index_dir):
    graph, exact = Index.open(ann_sample_index_dir), Index.open(sample_index_dir)
    vector = exact.encoder.encode(["how did they cut Lambda cold starts"])[0]
    found = graph.scored_passages("cold starts", 5, Filters(), "hybrid", vector)
    _, exact_sims = exact.dense_scores(vector)
    assert found
    for scored in found:  # what the answer stage reads (records.ScoredPassage)
        row = exact.row_of(scored.hit.passage_id)
        first, count = exact.sentences.starts[row], exact.sentences.counts[row]
        assert len(scored.sentence_sims) == len(scored.passage.sentences) == count
        assert np.allclose(scored.sentence_sims, exact_sims[first : first + count], atol=1e-6)


def test_filtered_ann_search_still_returns_k(ann_sample_index_dir, monkeypatch):
    monkeypatch.setattr(candidates, "DENSE_CANDIDATES", 5)
    monkeypatch.setattr(candidates, "EXACT_SUBSET", 0)  # through the graph with an ID selector
    idx = Index.open(ann_sample_index_dir)
    post, count = post_with_most_passages(idx)
    k = min(5, count)
    assert k >= 3
    for query in QUERIES:
        hits = idx.search(query, k=k, mode="dense", post=post)
        assert len(hits) >= 1 and all(h.path == post for h in hits)
        raw = _hits(idx, query, k, "dense", Filters.of(post=post))
        assert len(raw) == k and all(h.path == post for h in raw), query


def _hits(idx: Index, query: str, k: int, mode: str, filters: Filters | None = None, vector=None) -> list:
    """The ranked hits before windows are folded into blocks (``Index.scored_passages``)."""
    return [scored.hit for scored in idx.scored_passages(query, k, filters, mode, vector)]


# ------------------------------------------------------------------------------- the scale benchmark's writer
def _scale_benchmark():
    import importlib.util

    spec = importlib.util.spec_from_file_location("scale_benchmark", ROOT / "benchmarks" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scale_benchmark_writes_flat_files_as_faiss_does(tmp_path):
    """benchmarks/scale.py streams a million vectors into the flat file format in blocks; the bytes must be what
    ``faiss.write_index`` writes (``store.vectors.write_vectors``), which ``map_vectors`` then reads back."""
    from tripsearch.store.vectors import map_vectors, write_vectors

    scale = _scale_benchmark()
    rows = np.random.default_rng(0).standard_normal((37, 8)).astype(np.float32)
    write_vectors(tmp_path / "faiss.faiss", rows)
    flat = scale.FlatFile(tmp_path / "streamed.faiss", 8)
    for lo in range(0, 37, 10):
        flat.add(rows[lo : lo + 10])
    flat.close()
    assert (tmp_path / "streamed.faiss").read_bytes() == (tmp_path / "faiss.faiss").read_bytes()
    assert np.array_equal(map_vectors(tmp_path / "streamed.faiss", 8), rows)


def test_scale_benchmark_exact_top10_by_chunks_is_the_whole_matrix_one():
    """The benchmark's truth, merged chunk by chunk, equals a stable sort of the ``search.fusion`` dense score
    over every row at once (ties included: copies of one vector)."""
    from tripsearch.records import Passage, PostMeta, SentenceSpan
    from tripsearch.search.fusion import SentenceMatrix, dense_scores

    scale = _scale_benchmark()
    rng = np.random.default_rng(1)
    meta = PostMeta("p.md", "t", None, (), (), "", None, None)
    counts = rng.integers(0, 4, size=55)
    passages = [
        Passage(f"p#{i}", meta, "", (), i, 1, 1, "x", "h", tuple(SentenceSpan(0, 1, 1, 1, 0) for _ in range(c)))
        for i, c in enumerate(counts)
    ]
    vectors = scale._unit(rng.standard_normal((55, 6)))
    vectors[30] = vectors[3]  # a tie, broken by row order
    sentences = scale._unit(rng.standard_normal((int(counts.sum()), 6)))
    questions = scale._unit(rng.standard_normal((4, 6)))
    truth = scale.ExactTop10(questions)
    starts = np.concatenate([[0], np.cumsum(counts)])
    for lo in range(0, 55, 20):
        hi = min(lo + 20, 55)
        truth.add(passages[lo:hi], vectors[lo:hi], sentences[starts[lo] : starts[hi]])
    matrix = SentenceMatrix(sentences, counts.tolist())
    for q, top in zip(questions, truth.tops()):
        scores = dense_scores(vectors @ q, matrix.best_per_passage(matrix.similarities(q), vectors @ q))
        assert top == [passages[i].id for i in np.argsort(-scores, kind="stable")[:10]]


def _resident_mb_under(folder: Path) -> float:
    """This process's resident MB of the files mapped from ``folder`` (/proc/self/smaps)."""
    total, current = 0, None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:
            current = fields[5] if len(fields) >= 6 else None
        elif fields and fields[0] == "Rss:" and current and current.startswith(f"{folder}/"):
            total += int(fields[1])
    return total / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and madvise are Linux's")
def test_search_lets_go_of_mapped_pages_past_a_bound(ann_sample_index_dir):
    """RSS counts the mapped file pages a search touched (a million passages would pass 2 GiB); past the bound a
    store drops its generation's pages, numpy's maps and FAISS's mapped graph alike, and finds the same after."""
    idx = Index.open(ann_sample_index_dir)
    try:
        store = idx.store
        assert store._maps == idx.generation
        vector = idx.encoder.encode(["cold starts"])[0]
        before = [s.hit for s in idx.scored_passages("cold starts", 5, None, "hybrid", vector)]
        np.asarray(idx._vectors).sum(), np.asarray(idx.sentences.vectors).sum()  # touch every mapped page
        assert _resident_mb_under(idx.generation) > 0
        assert not store.bound_resident(limit=1 << 40)  # under the bound: kept
        assert store.bound_resident(limit=0)
        assert _resident_mb_under(idx.generation) == 0
        assert [s.hit for s in idx.scored_passages("cold starts", 5, None, "hybrid", vector)] == before
    finally:
        idx.close()
