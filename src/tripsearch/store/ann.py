"""An approximate nearest-neighbour index of the passage vectors (FAISS HNSW), for indexes past ``ANN_MIN_ROWS``.

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
    selector = None
    if allowed is not None:
        bits = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
        params.sel = selector
    sims, rows = index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k, params=params)
    keep = rows[0] >= 0
    return rows[0][keep].astype(np.int64), sims[0][keep]
