"""``LocalStore``: the ``store.seam.PassageStore`` of one generation folder (SQLite + FTS5, mapped FAISS files,
an HNSW graph past ``store.ann.ANN_MIN_ROWS``). Built by ``Index`` from what it opened."""

from __future__ import annotations

import ctypes
import mmap
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tripsearch.records import Passage
from tripsearch.search.fusion import SentenceMatrix, dense_scores
from tripsearch.store.database import row_of_id
from tripsearch.store.rows import PassageRows, PostTable
from tripsearch.store.seam import Facets, KeywordTop

STAT_SAMPLE = 2048  # rows whose dense scores estimate the mean and spread over all rows (about 4 ms a question)


# Resident file pages (all of this process's maps) past which a store drops its own maps' pages after a search.
# RSS counts every page of a mapped file that a search has touched: at 100k passages 100 hybrid queries left 1.2 GB
# of the generation's files resident (sentences 0.87, graph 0.17, passage vectors 0.14; heap 0.18), and a
# million passages would pass 2 GiB. The pages are clean copies of the files: MADV_DONTNEED removes them from
# this process only, the kernel's page cache keeps them, and the next touch is a minor fault.
RELEASE_BYTES = 512 << 20
_PAGE = mmap.PAGESIZE


def resident_file_bytes() -> int:
    """Bytes of file-backed (and shared) pages resident in this process: the third field of /proc/self/statm
    (proc(5)); 0 where there is no /proc."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[2]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def release_maps(directory: Path) -> int:
    """Drop this process's resident pages of every file mapped from ``directory`` (numpy's maps and FAISS's
    mapped HNSW alike, found in /proc/self/maps) with madvise(MADV_DONTNEED); returns the bytes of the ranges
    advised. Safe for read-only file maps at any time, from any thread: the data stays in the files and the page
    cache. Linux only; elsewhere nothing happens."""
    if not sys.platform.startswith("linux"):
        return 0
    prefix = str(directory).rstrip("/") + "/"
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    advised = 0
    with open("/proc/self/maps") as fh:
        for line in fh:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].rstrip("\n").startswith(prefix):
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                if libc.madvise(lo, hi - lo, mmap.MADV_DONTNEED) == 0:
                    advised += hi - lo
    return advised


def _dot(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` for the few thousand rows of one search, on this thread: numpy's einsum loop, not
    BLAS. OpenBLAS splits a product this small over its threads, and on a busy 2-core machine waiting for the
    second one cost 24 ms where one thread takes 0.9 (13k sentence rows × 384, measured here in issue 13)."""
    return np.einsum("ij,j->i", matrix, vector)


