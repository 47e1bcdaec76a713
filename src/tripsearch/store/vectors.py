"""Passage vectors in a FAISS flat inner-product file: written by FAISS, read by memory-mapping its floats.

Vectors are unit length, so inner product is cosine similarity. FAISS writes its own binary format
(no pickle); row i is passage row i of the database. An ``IndexFlatIP`` file is a fixed header followed by
the raw float32 rows, so a reader maps those rows (``numpy.memmap``) instead of reading them into RAM: opening
costs the same at 3 thousand or 3 million rows, and only the pages a search touches are read from disk.
The layout is FAISS's ``write_index`` for ``IndexFlat`` (faiss/impl/index_write.cpp: ``write_index_header``,
then ``WRITEXBVECTOR(codes)``: a uint64 count of 4-byte words, then the rows); ``map_vectors`` checks every
field of it and the exact file size, and ``tests/test_scale.py`` checks it against ``faiss.read_index``.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

import numpy as np

VECTORS_FILE = "vectors.faiss"  # one vector per passage
SENTENCES_FILE = "sentences.faiss"  # one vector per prose sentence, passage by passage, in row order

# fourcc, d, ntotal, two dummies (1 << 20), is_trained, metric type (0 = inner product), count of float words
_FLAT_HEADER = struct.Struct("<4siqqqBiQ")
_FLAT_IP = b"IxFI"
_METRIC_INNER_PRODUCT = 0


def write_vectors(path: Path, vectors: np.ndarray) -> None:
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(index, str(path))


def read_vectors(path: Path, dim: int):
    """The FAISS index at ``path``, read into RAM; raises ``ValueError`` naming the file when it is unreadable."""
    import faiss

    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise ValueError(f"{path}: not a readable FAISS index ({str(exc).splitlines()[0][:200]})") from None
    if index.d != dim:
        raise ValueError(f"{path}: holds {index.d}-dimensional vectors, the manifest says {dim}")
    return index


def map_vectors(path: Path, dim: int) -> np.ndarray:
    """The rows of the flat FAISS file at ``path`` as a read-only memory map, shape (n, dim) float32.

    Reads only the 45-byte header. Raises ``ValueError`` naming the file when it is not a flat inner-product
    index of ``dim`` dimensions whose size is exactly header + n·dim·4 bytes (truncated, appended to, emptied).
    ``FileNotFoundError`` when it is missing.
    """
    with open(path, "rb") as fh:
        head = fh.read(_FLAT_HEADER.size)
        size = fh.seek(0, 2)
    if len(head) < _FLAT_HEADER.size:
        raise ValueError(f"{path}: not a readable FAISS index (only {size} bytes)")
    fourcc, d, n, _dummy1, _dummy2, _trained, metric, words = _FLAT_HEADER.unpack(head)
    if fourcc != _FLAT_IP or metric != _METRIC_INNER_PRODUCT or n < 0:
        raise ValueError(f"{path}: not a readable FAISS index (not a flat inner-product index)")
    if d != dim:
        raise ValueError(f"{path}: holds {d}-dimensional vectors, the manifest says {dim}")
    if words != n * d or size != _FLAT_HEADER.size + 4 * n * d:
        raise ValueError(f"{path}: not a readable FAISS index ({size} bytes for {n} vectors: truncated or changed)")
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    rows = np.memmap(path, dtype="<f4", mode="r", offset=_FLAT_HEADER.size, shape=(n, d))
    # A search reads a few hundred scattered rows: the kernel's readahead would pull in 128 KB around each one
    # (measured: 1.35 GB of RSS after 100 queries at 100k passages, most of it file pages nobody asked for).
    rows._mmap.madvise(mmap.MADV_RANDOM)
    return rows


def read_rows(path: Path, dim: int) -> np.ndarray:
    """The rows of the flat FAISS file at ``path`` read into RAM, aligned (checked as ``map_vectors`` does).

    The exact search multiplies every row: numpy hands an aligned matrix to BLAS, but the rows of a mapped flat
    file start at byte 45, and its product with a question took 1.6 times as long (measured here on the real
    corpus's sentence vectors). One sequential read into an aligned buffer is cheaper than that on every search.
    """
    mapped = map_vectors(path, dim)
    rows = np.empty(mapped.shape, dtype=np.float32)
    if len(rows):
        with open(path, "rb") as fh:
            fh.seek(_FLAT_HEADER.size)
            if fh.readinto(memoryview(rows).cast("B")) != rows.nbytes:
                raise ValueError(f"{path}: not a readable FAISS index (shorter than its header says)")
    return rows


def all_vectors(index) -> np.ndarray:
    """Every stored vector, row order: reused by an update for passages whose text did not change."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)


def write_vector_files(building: Path, vectors: np.ndarray, sentence_vectors: np.ndarray) -> list[str]:
    """Write a generation's vector files; returns their names (for the manifest). Past ``ANN_MIN_ROWS``
    passages an HNSW graph of the passage vectors and an IVF index of the sentence vectors are written too
    (``store.ann``)."""
    from tripsearch.store.ann import ANN_FILE, ANN_MIN_ROWS, SENTENCE_ANN_FILE, write_ann, write_sentence_ann

    write_vectors(building / VECTORS_FILE, vectors)
    write_vectors(building / SENTENCES_FILE, sentence_vectors)
    if len(vectors) <= ANN_MIN_ROWS:
        return [VECTORS_FILE, SENTENCES_FILE]
    write_ann(building / ANN_FILE, vectors)
    write_sentence_ann(building / SENTENCE_ANN_FILE, sentence_vectors)
    return [VECTORS_FILE, SENTENCES_FILE, ANN_FILE, SENTENCE_ANN_FILE]
