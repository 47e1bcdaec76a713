"""One query over one opened generation: score the rows its mode needs, favour the posts it names, rank.

Below ``store.ann.ANN_MIN_ROWS`` every row that passes the filters is scored exactly (numpy products over the
passage and sentence vectors, BM25 of every match); past it the generation has an HNSW graph and
``search.candidates`` scores a few hundred candidates through the ``store.seam.PassageStore``. Which scores a
mode needs and how they are fused come from ``search.modes.MODE_TABLE``. ``Index`` is the front door over this.

What ``rank`` reads of the opened generation (``store.opened.OpenedGeneration``): ``passages`` (length, ``fetch``
by row), ``posts.ordered()`` and ``post_of_row`` (filters, grounding), ``candidates``; only the exact path reads
``vectors``, ``sentences``, ``con``/``lock`` and calls ``exact_ready``. A state over another ``PassageStore`` (a
server engine) sets ``candidates`` to a ``CandidateSearch`` over that store, and the exact path is never taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from tripsearch.records import Hit, Passage
from tripsearch.search.filters import Filters
from tripsearch.search.fusion import dense_scores as fuse_dense
from tripsearch.search.grounding import grounding_boost
from tripsearch.search.keyword import keyword_rows
from tripsearch.search.modes import SearchMode, rank_of

if TYPE_CHECKING:
    from tripsearch.store.opened import OpenedGeneration


class Ranked(NamedTuple):
    """The best passages of one query, best first: their hits, rows, passages (aligned lists), and every
    sentence row's cosine with the question (None for keyword; zeros outside the candidates past the graph)."""

    hits: list[Hit]
    rows: np.ndarray
    passages: list[Passage]
    sentence_sims: np.ndarray | None


def hit_from(passage: Passage, score: float, dense_rank: int | None = None, keyword_rank: int | None = None) -> Hit:
    """The ``Hit`` showing ``passage`` with its ``score`` and its 1-based ranks in the dense and BM25 lists."""
    meta = passage.post
    return Hit(
        passage_id=passage.id,
        text=passage.text,
        path=meta.path,
        post_title=meta.title,
        session_title=passage.session_title,
        heading_path=passage.heading_path,
        start_line=passage.start_line,
        end_line=passage.end_line,
        date=meta.date,
        authors=meta.authors,
        tags=meta.tags,
        url=meta.url,
        score=float(score),
        dense_rank=dense_rank,
        keyword_rank=keyword_rank,
        talks=passage.parts,
    )


