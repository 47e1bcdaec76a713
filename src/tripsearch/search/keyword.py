"""Keyword search: a question → FTS5 terms → BM25-ranked rows from SQLite."""

from __future__ import annotations

import sqlite3

from tripsearch.search.terms import bigrams, is_cjk, parts, split_quoted, words
from tripsearch.store.database import (
    fts_expressions,
    fts_query,
    keyword_search,
    keyword_search_all,
    keyword_search_with_stats,
    match_count,
)

# Words that carry no topic. BM25's IDF already discounts them; dropping them keeps the OR query short.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves say said says tell told talk talks thing things anyone someone
    der die das und ist ein eine nicht mit von zu den im""".split()
)

# Column weights for bm25(): post title, heading path, passage text.
WEIGHTS = (2.0, 2.0, 1.0)  # "at KubeCon 2019": the post column names the conference and year

# Past store.ann.ANN_MIN_ROWS: the most rows bm25() scores for one question (``keyword_top`` with ``postings``).
# FTS5 scores every row an OR query matches (1.5 µs a row on an idle core, 9 on this busy machine) and the dev
# questions' terms match a third of all passages, so a million passages would cost seconds. The rarest terms,
# whose matches fit this, are scored; commoner ones (IDF below about log(n / KEYWORD_POSTINGS)) are left to the
# dense side. Synthetic 100k (benchmarks/scale.py, 40 dev questions, medians): 5000 kept 4 of 9 terms and cost
# 10 ms of counting + 31 ms of scoring; 2000 kept 3 and cost 1.4 + 11 ms.
KEYWORD_POSTINGS = 2000


def query_terms(question: str) -> list[str]:
    """The question's search terms: each quoted phrase whole ("tail sampling"), then its other content words
    lower-cased, symbol-bearing terms kept whole (``c++``, ``node.js``, ``service-47``) and CJK runs as their
    overlapping bigrams (``告警``, ``警数``, ``数量``). NFC throughout. ``fts_query`` turns them into FTS5.

    An unquoted identifier is followed by its parts (``node.js``, node, js): text may write ``Node JS``, and
    dropping the parts cost recall on our dev questions; the whole term still ranks exact matches first.
    Quote it to ask for it exactly. Hyphenated words (``multi-account``) are just their words, as before.
    """
    phrases, rest = split_quoted(question)
    found = []
    for word in words(rest):
        found.extend(bigrams(word) if is_cjk(word) else [word.lower(), *parts(word)])
    content = [w for w in found if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return phrases + (content or ([] if phrases else found))


def keyword_rows(con: sqlite3.Connection, question: str, limit: int) -> list[tuple[int, float]]:
    """(row, BM25 score) best first; empty when the question has no searchable word."""
    query = fts_query(query_terms(question))
    return keyword_search(con, query, WEIGHTS, limit) if query else []


def keyword_top(
    con: sqlite3.Connection, question: str, limit: int, postings: int | None = None
) -> tuple[list[tuple[int, float]], int, float, float]:
    """The ``limit`` best (row, BM25) and (count, sum, sum of squares) of every match's score: what a z-score
    over all rows needs. Empty and zeros when the question has no searchable word.

    ``postings`` None: every term of the question, exactly (``store.database.keyword_search_with_stats``).
    Otherwise only the rarest terms whose matches add up to at most ``postings`` rows (``rare_expressions``) are
    scored, and the statistics are those of that score: BM25 is a sum over the query's phrases, each phrase's
    IDF from its own document frequency, so it is exactly the full score less the dropped terms' share. When
    every term fits, the result is the exact one (same rows, scores and statistics)."""
    terms = query_terms(question)
    if postings is None:
        query = fts_query(terms)
        return keyword_search_with_stats(con, query, WEIGHTS, limit) if query else ([], 0, 0.0, 0.0)
    chosen = rare_expressions(con, fts_expressions(terms), postings)
    return keyword_search_all(con, " OR ".join(chosen), WEIGHTS, limit) if chosen else ([], 0, 0.0, 0.0)


def rare_expressions(con: sqlite3.Connection, expressions: list[str], postings: int) -> list[str]:
    """The ``expressions`` (question order) that BM25 can score within ``postings`` rows: rarest first while
    their match counts add up to at most ``postings``. Each count stops at ``postings + 1`` (``match_count``), so
    a common term costs no more than a rare one to rule out. Rarest first is the order of BM25's IDF: the terms
    that weigh most per match are the ones kept (the idea of MaxScore, Turtle & Flood 1995: a common term alone
    cannot lift a passage into the top list)."""
    counts = {e: match_count(con, e, postings + 1) for e in expressions}
    chosen, used = set(), 0
    for expression in sorted(expressions, key=counts.__getitem__):  # stable: ties keep the question's order
        if used + counts[expression] > postings:
            break
        chosen.add(expression)
        used += counts[expression]
    return [e for e in expressions if e in chosen]
