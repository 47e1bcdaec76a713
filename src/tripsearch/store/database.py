"""Posts, passages and an FTS5 keyword index in one SQLite file per generation.

Rows of ``passages`` are numbered 0…n-1 in the same order as the FAISS vectors, and the FTS5 table is
contentless with rowid = that row, so one number joins all three.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tripsearch.records import Passage, PassagePart, PostMeta, SentenceSpan, SkippedFile
from tripsearch.search.terms import fts_text, term_expression

DB_FILE = "passages.sqlite"
# What the FTS rows hold (search/terms.py), kept in the file's PRAGMA user_version. A build that finds another
# value rewrites the database from the stored passages (no re-embedding). 0: raw text (before CJK bigrams and
# symbol-bearing terms); 1: terms.fts_text.
FTS_VERSION = 1

SCHEMA = """
CREATE TABLE posts(
    path TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, authors TEXT NOT NULL, tags TEXT NOT NULL,
    description TEXT NOT NULL, url TEXT, slug TEXT, language TEXT NOT NULL, draft INTEGER NOT NULL,
    source_hash TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL
);
CREATE TABLE passages(
    row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, post_path TEXT NOT NULL REFERENCES posts(path),
    ordinal INTEGER NOT NULL, session_title TEXT NOT NULL, heading_path TEXT NOT NULL,
    start_line INTEGER NOT NULL, end_line INTEGER NOT NULL, text TEXT NOT NULL, content_hash TEXT NOT NULL,
    sentences TEXT NOT NULL, parts TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX passages_post ON passages(post_path);
CREATE TABLE skipped(path TEXT PRIMARY KEY, reason TEXT NOT NULL);
-- What the post is (title, year, tags, description), the talk's heading path, and the text, as separate
-- columns so BM25 can weigh a match in a talk title apart from one in the prose. Each holds terms.fts_text of
-- its text (CJK bigrams, synthetic tokens for C++/node.js), not the text itself.
-- Compact per-row columns (name -> little-endian int32 array, one value per passage row), read at open in one
-- go instead of scanning the passages: sentence_counts (prose sentences of the row, in sentences.faiss order),
-- post_of_row (0-based position of the row's post in the posts table's rowid order). Indexes from before
-- this table compute them from the passages (``row_columns``).
CREATE TABLE compact_columns(name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE VIRTUAL TABLE passages_fts USING fts5(
    post, heading, text, content='', tokenize='porter unicode61 remove_diacritics 2'
);
"""


@dataclass(frozen=True)
class FileState:
    """What we knew of a post file at the last build: enough to skip reading it again."""

    source_hash: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class StoredPost:
    meta: PostMeta
    state: FileState


def write_database(
    path: Path,
    posts: list[StoredPost],
    passages: list[Passage],
    skipped: list[SkippedFile],
) -> None:
    """Write a fresh database; ``passages`` are stored in row order 0…n-1."""
    con = create_database(path)
    try:
        position = insert_posts(con, posts)
        columns = insert_passages(con, 0, passages, position)
        finish_database(con, *columns, skipped)
    finally:
        con.close()


def create_database(path: Path) -> sqlite3.Connection:
    """A new database at ``path`` with the schema and nothing in it; fill it with ``insert_posts`` and
    ``insert_passages`` (in chunks, if need be: ``benchmarks/scale.py`` writes a million passages so), then
    ``finish_database``. ``write_database`` is the three at once."""
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    return con


def insert_posts(con: sqlite3.Connection, posts: list[StoredPost], first: int = 0) -> dict[str, int]:
    """Insert ``posts`` after ``first`` others; returns path → 0-based position in the table (its rowid order)."""
    con.executemany(
        "INSERT INTO posts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                p.meta.path,
                p.meta.title,
                p.meta.date.isoformat() if p.meta.date else None,
                json.dumps(p.meta.authors),
                json.dumps(p.meta.tags),
                p.meta.description,
                p.meta.url,
                p.meta.slug,
                p.meta.language,
                int(p.meta.draft),
                p.state.source_hash,
                p.state.size,
                p.state.mtime_ns,
            )
            for p in posts
        ],
    )
    return {p.meta.path: first + i for i, p in enumerate(posts)}


def insert_passages(
    con: sqlite3.Connection, first_row: int, passages: list[Passage], position: dict[str, int]
) -> tuple[list[int], list[int]]:
    """Insert ``passages`` as rows ``first_row``… (their text, and their terms in the FTS table); ``position``:
    post path → position (``insert_posts``). Returns their (sentence counts, post positions) for
    ``finish_database``."""
    rows = range(first_row, first_row + len(passages))
    con.executemany(
        "INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                row,
                p.id,
                p.post.path,
                p.ordinal,
                p.session_title,
                json.dumps(p.heading_path),
                p.start_line,
                p.end_line,
                p.text,
                p.content_hash,
                json.dumps(p.sentences),
                json.dumps([(list(part.heading_path), part.start_line, part.end_line) for part in p.parts]),
            )
            for row, p in zip(rows, passages)
        ],
    )
    con.executemany(
        "INSERT INTO passages_fts(rowid, post, heading, text) VALUES (?,?,?,?)",
        [
            (row, fts_text(_post_terms(p.post)), fts_text(" ".join(p.heading_path)), fts_text(p.text))
            for row, p in zip(rows, passages)
        ],
    )
    return [len(p.sentences) for p in passages], [position[p.post.path] for p in passages]


def finish_database(
    con: sqlite3.Connection, sentence_counts: list[int], post_of_row: list[int], skipped: list[SkippedFile]
) -> None:
    """Write the compact per-row columns of every row, the FTS version and the skipped files, and commit."""
    columns = {"sentence_counts": sentence_counts, "post_of_row": post_of_row}
    con.executemany(
        "INSERT INTO compact_columns VALUES (?,?)",
        [(name, np.asarray(values, dtype="<i4").tobytes()) for name, values in columns.items()],
    )
    con.execute(f"PRAGMA user_version = {FTS_VERSION}")
    con.executemany("INSERT INTO skipped VALUES (?,?)", [(s.path, s.reason) for s in skipped])
    con.commit()


def _post_terms(meta: PostMeta) -> str:
    year = str(meta.date.year) if meta.date else ""
    return " ".join([meta.title, year, " ".join(meta.tags), meta.description])


def fts_version(con: sqlite3.Connection) -> int:
    """What the FTS rows of this database hold (``FTS_VERSION`` of the code that wrote it)."""
    return int(con.execute("PRAGMA user_version").fetchone()[0])


def open_database(path: Path) -> sqlite3.Connection:
    """Read-only: a reader can never change a published generation."""
    con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    con.execute("SELECT count(*) FROM passages").fetchone()  # fail now, with a clear error, if it is broken
    return con


def _stored_post(row: tuple) -> StoredPost:
    (path, title, date, authors, tags, description, url, slug, language, draft, source_hash, size, mtime_ns) = row
    meta = PostMeta(
        path=path,
        title=title,
        date=dt.date.fromisoformat(date) if date else None,
        authors=tuple(json.loads(authors)),
        tags=tuple(json.loads(tags)),
        description=description,
        url=url,
        slug=slug,
        language=language,
        draft=bool(draft),
    )
    return StoredPost(meta, FileState(source_hash, size, mtime_ns))


def load_posts(con: sqlite3.Connection) -> dict[str, StoredPost]:
    """Every post by path, in the table's rowid order (the order ``post_of_row`` counts in)."""
    return {post.meta.path: post for post in map(_stored_post, con.execute("SELECT * FROM posts ORDER BY rowid"))}


def load_post(con: sqlite3.Connection, path: str) -> StoredPost | None:
    row = con.execute("SELECT * FROM posts WHERE path = ?", (path,)).fetchone()
    return _stored_post(row) if row else None


def _passage_sql(con: sqlite3.Connection) -> str:
    columns = {row[1] for row in con.execute("PRAGMA table_info(passages)")}
    parts_column = "parts" if "parts" in columns else "'[]'"  # an index from before ``parts`` (chunker 4)
    return (
        "SELECT row, id, post_path, ordinal, session_title, heading_path, start_line, end_line, text, "
        f"content_hash, sentences, {parts_column} FROM passages"
    )


def _passage(values: tuple, post_of) -> Passage:
    (_row, pid, post_path, ordinal, session_title, heading_path, start_line, end_line, text, content_hash) = values[:10]
    sentences, parts = values[10:]
    return Passage(
        id=pid,
        post=post_of(post_path),
        session_title=session_title,
        heading_path=tuple(json.loads(heading_path)),
        ordinal=ordinal,
        start_line=start_line,
        end_line=end_line,
        text=text,
        content_hash=content_hash,
        sentences=tuple(SentenceSpan(*span) for span in json.loads(sentences)),
        parts=tuple(PassagePart(tuple(path), first, last) for path, first, last in json.loads(parts)),
    )


def load_passages(con: sqlite3.Connection, posts: dict[str, StoredPost]) -> list[Passage]:
    """Every passage, in row order. An index from before ``parts`` (chunker 4) loads with none."""
    return [_passage(v, lambda path: posts[path].meta) for v in con.execute(_passage_sql(con) + " ORDER BY row")]


def load_passage_rows(con: sqlite3.Connection, rows: list[int], post_of) -> dict[int, Passage]:
    """row → ``Passage`` for the given rows only (a search's candidates); ``post_of(path)`` gives a PostMeta.
    Rows that are not there are missing from the result."""
    found: dict[int, Passage] = {}
    for lo in range(0, len(rows), 500):  # SQLite's default limit on host parameters is 999 (older builds)
        chunk = rows[lo : lo + 500]
        sql = _passage_sql(con) + f" WHERE row IN ({','.join('?' * len(chunk))})"
        for values in con.execute(sql, [int(r) for r in chunk]):
            found[int(values[0])] = _passage(values, post_of)
    return found


def passage_count(con: sqlite3.Connection) -> int:
    return int(con.execute("SELECT count(*) FROM passages").fetchone()[0])


def row_of_id(con: sqlite3.Connection, passage_id: str) -> int | None:
    found = con.execute("SELECT row FROM passages WHERE id = ?", (passage_id,)).fetchone()
    return int(found[0]) if found else None


def row_columns(con: sqlite3.Connection) -> tuple[np.ndarray, np.ndarray]:
    """(sentence count per row, post position per row), int64 arrays of length n, from the ``columns``
    table (one read of a few bytes per row), or, for an index from before it, from a scan of the passages."""
    has_table = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'compact_columns'").fetchone()
    if has_table:
        data = dict(con.execute("SELECT name, data FROM compact_columns"))
        return tuple(np.frombuffer(data[n], dtype="<i4").astype(np.int64) for n in ("sentence_counts", "post_of_row"))
    position = {path: i for i, (path,) in enumerate(con.execute("SELECT path FROM posts ORDER BY rowid"))}
    counts, posts = [], []
    for sentences, path in con.execute("SELECT json_array_length(sentences), post_path FROM passages ORDER BY row"):
        counts.append(sentences)
        posts.append(position[path])
    return np.asarray(counts, dtype=np.int64), np.asarray(posts, dtype=np.int64)


def check_database_file(path: Path) -> None:
    """Cheap integrity check of a SQLite file: its header, and a size that is exactly the page count the
    header records times the page size (catches truncation and appended bytes without reading the file).
    Raises ``ValueError`` naming the file. File format: https://www.sqlite.org/fileformat.html §1.3."""
    with open(path, "rb") as fh:
        head = fh.read(100)
        size = fh.seek(0, 2)
    if len(head) < 100 or head[:16] != b"SQLite format 3\x00":
        raise ValueError(f"{path}: unreadable (not a SQLite database)")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    valid_for, change_counter = head[92:96], head[24:28]
    if valid_for == change_counter and pages and size != pages * page_size:
        raise ValueError(f"{path}: unreadable ({size} bytes where the header says {pages} pages of {page_size})")


def load_skipped(con: sqlite3.Connection) -> list[SkippedFile]:
    return [SkippedFile(path, reason) for path, reason in con.execute("SELECT path, reason FROM skipped ORDER BY path")]


def fts_expressions(terms: list[str]) -> list[str]:
    """One FTS5 expression per distinct term (``terms.term_expression``), in order, without repeats."""
    return list(dict.fromkeys(e for e in map(term_expression, dict.fromkeys(terms)) if e))


def fts_query(terms: list[str]) -> str | None:
    """An FTS5 query that matches any of the terms (words, symbol-bearing terms, CJK bigrams, phrases); every
    token is quoted by ``terms.term_expression``, so no user text is FTS syntax. None when nothing is searchable."""
    expressions = fts_expressions(terms)
    return " OR ".join(expressions) if expressions else None


def match_count(con: sqlite3.Connection, expression: str, cap: int) -> int:
    """How many rows match the FTS5 ``expression``, counted up to ``cap`` (FTS5 stops there). Counting walks the
    term's doclist without scoring: about 0.1 µs a row here, where ``bm25()`` costs 1.5–15 µs a row
    (benchmarks/scale.py stores, measured in issue 13)."""
    sql = "SELECT count(*) FROM (SELECT 1 FROM passages_fts WHERE passages_fts MATCH ? LIMIT ?)"
    return int(con.execute(sql, (expression, cap)).fetchone()[0])


def keyword_search_all(
    con: sqlite3.Connection, query: str, weights: tuple[float, float, float], limit: int
) -> tuple[list[tuple[int, float]], int, float, float]:
    """What ``keyword_search_with_stats`` returns, from one statement that brings every match into Python: for
    a query known to match few rows (``search.keyword.keyword_top_bounded``), where one pass beats two. Ties
    keep rowid order (FTS5 returns matches by ascending rowid; the sort is stable)."""
    sql = "SELECT rowid, -bm25(passages_fts, ?, ?, ?) FROM passages_fts WHERE passages_fts MATCH ?"
    found = con.execute(sql, (*weights, query)).fetchall()
    if not found:
        return [], 0, 0.0, 0.0
    scores = np.fromiter((s for _, s in found), dtype=np.float64, count=len(found))
    order = np.argsort(-scores, kind="stable")[:limit]
    top = [(int(found[i][0]), float(scores[i])) for i in order]
    return top, len(found), float(scores.sum()), float(np.dot(scores, scores))


def keyword_search(
    con: sqlite3.Connection, query: str, weights: tuple[float, float, float], limit: int
) -> list[tuple[int, float]]:
    """(row, score) best first; score is BM25 negated so that higher is better."""
    sql = (
        "SELECT rowid, -bm25(passages_fts, ?, ?, ?) AS score FROM passages_fts "
        "WHERE passages_fts MATCH ? ORDER BY score DESC LIMIT ?"
    )
    return [(int(r), float(s)) for r, s in con.execute(sql, (*weights, query, limit))]


def keyword_search_with_stats(
    con: sqlite3.Connection, query: str, weights: tuple[float, float, float], limit: int
) -> tuple[list[tuple[int, float]], int, float, float]:
    """(the ``limit`` best (row, score), and the count, sum and sum of squares of the scores of every matching
    row): what a z-score over all rows needs without bringing every match into Python. Two statements: the top
    rows through FTS5's bounded sorter, the aggregates without any sort (one statement with window aggregates
    sorted every match and was slower, benchmarks/scale.py at 100k)."""
    top = keyword_search(con, query, weights, limit)
    if not top:
        return [], 0, 0.0, 0.0
    sql = (  # MATERIALIZED: flattened into the aggregate, bm25() "cannot be used in the requested context"
        "WITH scored AS MATERIALIZED (SELECT -bm25(passages_fts, ?, ?, ?) AS score FROM passages_fts "
        "WHERE passages_fts MATCH ?) SELECT count(*), sum(score), sum(score * score) FROM scored"
    )
    count, total, squares = con.execute(sql, (*weights, query)).fetchone()
    return top, int(count), float(total or 0.0), float(squares or 0.0)
