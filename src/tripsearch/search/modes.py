"""The search modes, as one Enum, and the one table that says what each mode needs and how it scores.

``Index.search``, the candidate path (``search.candidates``), the CLI's ``--mode`` choices and the app's mode
buttons all read ``MODE_TABLE``; a new mode is one member and one row here. The public API still takes the plain
strings (``Index.search(..., mode="hybrid")``): ``SearchMode`` is a ``StrEnum``, so a member equals its value.
Where the formulas come from: ``search.fusion`` (dense score, z-scored mix, reciprocal rank fusion) and
``search.grounding`` (the boost for the posts a question names). Importing this costs no numpy (the CLI builds
its ``--mode`` choices from it at start-up); the formulas import what they need when first called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from tripsearch.errors import BadInput

if TYPE_CHECKING:
    import numpy as np


class SearchMode(StrEnum):
    """How a query is scored (see ``MODE_TABLE`` for each one's formula)."""

    HYBRID = "hybrid"
    DENSE = "dense"
    KEYWORD = "keyword"
    HYBRID_RRF = "hybrid-rrf"

    @classmethod
    def of(cls, value: str | SearchMode) -> SearchMode:
        """The mode named ``value`` (a member or its string). Raises ``BadInput`` naming the modes for another."""
        try:
            return cls(value)
        except ValueError:
            raise BadInput(f"mode must be one of {', '.join(cls)}, not {value!r}") from None

    @property
    def rule(self) -> ModeRule:
        """This mode's row of ``MODE_TABLE``."""
        return MODE_TABLE[self]


def rank_order(rows: np.ndarray, scores: np.ndarray | None, positive_only: bool = False) -> list[int]:
    """``rows`` sorted by ``scores``, best first (stable: ties keep row order); only scores > 0 with
    ``positive_only`` (a BM25 list holds only the rows that match). [] when ``scores`` is None."""
    if scores is None:
        return []
    keep = (-scores).argsort(kind="stable")
    if positive_only:
        keep = keep[scores[keep] > 0]
    return rows[keep].tolist()


def rank_of(rows: np.ndarray, scores: np.ndarray | None, positive_only: bool = False) -> dict[int, int]:
    """row → 1-based rank in one list (``rank_order``)."""
    return {row: rank for rank, row in enumerate(rank_order(rows, scores, positive_only), start=1)}


def _hybrid(rows: np.ndarray, dense: np.ndarray, keyword: np.ndarray) -> np.ndarray:
    from tripsearch.search.fusion import convex_fusion

    return convex_fusion(dense, keyword)


def _rrf(rows: np.ndarray, dense: np.ndarray, keyword: np.ndarray) -> np.ndarray:
    import numpy as np

    from tripsearch.search.fusion import reciprocal_rank_fusion

    fused = reciprocal_rank_fusion([rank_order(rows, dense), rank_order(rows, keyword, positive_only=True)])
    return np.array([fused.get(int(r), 0.0) for r in rows])


def _add_boost(scores: np.ndarray, boost: np.ndarray, rows: np.ndarray, dense: np.ndarray) -> np.ndarray:
    return scores + boost


def _boost_as_ranking(scores: np.ndarray, boost: np.ndarray, rows: np.ndarray, dense: np.ndarray) -> np.ndarray:
    import numpy as np

    from tripsearch.search.fusion import reciprocal_rank_fusion

    named = np.flatnonzero(boost > 0)
    fused = reciprocal_rank_fusion([rank_order(rows[named], dense[named])])
    return scores + np.array([fused.get(int(r), 0.0) for r in rows])


# (rows, dense, keyword) → scores over those rows; a side the mode does not use is None.
Fuse = Callable[["np.ndarray", "np.ndarray | None", "np.ndarray | None"], "np.ndarray"]
# (scores, boost, rows, dense) → scores with the posts the query names favoured (``search.grounding``).
Ground = Callable[["np.ndarray", "np.ndarray", "np.ndarray", "np.ndarray"], "np.ndarray"]


@dataclass(frozen=True)
class ModeRule:
    """One mode: what it needs, how the exact path fuses its scores, and how grounding enters.

    ``dense``/``keyword``: it needs the question's vector (dense scores) / BM25. ``fuse``: the exact path's
    score over the rows that pass the filters. ``ground``: None (the named posts are not favoured), or how the
    grounding boost is applied. ``matches_only``: only rows with BM25 > 0 can be returned."""

    help: str
    dense: bool
    keyword: bool
    fuse: Fuse
    ground: Ground | None = None
    matches_only: bool = False


MODE_TABLE: dict[SearchMode, ModeRule] = {
    SearchMode.HYBRID: ModeRule(
        "0.7·z(dense) + 0.3·z(BM25), plus a boost for the posts of an event, year or author the query names",
        dense=True,
        keyword=True,
        fuse=_hybrid,
        ground=_add_boost,
    ),
    SearchMode.DENSE: ModeRule(
        "0.3·passage cosine + 0.7·best-sentence cosine",
        dense=True,
        keyword=False,
        fuse=lambda rows, dense, keyword: dense,
    ),
    SearchMode.KEYWORD: ModeRule(
        "BM25 (FTS5); only passages holding a query word",
        dense=False,
        keyword=True,
        fuse=lambda rows, dense, keyword: keyword,
        matches_only=True,
    ),
    SearchMode.HYBRID_RRF: ModeRule(
        "reciprocal rank fusion of the dense and BM25 lists (and of the named posts' passages by dense score)",
        dense=True,
        keyword=True,
        fuse=_rrf,
        ground=_boost_as_ranking,
    ),
}


def mode_help() -> str:
    """One line per mode for ``--help``: ``name: formula``."""
    return "; ".join(f"{mode}: {rule.help}" for mode, rule in MODE_TABLE.items())
