"""Passage vectors in a FAISS flat inner-product index: exact search, which is right at this size.

Vectors are unit length, so inner product is cosine similarity. FAISS writes its own binary format
(no pickle); row i is passage row i of the database.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VECTORS_FILE = "vectors.faiss"  # one vector per passage
SENTENCES_FILE = "sentences.faiss"  # one vector per prose sentence, passage by passage, in row order


def write_vectors(path: Path, vectors: np.ndarray) -> None:
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(index, str(path))


def read_vectors(path: Path, dim: int):
    """The FAISS index at ``path``; raises ``ValueError`` naming the file when it is unreadable."""
    import faiss

    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise ValueError(f"{path}: not a readable FAISS index ({str(exc).splitlines()[0][:200]})") from None
    if index.d != dim:
        raise ValueError(f"{path}: holds {index.d}-dimensional vectors, the manifest says {dim}")
    return index


def all_vectors(index) -> np.ndarray:
    """Every stored vector, row order: reused by an update for passages whose text did not change."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)
