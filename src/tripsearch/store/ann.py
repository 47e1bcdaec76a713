"""Approximate nearest-neighbour indexes for indexes past ``ANN_MIN_ROWS``: an HNSW graph of the passage vectors
and an IVF-SQ8 index of the sentence vectors (second half of this module).

Below that size the search multiplies the question against every mapped vector (exact, and as fast as a graph
walk there); above it, ``search.candidates`` asks this graph for the best few hundred passages and scores only
those exactly. HNSW (Malkov & Yashunin 2016, FAISS ``IndexHNSWFlat``) was chosen over IVF with quantisation
because it needs no training pass and its recall is steady under an ID filter; ``M`` and ``efSearch`` are the
FAISS defaults' neighbourhood (32, raised search breadth), measured with ``benchmarks/scale.py``.
The file is read with ``IO_FLAG_MMAP_IFC``: its stored vectors stay on disk, mapped, like the flat files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ANN_FILE = "vectors.hnsw"
ANN_MIN_ROWS = 50_000  # below: exact search over every row (benchmarks/scale.py: 10k exact hybrid p50 is fast)
HNSW_M = 32  # graph neighbours per node: FAISS's usual setting for 384-d text embeddings
EF_CONSTRUCTION = 80
EF_SEARCH = 256  # search breadth: recall@300 of the passage graph against exact, measured on the synthetic 100k


def write_ann(path: Path, vectors: np.ndarray) -> None:
    """Write the HNSW graph of ``vectors`` (n, d) float32 unit rows; inner product = cosine."""
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    for lo in range(0, len(vectors), 100_000):  # bounded copies of a mapped matrix
        index.add(np.ascontiguousarray(vectors[lo : lo + 100_000], dtype=np.float32))
    faiss.write_index(index, str(path))


def read_ann(path: Path, n: int, dim: int):
    """The HNSW index at ``path``, its vectors mapped; raises ``ValueError`` naming the file when it is unreadable
    or does not hold ``n`` vectors of ``dim`` dimensions."""
    import faiss

    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError as exc:
        raise ValueError(f"{path}: not a readable FAISS index ({str(exc).splitlines()[0][:200]})") from None
    if index.d != dim or index.ntotal != n:
        raise ValueError(f"{path}: holds {index.ntotal} vectors of {index.d} dimensions, expected {n} of {dim}")
    return index


def ann_search(index, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, similarities) of the ``k`` nearest passages by the graph, best first; ``allowed`` (a boolean row
    mask) is applied inside the walk with an ID selector, so a filtered search still finds ``k`` when ``k`` pass."""
    import faiss

    params = faiss.SearchParametersHNSW()
    params.efSearch = max(EF_SEARCH, k)
    return _search(index, params, query, k, allowed)


def _search(index, params, query: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, similarities) of ``index.search`` for one query with ``params``, ``allowed`` (a boolean mask over the
    index's ids) applied inside the search as an ``IDSelectorBitmap``; the ids FAISS leaves unfilled (-1) dropped."""
    import faiss

    bits = selector = None  # both kept alive until the search is done: the selector points into ``bits``
    if allowed is not None:
        bits = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
        params.sel = selector
    sims, rows = index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k, params=params)
    keep = rows[0] >= 0
    return rows[0][keep].astype(np.int64), sims[0][keep]


# ---- the sentence graph: candidates lifted by one strong sentence --------------------------------------------
# The dense score is 0.3·passage cosine + 0.7·best-sentence cosine (search.fusion), so a passage can win on one
# sentence while its own vector is far from the question: more passage-graph candidates did not find those
# (benchmarks/scale.py, 1M: 1000 → recall@10 0.82, 4000 → 0.93). This index finds the passages of the nearest
# SENTENCES. It is FAISS IndexIVFScalarQuantizer (Jégou et al. 2011 inverted file; 8-bit scalar codes, 384 bytes a
# vector): chosen over HNSW-SQ because a million passages have ~6.4M sentences and an IVF's build is one k-means on
# a sample plus one nearest-centroid assignment per vector (minutes here), where HNSW inserts walk the graph; its
# lists are read with IO_FLAG_MMAP_IFC (FAISS maps an ArrayInvertedLists file section: checked, the codes are not
# read at open), so opening stays constant time and a search touches only the lists it probes.
SENTENCE_ANN_FILE = "sentences.ivf"
SENTENCE_LISTS_MIN, SENTENCE_LISTS_MAX = 256, 4096  # ~sqrt(sentences) lists (FAISS wiki "Guidelines to choose")
TRAIN_PER_LIST = 40  # k-means sample: FAISS warns below 39 points per centroid
SENTENCE_PROBES = 16  # lists probed a search; scale.py's 1M store: 8 gave recall@10 0.966, 16 gave 0.986


def sentence_lists(n: int) -> int:
    """Inverted lists for ``n`` sentence vectors: about sqrt(n), within [256, 4096], and never more than the
    k-means sample can train (``TRAIN_PER_LIST`` vectors a list; one list for a tiny index)."""
    return int(min(max(np.sqrt(n), SENTENCE_LISTS_MIN), SENTENCE_LISTS_MAX, max(1, n // TRAIN_PER_LIST)))


def write_sentence_ann(path: Path, vectors: np.ndarray) -> None:
    """Write the IVF-SQ8 index of ``vectors`` (n, d) float32 unit sentence rows (a map is fine: read in blocks
    of 100k rows); ids are sentence rows. Inner product = cosine."""
    import faiss

    n, dim = vectors.shape
    lists = sentence_lists(n)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    index.cp.niter = 10  # k-means rounds: the lists only need to be roughly balanced neighbourhoods
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, size=min(n, TRAIN_PER_LIST * lists), replace=False))
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for lo in range(0, n, 100_000):
        index.add(np.ascontiguousarray(vectors[lo : lo + 100_000], dtype=np.float32))
    faiss.write_index(index, str(path))


def read_sentence_ann(path: Path, n: int, dim: int):
    """The sentence index at ``path``, its lists mapped; ``ValueError`` naming the file when it is unreadable or
    does not hold ``n`` vectors of ``dim`` dimensions."""
    return read_ann(path, n, dim)


def sentence_search(index, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Sentence rows of the ``k`` nearest sentences found in the ``SENTENCE_PROBES`` nearest lists (unsorted
    order is fine: callers take their passages as candidates); ``allowed`` (a boolean mask over sentence rows) is
    applied inside the scan with an ID selector."""
    import faiss

    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    params = faiss.SearchParametersIVF()
    params.nprobe = SENTENCE_PROBES
    return _search(index, params, query, k, allowed)[0]
