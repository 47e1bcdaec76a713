"""Scoring and fusing: the dense score of a passage, and how dense and keyword evidence are combined.

Measured on the dev questions (closing note of the search issue): reciprocal rank fusion of the two
lists reached hit@1 0.63; a convex mix of z-scored scores, with the dense score taken as a mix of the
passage's own similarity and its best sentence's, did clearly better. Ranks throw away how far ahead
the leader is; z-scores keep it.
"""

from __future__ import annotations

import numpy as np

PASSAGE_WEIGHT = 0.3  # dense score = 0.3 × whole-passage cosine + 0.7 × best-sentence cosine
DENSE_WEIGHT = 0.7  # fused = 0.7 × z(dense) + 0.3 × z(BM25); 0.55–0.8 all beat RRF on dev
RRF_K = 60


class SentenceMatrix:
    """Sentence vectors grouped by passage row, for the best-sentence similarity of every passage at once."""

    def __init__(self, vectors: np.ndarray, counts: list[int]):
        self.vectors = vectors
        self.counts = np.asarray(counts, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        self.row_of = np.repeat(np.arange(len(counts)), self.counts)

    def similarities(self, query: np.ndarray) -> np.ndarray:
        return self.vectors @ query if len(self.vectors) else np.zeros(0, dtype=np.float32)

    def best_per_passage(self, sims: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        """Max sentence similarity per passage; ``fallback`` where a passage has no prose sentence."""
        best = fallback.copy()
        has = self.counts > 0
        if has.any():
            best[has] = np.maximum.reduceat(sims, self.starts[has])
        return best


def dense_scores(passage_sims: np.ndarray, best_sentence: np.ndarray) -> np.ndarray:
    return PASSAGE_WEIGHT * passage_sims + (1 - PASSAGE_WEIGHT) * best_sentence


def zscore(values: np.ndarray) -> np.ndarray:
    std = values.std()
    return (values - values.mean()) / std if std > 0 else np.zeros_like(values)


def convex_fusion(dense: np.ndarray, keyword: np.ndarray, weight: float = DENSE_WEIGHT) -> np.ndarray:
    """Both arrays over the same candidate rows; higher is better."""
    return weight * zscore(dense) + (1 - weight) * zscore(keyword)


def reciprocal_rank_fusion(
    rankings: list[list[int]], weights: list[float] | None = None, k: int = RRF_K
) -> dict[int, float]:
    """row → fused score: the sum over rankings of weight / (k + rank). Kept to compare against."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, row in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + weight / (k + rank)
    return scores
