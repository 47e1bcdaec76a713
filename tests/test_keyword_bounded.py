"""Issue 13: keyword search past a size scores only the question's rarest terms (``search.keyword.keyword_top``
with ``postings``), so that FTS5 never scores every passage a common word matches.

A real SQLite/FTS5 database written by ``write_database``, with words of known document frequency: ``zebra`` in
3 passages, ``harbour`` in 12, ``cloud`` in all 60 (and ``lantern`` in none). Then the candidate path over the
sample corpus built with the ANN graph, with the budget lowered so that it bounds something there.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from tripsearch import Index
from tripsearch.records import Passage, PostMeta
from tripsearch.search import candidates, keyword
from tripsearch.search.filters import Filters
from tripsearch.search.keyword import WEIGHTS, keyword_top, rare_expressions
from tripsearch.store.database import (
    FileState,
    StoredPost,
    fts_query,
    keyword_search_with_stats,
    match_count,
    open_database,
    write_database,
)

N = 60
RARE, MEDIUM, COMMON = "zebra", "harbour", "cloud"


def _text(i: int) -> str:
    # every row a different length, so that no two BM25 scores tie and the order is one
    words = [f"cloud notes number {i}, about deployments and budgets.", " ".join(f"w{j}" for j in range(i))]
    if i % 5 == 0:  # 12 rows
        words.append("The harbour team spoke" + " of the harbour" * (i % 3))
    if i in (7, 20, 41):
        words.append("A zebra crossing" + " and a zebra" * (i % 2))
    return " ".join(words)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("bounded") / "passages.sqlite"
    meta = PostMeta("p.md", "Field notes", dt.date(2020, 5, 1), ("A",), ("t",), "", None, None)
    passages = [Passage(f"p.md#{i}", meta, "Talk", ("Talk",), i, 1, 2, _text(i), f"h{i}", ()) for i in range(N)]
    write_database(path, [StoredPost(meta, FileState("x", 1, 1))], passages, [])
    con = open_database(path)
    yield con
    con.close()


QUESTION = f"{RARE} {MEDIUM} {COMMON} lantern"


def test_match_count_stops_at_its_cap(db):
    assert match_count(db, f'"{RARE}"', 100) == 3
    assert match_count(db, f'"{MEDIUM}"', 100) == 12
    assert match_count(db, f'"{COMMON}"', 100) == N
    assert match_count(db, f'"{COMMON}"', 10) == 10


def test_a_budget_that_holds_every_match_gives_the_exact_result(db):
    exact = keyword_search_with_stats(db, fts_query([RARE, MEDIUM, COMMON, "lantern"]), WEIGHTS, 10)
    assert exact[1] == N  # cloud is everywhere
    for postings in (N + 15, 10_000):
        top, count, total, squares = keyword_top(db, QUESTION, 10, postings)
        assert count == exact[1] and np.isclose(total, exact[2]) and np.isclose(squares, exact[3])
        assert [r for r, _ in top] == [r for r, _ in exact[0]]
        assert np.allclose([s for _, s in top], [s for _, s in exact[0]])
    assert keyword_top(db, QUESTION, 10) == exact  # no budget: today's exact path itself


def test_a_small_budget_drops_the_common_term_and_scores_the_rare_ones_exactly(db):
    assert rare_expressions(db, [f'"{w}"' for w in (COMMON, MEDIUM, "lantern", RARE)], 20) == [
        f'"{MEDIUM}"',
        '"lantern"',
        f'"{RARE}"',
    ]
    top, count, total, squares = keyword_top(db, QUESTION, 100, 20)
    partial = keyword_search_with_stats(db, fts_query([RARE, MEDIUM]), WEIGHTS, 100)
    assert count == 3 + 12 - 1 <= 20  # row 20 has both words
    assert (count, total, squares) == pytest.approx(partial[1:])
    assert [r for r, _ in top] == [r for r, _ in partial[0]]
    # BM25 is a sum over phrases, each with its own IDF: the bounded score is the full score less cloud's share.
    full = dict(keyword_search_with_stats(db, fts_query([RARE, MEDIUM, COMMON]), WEIGHTS, N)[0])
    cloud = dict(keyword_search_with_stats(db, fts_query([COMMON]), WEIGHTS, N)[0])
    for row, score in top:
        assert score == pytest.approx(full[row] - cloud[row], rel=1e-9)
    # a budget below the medium word keeps only the rare one; below the rare one, nothing is scored
    assert {r for r, _ in keyword_top(db, QUESTION, 100, 11)[0]} == {7, 20, 41}
    assert keyword_top(db, QUESTION, 100, 2) == ([], 0, 0.0, 0.0)


# --------------------------------------------------------------------------------- the candidate path
@pytest.fixture(scope="module")
def ann_index(ann_sample_index_dir):
    idx = Index.open(ann_sample_index_dir)
    yield idx
    idx.close()


def _commonest_and_rarest(idx: Index) -> tuple[str, str, int]:
    """Two words of the sample: one in many passages, one in a single passage; and the first one's count."""
    con = idx._opened.con
    words = [w.lower() for p in idx.passages for w in p.text.split()]
    vocabulary = [w for w in words if w.isalpha() and len(w) > 5 and w not in keyword.STOPWORDS]
    counts = {w: match_count(con, f'"{w}"', 10_000) for w in dict.fromkeys(vocabulary)}
    common = max(counts, key=counts.get)
    rare = next(w for w, c in counts.items() if c == 1)
    return common, rare, counts[common]


def test_candidate_path_scores_only_the_rare_term_under_a_small_budget(ann_index, monkeypatch):
    common, rare, many = _commonest_and_rarest(ann_index)
    assert many >= 4
    store = ann_index._opened.store
    both = store.keyword_top(f"{common} {rare}", 50)
    assert both.count == match_count(ann_index._opened.con, f'"{common}" OR "{rare}"', 10_000)  # exact: all fit
    monkeypatch.setattr(keyword, "KEYWORD_POSTINGS", many - 1)
    bounded = store.keyword_top(f"{common} {rare}", 50)
    assert bounded.count == 1 and len(bounded.rows) == 1
    monkeypatch.setattr(keyword, "KEYWORD_POSTINGS", 0)
    hits = ann_index.scored_passages(f"{common} {rare}", 5, None, "hybrid")
    assert len(hits) == 5  # no keyword evidence within the budget: the dense side still answers


def test_filtered_keyword_on_the_candidate_path_returns_only_allowed_rows(ann_index, monkeypatch):
    common, rare, many = _commonest_and_rarest(ann_index)
    monkeypatch.setattr(keyword, "KEYWORD_POSTINGS", many)
    monkeypatch.setattr(candidates, "EXACT_SUBSET", 0)
    posts = sorted({p.post.path for p in ann_index.passages})
    for post in posts[:3]:
        filters = Filters.of(post=post)
        for mode in ("keyword", "hybrid"):
            hits = [s.hit for s in ann_index.scored_passages(common, 5, filters, mode)]
            assert all(h.path == post for h in hits), (post, mode)
        allowed = {i for i, p in enumerate(ann_index.passages) if p.post.path == post}
        expected = {r for r, _ in ann_index._opened.store.keyword_top(common, 10_000).rows} & allowed
        found = {ann_index.row_of(s.hit.passage_id) for s in ann_index.scored_passages(common, 50, filters, "keyword")}
        assert found == expected, post
