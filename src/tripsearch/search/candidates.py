"""Search past ``store.ann.ANN_MIN_ROWS``: score a few hundred candidate passages instead of every row.

Candidates are the ``DENSE_CANDIDATES`` nearest passages by the HNSW graph of passage vectors (filters applied
inside the walk; a filter that leaves at most ``EXACT_SUBSET`` rows is searched exactly over those rows), and the
``KEYWORD_CANDIDATES`` best BM25 rows from FTS5. Each candidate then gets exactly the scores the exact path
gives it: dense = 0.3·passage cosine + 0.7·best-sentence cosine (``search.fusion``), its sentences read from
the mapped sentence matrix; BM25 from FTS5, 0 outside the keyword list. Hybrid is the same
0.7·z(dense) + 0.3·z(BM25), each z-score's mean and spread taken over all rows as the exact path does: BM25's
exactly (count, sum and sum of squares of every match come back with the top rows; other rows score 0), the
dense score's from a fixed sample of ``STAT_SAMPLE`` rows. With filters the exact path takes them over the
rows that pass; here they stay over all rows (a shift of the mix, not of which passages can be found).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tripsearch.search.fusion import DENSE_WEIGHT, SentenceMatrix, dense_scores, reciprocal_rank_fusion
from tripsearch.search.keyword import keyword_top

DENSE_CANDIDATES = 300  # graph neighbours re-scored exactly: recall@10 against exact dense, benchmarks/scale.py
KEYWORD_CANDIDATES = 300  # "its top few hundred" (issue 13); the rest of the matches only enter the z-score
EXACT_SUBSET = 20_000  # a filter leaving this few rows is searched exactly over them (cheaper than the graph)
STAT_SAMPLE = 2048  # rows whose dense scores estimate the mean and spread over all rows


@dataclass
class Scored:
    """Candidate rows with their scores (aligned arrays; a mode's unused side is None) and the sentence
    similarities of every sentence row, filled for the candidates only (zeros elsewhere)."""

    rows: np.ndarray
    scores: np.ndarray
    dense: np.ndarray | None
    keyword: np.ndarray | None
    sentence_sims: np.ndarray | None


def sentence_rows(matrix: SentenceMatrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the sentence rows of ``rows``, concatenated in order; each passage's first position in that list)."""
    counts = matrix.counts[rows]
    local = np.cumsum(counts) - counts
    index = np.repeat(matrix.starts[rows], counts) + np.arange(counts.sum()) - np.repeat(local, counts)
    return index, local


def exact_dense(vectors: np.ndarray, matrix: SentenceMatrix, rows: np.ndarray, query: np.ndarray):
    """(dense score of each of ``rows``, their sentence rows, those sentences' similarities): the exact
    path's formula, reading only these rows' vectors from the maps."""
    passage_sims = np.asarray(vectors[rows]) @ query
    index, local = sentence_rows(matrix, rows)
    sims = np.asarray(matrix.vectors[index]) @ query if len(index) else np.zeros(0, dtype=np.float32)
    best = passage_sims.copy()
    has = matrix.counts[rows] > 0
    if has.any():
        best[has] = np.maximum.reduceat(sims, local[has])
    return dense_scores(passage_sims, best), index, sims


class CandidateSearch:
    """The candidate path over one generation: the mapped vectors, the graph, the SQLite connection."""

    def __init__(self, vectors: np.ndarray, matrix: SentenceMatrix, ann, con, lock):
        self.vectors, self.matrix, self.ann, self.con, self.lock = vectors, matrix, ann, con, lock
        n = len(vectors)
        rng = np.random.default_rng(0)  # fixed: the same statistics every run
        self.sample = np.sort(rng.choice(n, size=min(STAT_SAMPLE, n), replace=False))
        self._sample_vectors = np.asarray(vectors[self.sample])
        index, self._sample_local = sentence_rows(matrix, self.sample)
        self._sample_sentences = np.asarray(matrix.vectors[index])
        self._sample_has = matrix.counts[self.sample] > 0

    def dense_stats(self, query: np.ndarray) -> tuple[float, float]:
        """(mean, std) of the dense score over the sample rows: those of all rows, estimated."""
        passage_sims = self._sample_vectors @ query
        best = passage_sims.copy()
        if self._sample_has.any():
            sims = self._sample_sentences @ query
            best[self._sample_has] = np.maximum.reduceat(sims, self._sample_local[self._sample_has])
        dense = dense_scores(passage_sims, best)
        return float(dense.mean()), float(dense.std())

    def dense_rows(self, query: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
        from tripsearch.store.ann import ann_search

        if allowed is not None and allowed.sum() <= EXACT_SUBSET:
            subset = np.flatnonzero(allowed)
            dense, _, _ = exact_dense(self.vectors, self.matrix, subset, query)
            return subset[np.argsort(-dense, kind="stable")[:DENSE_CANDIDATES]]
        rows, _ = ann_search(self.ann, query, DENSE_CANDIDATES, allowed)
        return rows

    def keyword(self, question: str, allowed: np.ndarray | None, limit: int):
        with self.lock:
            top, count, total, squares = keyword_top(self.con, question, limit)
        if allowed is not None:
            top = [(row, score) for row, score in top if allowed[row]]
        return top, count, total, squares

    def score(self, question: str, mode: str, allowed: np.ndarray | None, query: np.ndarray | None) -> Scored:
        """Candidates and their scores for ``mode`` (one of ``index.MODES``); ``query`` is the question's
        vector (None for keyword)."""
        n = len(self.vectors)
        keyword_top_rows: list[tuple[int, float]] = []
        stats = (0, 0.0, 0.0)
        if mode != "dense":
            # keyword alone with a filter: every match, so that a narrow filter still finds its k
            limit = n if (mode == "keyword" and allowed is not None) else KEYWORD_CANDIDATES
            keyword_top_rows, *stats = self.keyword(question, allowed, limit)
        if mode == "keyword":
            rows = np.array([r for r, _ in keyword_top_rows], dtype=np.int64)
            scores = np.array([s for _, s in keyword_top_rows], dtype=np.float32)  # as the exact path keeps them
            return Scored(rows, scores, None, scores, None)
        dense_rows = self.dense_rows(query, allowed)
        rows = np.unique(np.concatenate([dense_rows, np.array([r for r, _ in keyword_top_rows], dtype=np.int64)]))
        dense, sentence_index, sims = exact_dense(self.vectors, self.matrix, rows, query)
        sentence_sims = np.zeros(len(self.matrix.vectors), dtype=np.float32)  # calloc: untouched pages cost nothing
        sentence_sims[sentence_index] = sims
        if mode == "dense":
            return Scored(rows, dense, dense, None, sentence_sims)
        keyword = np.zeros(len(rows), dtype=np.float32)
        if keyword_top_rows:
            where = np.searchsorted(rows, [r for r, _ in keyword_top_rows])
            keyword[where] = [s for _, s in keyword_top_rows]
        if mode == "hybrid-rrf":
            dense_order = rows[np.argsort(-dense, kind="stable")].tolist()
            fused = reciprocal_rank_fusion([dense_order, [r for r, _ in keyword_top_rows]])
            scores = np.array([fused.get(int(r), 0.0) for r in rows])
            return Scored(rows, scores, dense, keyword, sentence_sims)
        dense_mean, dense_std = self.dense_stats(query)
        count, total, squares = stats
        keyword_mean = total / n
        keyword_std = float(np.sqrt(max(squares / n - keyword_mean**2, 0.0)))
        z_dense = (dense - dense_mean) / dense_std if dense_std > 0 else np.zeros_like(dense)
        z_keyword = (keyword - keyword_mean) / keyword_std if keyword_std > 0 else np.zeros_like(keyword)
        return Scored(rows, DENSE_WEIGHT * z_dense + (1 - DENSE_WEIGHT) * z_keyword, dense, keyword, sentence_sims)