def dense_scores(opened: OpenedGeneration, question_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dense score of every row: 0.3·passage cosine + 0.7·best-sentence cosine, ``search.fusion``; every
    sentence row's cosine). Shapes (n,), (sentences,)."""
    opened.exact_ready()
    passage_sims = opened.vectors @ question_vector
    sentence_sims = opened.sentences.similarities(question_vector)
    best = opened.sentences.best_per_passage(sentence_sims, passage_sims)
    return fuse_dense(passage_sims, best), sentence_sims


def keyword_scores(opened: OpenedGeneration, question: str) -> np.ndarray:
    """BM25 of every row (0 where no query word occurs), shape (n,), float32."""
    scores = np.zeros(len(opened.passages), dtype=np.float32)
    with opened.lock:
        for row, score in keyword_rows(opened.con, question, limit=len(opened.passages)):
            scores[row] = score
    return scores


def rank(
    opened: OpenedGeneration,
    query: str,
    k: int,
    mode: SearchMode,
    filters: Filters,
    vector: np.ndarray | None,
    embed: Callable[[str], np.ndarray],
    grounded_posts: Callable[[str], frozenset[str] | None],
) -> Ranked:
    """The ``k`` best rows of ``opened`` for ``query`` in ``mode`` among those ``filters`` let through.

    ``vector``: the question's unit vector if the caller has it, else ``embed`` makes it (only when the mode is
    dense or hybrid, and only when there is something to search). ``grounded_posts``: the posts the query names
    (``Index.grounded_posts``), asked only by modes that favour them."""
    rule = mode.rule
    nothing = Ranked([], np.zeros(0, dtype=np.int64), [], None)
    if not query.strip() or not opened.passages:
        return nothing
    allowed = filters.post_mask(opened.posts.ordered(), opened.post_of_row) if filters.active else None
    if allowed is not None and not allowed.any():
        return nothing
    if rule.dense and vector is None:
        vector = embed(query)
    if opened.candidates is not None:  # past ANN_MIN_ROWS: a few hundred candidates, scored as below
        scored = opened.candidates.score(query, mode, allowed, vector, k)
        rows, scores, dense, keyword, sentence_sims = (
            scored.rows,
            scored.scores,
            scored.dense,
            scored.keyword,
            scored.sentence_sims,
        )
    else:
        rows, scores, dense, keyword, sentence_sims = _exact_scores(opened, query, mode, allowed, vector)
    if rule.matches_only:
        scores = np.where(keyword > 0, keyword, -np.inf)
    if rule.ground is not None:
        boost = grounding_boost(grounded_posts(query), opened.posts.ordered(), opened.post_of_row, rows)
        scores = rule.ground(scores, boost, rows, dense)
    dense_rank = rank_of(rows, dense)
    keyword_rank = rank_of(rows, keyword, positive_only=True)
    order = [i for i in np.argsort(-scores, kind="stable")[:k] if np.isfinite(scores[i])]
    passages = opened.passages.fetch(rows[order])
    hits = [
        hit_from(passage, scores[i], dense_rank.get(int(rows[i])), keyword_rank.get(int(rows[i])))
        for i, passage in zip(order, passages)
    ]
    return Ranked(hits, rows[order], passages, sentence_sims)


def _exact_scores(
    opened: OpenedGeneration, query: str, mode: SearchMode, allowed: np.ndarray | None, vector: np.ndarray | None
):
    """(rows, scores, dense, keyword, sentence similarities) with every row that passes scored."""
    rule = mode.rule
    rows = np.flatnonzero(allowed) if allowed is not None else np.arange(len(opened.passages))
    dense = sentence_sims = keyword = None
    if rule.dense:
        dense, sentence_sims = dense_scores(opened, vector)
        dense = dense[rows]
    if rule.keyword:
        keyword = keyword_scores(opened, query)[rows]
    return rows, rule.fuse(rows, dense, keyword), dense, keyword, sentence_sims


def related(opened: OpenedGeneration, row: int, k: int) -> list[Hit]:
    """Up to ``k`` passages from other posts than ``row``'s, one per post, best first by passage cosine."""
    opened.exact_ready()
    sims = opened.vectors @ opened.vectors[row]
    return related_hits(opened.passages, opened.post_of_row, row, np.arange(len(sims)), sims, k)


def related_hits(passages, post_of_row: np.ndarray, row: int, near: np.ndarray, sims: np.ndarray, k: int) -> list[Hit]:
    """Up to ``k`` hits among the rows ``near`` (with their cosines ``sims`` to ``row``'s passage), one per post
    and none from ``row``'s own, best first. ``passages``: what fetches rows (``PassageRows``); every store's
    ``related`` ends here, whether it scored every row or asked its engine for candidates."""
    chosen, seen = [], {int(post_of_row[row])}
    for i in np.argsort(-sims, kind="stable"):
        post = int(post_of_row[near[i]])
        if post in seen:
            continue
        seen.add(post)
        chosen.append(int(i))
        if len(chosen) == k:
            break
    fetched = passages.fetch([int(near[i]) for i in chosen])
    return [
        hit_from(passage, float(sims[i]), dense_rank=rank)
        for rank, (i, passage) in enumerate(zip(chosen, fetched), start=1)
    ]


def unknown_words(opened: OpenedGeneration, words: list[str], dead: np.ndarray | None = None) -> list[str]:
    """The ``words`` that no passage of ``opened`` contains, in order, once each (``Index.unknown_words``).
    ``dead``: a bool per row of ``opened``'s FTS5 table (a base's tombstones): those rows do not count."""
    from tripsearch.search.terms import parts
    from tripsearch.store.database import fts_query

    def found(word: str) -> bool:
        query = fts_query([word])
        if query is None:
            return True
        rows = opened.con.execute("SELECT rowid FROM passages_fts WHERE passages_fts MATCH ?", (query,))
        return any(dead is None or not dead[row] for (row,) in rows)  # the cursor stops at the first live row

    def known(word: str) -> bool:
        pieces = parts(word)
        return found(word) or (bool(pieces) and all(found(p) for p in pieces))

    with opened.lock:
        return [word for word in dict.fromkeys(words) if not known(word)]


def talk_of(opened: OpenedGeneration, passage_id: str) -> tuple[tuple[str, int], int]:
    """(talk key, ordinal) of a passage (``Index.talk_of``, which says what the key is). Raises
    ``PassageNotFound``."""
    row = opened.row_of(passage_id)
    passage = first = opened.passages[row]
    while row > 0:
        (before,) = opened.passages.fetch([row - 1])
        same = before.post.path == first.post.path and before.heading_path == first.heading_path
        if not (same and before.ordinal + 1 == first.ordinal):
            break
        first, row = before, row - 1
    return (passage.post.path, first.ordinal), passage.ordinal
