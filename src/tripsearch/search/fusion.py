"""Fusing the dense and keyword rankings into one."""

from __future__ import annotations

RRF_K = 60  # the constant from Cormack et al. (2009): damps the head of each list


def reciprocal_rank_fusion(rankings: list[list[int]], weights: list[float] | None = None, k: int = RRF_K) -> dict[int, float]:
    """row → fused score: the sum over rankings of weight / (k + rank)."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, row in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + weight / (k + rank)
    return scores