def sentence_rows(matrix: SentenceMatrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the sentence rows of ``rows``, concatenated in order; each passage's first position in that list)."""
    counts = matrix.counts[rows]
    local = np.cumsum(counts) - counts
    index = np.repeat(matrix.starts[rows], counts) + np.arange(counts.sum()) - np.repeat(local, counts)
    return index, local


def passages_of_sentences(matrix: SentenceMatrix, sentences: np.ndarray) -> np.ndarray:
    """Distinct passage rows (sorted) holding the sentence rows ``sentences``: the last row whose first sentence
    is at or before each (a row without sentences shares its start with the next row, which is the holder)."""
    return np.unique(np.searchsorted(matrix.starts, sentences, side="right") - 1)


def _best(passage_sims: np.ndarray, sims: np.ndarray, local: np.ndarray, has: np.ndarray) -> np.ndarray:
    best = passage_sims.copy()
    if has.any():
        best[has] = np.maximum.reduceat(sims, local[has])
    return best


class LocalStore:
    """One generation, opened: ``Index`` owns the connection and maps; this reads them for the search stage."""

    def __init__(
        self,
        vectors: np.ndarray,
        matrix: SentenceMatrix,
        ann,
        con,
        lock: threading.RLock,
        passages: PassageRows,
        posts: PostTable,
        model_fingerprint: str,
        sentence_ann=None,
    ):
        self.vectors, self.matrix, self.ann, self.con, self.lock = vectors, matrix, ann, con, lock
        self.sentence_ann = sentence_ann  # store.ann's IVF index of the sentence vectors, or None
        self.passages, self.posts = passages, posts
        self.model_fingerprint, self.dim = model_fingerprint, vectors.shape[1]
        self._sample = None
        mapped = getattr(vectors, "filename", None)  # np.memmap: the generation's folder holds every map
        self._maps = Path(mapped).parent if mapped else None

    def __len__(self) -> int:
        return len(self.vectors)

    def fetch(self, rows: Sequence[int]) -> list[Passage]:
        return self.passages.fetch(rows)

    def row_of(self, passage_id: str) -> int | None:
        with self.lock:
            return row_of_id(self.con, passage_id)

    def dense_candidates(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        from tripsearch.store.ann import ann_search

        if self.ann is None:  # no graph (a small generation): exact, over every allowed row
            rows = np.flatnonzero(allowed) if allowed is not None else np.arange(len(self))
            return rows[np.argsort(-(np.asarray(self.vectors[rows]) @ query), kind="stable")[:k]]
        return ann_search(self.ann, query, k, allowed)[0]

    def sentence_candidates(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        """Rows (sorted, distinct) of the passages that hold the ``k`` nearest sentences by the sentence index
        (``store.ann.sentence_search``), among ``allowed`` rows; empty when there is no sentence index."""
        from tripsearch.store.ann import sentence_search

        if self.sentence_ann is None:
            return np.zeros(0, dtype=np.int64)
        mask = allowed[self.matrix.row_of] if allowed is not None else None  # a gather: 3x faster than np.repeat
        found = sentence_search(self.sentence_ann, query, k, mask)
        return passages_of_sentences(self.matrix, found)

    def dense_scores(self, rows: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The exact path's formula (``search.fusion``), reading only these rows' vectors from the maps."""
        passage_sims = _dot(np.asarray(self.vectors[rows]), query)
        index, local = sentence_rows(self.matrix, rows)
        sims = _dot(np.asarray(self.matrix.vectors[index]), query) if len(index) else np.zeros(0, dtype=np.float32)
        best = _best(passage_sims, sims, local, self.matrix.counts[rows] > 0)
        self.bound_resident()
        return dense_scores(passage_sims, best), index, sims

    def bound_resident(self, limit: int | None = None) -> bool:
        """Past ``limit`` (default ``RELEASE_BYTES``) resident file bytes, drop this generation's mapped pages
        (``release_maps``); True when it did. Called after each candidate scoring, where the maps are read."""
        if self._maps is None or resident_file_bytes() <= (RELEASE_BYTES if limit is None else limit):
            return False
        release_maps(self._maps)
        return True

    def dense_sample(self, query: np.ndarray) -> np.ndarray:
        if self._sample is None:  # gathered once: a few thousand random reads of the maps
            rng = np.random.default_rng(0)  # fixed: the same statistics every run
            rows = np.sort(rng.choice(len(self), size=min(STAT_SAMPLE, len(self)), replace=False))
            index, local = sentence_rows(self.matrix, rows)
            self._sample = (
                np.asarray(self.vectors[rows]),
                np.asarray(self.matrix.vectors[index]),
                local,
                self.matrix.counts[rows] > 0,
            )
        vectors, sentences, local, has = self._sample
        passage_sims = _dot(vectors, query)
        return dense_scores(passage_sims, _best(passage_sims, _dot(sentences, query), local, has))

    def keyword_top(self, question: str, limit: int) -> KeywordTop:
        """The best BM25 rows over the question's rarest terms (``search.keyword.KEYWORD_POSTINGS`` rows scored
        at most; every term when they fit), with that score's count, sum and sum of squares over all rows."""
        from tripsearch.search.keyword import KEYWORD_POSTINGS, keyword_top

        with self.lock:
            return KeywordTop(*keyword_top(self.con, question, limit, KEYWORD_POSTINGS))

    def facets(self) -> Facets:
        return Facets.of(self.posts.ordered())
