"""The store seam: what the search stage asks of wherever passages and vectors live (issue 13).

``search.candidates`` talks only to a ``PassageStore``; ``store.local.LocalStore`` is the one behind it today
(one generation folder: SQLite + FTS5, mapped FAISS files, an HNSW graph past a size). A server engine (the
Milvus issue) implements the same methods. Rows are the store's own 0…n-1 numbering of passages; ``allowed``
is a boolean mask over them (None: every row).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from tripsearch.errors import PassageNotFound
from tripsearch.records import Passage, PostMeta


class Facets(NamedTuple):
    """What the app offers as filters: every author and tag, and the date range of the posts."""

    authors: tuple[str, ...]
    tags: tuple[str, ...]
    first: dt.date | None
    last: dt.date | None

    @classmethod
    def of(cls, posts: Sequence[PostMeta]) -> Facets:
        """The facets of ``posts``: every author and tag once, sorted; the first and last date (None if none)."""
        dates = [meta.date for meta in posts if meta.date]
        return cls(
            tuple(sorted({a for meta in posts for a in meta.authors})),
            tuple(sorted({t for meta in posts for t in meta.tags})),
            min(dates, default=None),
            max(dates, default=None),
        )


class KeywordTop(NamedTuple):
    """The best BM25 rows (best first), and the count, sum and sum of squares of every match's score."""

    rows: list[tuple[int, float]]
    count: int
    total: float
    squares: float


@runtime_checkable
class PassageStore(Protocol):
    model_fingerprint: str
    dim: int

    def __len__(self) -> int: ...

    def fetch(self, rows: Sequence[int]) -> list[Passage]:
        """The passages of ``rows``, in that order."""
        ...

    def row_of(self, passage_id: str) -> int | None: ...

    def dense_candidates(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        """Up to ``k`` rows nearest to ``query`` (unit vector) by passage cosine, among ``allowed``."""
        ...

    # Optional (``search.candidates`` asks with getattr; a store without it gives passage-graph candidates only):
    # def sentence_candidates(self, query, k, allowed) -> np.ndarray: rows of the passages holding the ``k``
    # nearest sentences to ``query`` among ``allowed`` rows (sorted, distinct).

    def dense_scores(self, rows: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(exact dense score of each row, the rows' sentence rows, those sentences' cosines)."""
        ...

    def keyword_top(self, question: str, limit: int) -> KeywordTop: ...

    def facets(self) -> Facets: ...

    def dense_sample(self, query: np.ndarray) -> np.ndarray:
        """Exact dense scores of a fixed sample of rows: what z-scores over all rows are estimated from."""
        ...


def require_row(store: PassageStore, passage_id: str) -> int:
    """``store.row_of(passage_id)``; raises ``PassageNotFound`` when the store has no such passage."""
    row = store.row_of(passage_id)
    if row is None:
        raise PassageNotFound(f"no passage with id {passage_id!r} in this index")
    return row
