"""Search past ``store.ann.ANN_MIN_ROWS``: score a few hundred candidate passages instead of every row.

Candidates are the ``DENSE_CANDIDATES`` nearest passages by the store's ANN graph of passage vectors, the
passages of the ``SENTENCE_CANDIDATES`` nearest sentences by its sentence index (``store.ann``; filters applied
inside both; a filter that leaves at most ``EXACT_SUBSET`` rows is searched exactly over those rows), and the
``KEYWORD_CANDIDATES`` best BM25 rows from FTS5. Each candidate then gets exactly the scores the
exact path gives it: dense = 0.3·passage cosine + 0.7·best-sentence cosine (``search.fusion``), its sentences
read from the mapped sentence matrix; BM25 from FTS5, 0 outside the keyword list. The local store's BM25 covers
the question's rarest terms whose matches fit ``search.keyword.KEYWORD_POSTINGS`` rows (every term when they all
fit, which is the exact score): FTS5 would otherwise score every passage a common word matches. Hybrid is the same
0.7·z(dense) + 0.3·z(BM25), each z-score's mean and spread taken over all rows as the exact path does: BM25's
exactly for the score the store gives (count, sum and sum of squares of every match come back with the top rows;
other rows score 0), the dense score's from a fixed sample of rows (``PassageStore.dense_sample``). Only the
spread moves the order: a mean shifts every candidate alike. With filters the exact path takes
them over the rows that pass; here they stay over all rows (a shift of the mix, not of which passages can be
found). Everything is asked of a ``store.seam.PassageStore``, so another engine can stand behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tripsearch.search.fusion import DENSE_WEIGHT, reciprocal_rank_fusion
from tripsearch.search.modes import SearchMode
from tripsearch.store.seam import PassageStore

# Passage-graph neighbours re-scored exactly. Alone, 300 gave recall@10 0.90 against exact dense at 100k and 1000
# gave 0.97 (0.82 at 1M): the best sentence, 70% of the dense score, can lift a passage whose own vector is not
# among the nearest. With the sentence candidates below, 300 + 500 sentences gave 0.986 at 1M, 0.998 at 100k, for
# about the time 1000 passage neighbours alone took (fewer rows re-scored; docs/scale-out.md, last section).
DENSE_CANDIDATES = 300
# Nearest sentences by the store's sentence index (store.ann) whose passages join the candidates: a passage lifted
# by one strong sentence (0.7 of the dense score) is found even when its own vector is far from the question.
SENTENCE_CANDIDATES = 500
KEYWORD_CANDIDATES = 300  # "its top few hundred" (issue 13); the rest of the matches only enter the z-score
# (keyword alone with a filter asks for every match the store scores: at most KEYWORD_POSTINGS on the local store)
EXACT_SUBSET = 20_000  # a filter leaving this few rows is searched exactly over them (cheaper than the graph)


@dataclass
class Scored:
    """Candidate rows with their scores (aligned arrays; a mode's unused side is None) and the sentence
    similarities of every sentence row, filled for the candidates only (zeros elsewhere)."""

    rows: np.ndarray
    scores: np.ndarray
    dense: np.ndarray | None
    keyword: np.ndarray | None
    sentence_sims: np.ndarray | None


class CandidateSearch:
    """The candidate path over one ``PassageStore``; ``sentence_count``: rows of the sentence similarities the
    answer stage indexes (``Index.sentences``)."""

    def __init__(self, store: PassageStore, sentence_count: int):
        self.store, self.sentence_count = store, sentence_count

    def dense_stats(self, query: np.ndarray) -> tuple[float, float]:
        """(mean, std) of the dense score over all rows, estimated from the store's sample."""
        dense = self.store.dense_sample(query)
        return float(dense.mean()), float(dense.std())

    def dense_rows(self, query: np.ndarray, allowed: np.ndarray | None, k: int = 0) -> np.ndarray:
        """The dense candidates: at least ``DENSE_CANDIDATES`` passages, or the ``k`` asked for when more."""
        pool = max(DENSE_CANDIDATES, k)
        if allowed is not None and allowed.sum() <= EXACT_SUBSET:
            subset = np.flatnonzero(allowed)
            dense, _, _ = self.store.dense_scores(subset, query)
            return subset[np.argsort(-dense, kind="stable")[:pool]]
        rows = self.store.dense_candidates(query, pool, allowed)
        by_sentence = getattr(self.store, "sentence_candidates", None)  # optional on the seam (store.seam)
        if by_sentence is None:
            return rows
        return np.union1d(rows, by_sentence(query, max(SENTENCE_CANDIDATES, k), allowed))

    def score(
        self, question: str, mode: SearchMode | str, allowed: np.ndarray | None, query: np.ndarray | None, k: int = 0
    ) -> Scored:
        """Candidates and their scores for ``mode`` (a ``search.modes.SearchMode``: which sides it needs comes
        from its ``ModeRule``); ``query`` is the question's vector (None for keyword). ``k``: the passages the
        caller keeps; each pool holds at least that many, so a large k is not cut to the pools' few hundred (a
        two-segment index, always on this path, returned fewer hits than the one-segment index of its posts)."""
        mode = SearchMode.of(mode)
        rule = mode.rule
        n = len(self.store)
        top: list[tuple[int, float]] = []
        total = squares = 0.0
        if rule.keyword:
            # keyword alone with a filter: every match, so that a narrow filter still finds its k
            found = self.store.keyword_top(
                question, n if (not rule.dense and allowed is not None) else max(KEYWORD_CANDIDATES, k)
            )
            top, total, squares = found.rows, found.total, found.squares
            if allowed is not None:
                top = [(row, score) for row, score in top if allowed[row]]
        if not rule.dense:
            scores = np.array([s for _, s in top], dtype=np.float32)  # as the exact path keeps them
            return Scored(np.array([r for r, _ in top], dtype=np.int64), scores, None, scores, None)
        rows = np.unique(
            np.concatenate([self.dense_rows(query, allowed, k), np.array([r for r, _ in top], dtype=np.int64)])
        )
        dense, sentence_index, sims = self.store.dense_scores(rows, query)
        sentence_sims = np.zeros(self.sentence_count, dtype=np.float32)  # calloc: untouched pages cost nothing
        sentence_sims[sentence_index] = sims
        if not rule.keyword:
            return Scored(rows, dense, dense, None, sentence_sims)
        keyword = np.zeros(len(rows), dtype=np.float32)
        if top:
            keyword[np.searchsorted(rows, [r for r, _ in top])] = [s for _, s in top]
        if mode is SearchMode.HYBRID_RRF:
            dense_order = rows[np.argsort(-dense, kind="stable")].tolist()
            fused = reciprocal_rank_fusion([dense_order, [r for r, _ in top]])
            return Scored(rows, np.array([fused.get(int(r), 0.0) for r in rows]), dense, keyword, sentence_sims)
        dense_mean, dense_std = self.dense_stats(query)
        keyword_mean = total / n
        keyword_std = float(np.sqrt(max(squares / n - keyword_mean**2, 0.0)))
        z_dense = (dense - dense_mean) / dense_std if dense_std > 0 else np.zeros_like(dense)
        z_keyword = (keyword - keyword_mean) / keyword_std if keyword_std > 0 else np.zeros_like(keyword)
        return Scored(rows, DENSE_WEIGHT * z_dense + (1 - DENSE_WEIGHT) * z_keyword, dense, keyword, sentence_sims)
