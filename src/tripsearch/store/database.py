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
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA)
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
                for row, p in enumerate(passages)
            ],
        )
        con.executemany(
            "INSERT INTO passages_fts(rowid, post, heading, text) VALUES (?,?,?,?)",
            [
                (row, fts_text(_post_terms(p.post)), fts_text(" ".join(p.heading_path)), fts_text(p.text))
                for row, p in enumerate(passages)
            ],
        )
        con.execute(f"PRAGMA user_version = {FTS_VERSION}")
        con.executemany("INSERT INTO skipped VALUES (?,?)", [(s.path, s.reason) for s in skipped])
        con.commit()
    finally:
        con.close()


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


def load_posts(con: sqlite3.Connection) -> dict[str, StoredPost]:
    posts = {}
    for row in con.execute("SELECT * FROM posts"):
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
        posts[path] = StoredPost(meta, FileState(source_hash, size, mtime_ns))
    return posts


def load_passages(con: sqlite3.Connection, posts: dict[str, StoredPost]) -> list[Passage]:
    """Every passage, in row order. An index from before ``parts`` (chunker 4) loads with none."""
    columns = {row[1] for row in con.execute("PRAGMA table_info(passages)")}
    parts_column = "parts" if "parts" in columns else "'[]'"
    return [
        Passage(
            id=pid,
            post=posts[post_path].meta,
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
        for (
            row,
            pid,
            post_path,
            ordinal,
            session_title,
            heading_path,
            start_line,
            end_line,
            text,
            content_hash,
            sentences,
            parts,
        ) in con.execute(
            "SELECT row, id, post_path, ordinal, session_title, heading_path, start_line, end_line, text, "
            f"content_hash, sentences, {parts_column} FROM passages ORDER BY row"
        )
    ]


def load_skipped(con: sqlite3.Connection) -> list[SkippedFile]:
    return [SkippedFile(path, reason) for path, reason in con.execute("SELECT path, reason FROM skipped ORDER BY path")]


def fts_query(terms: list[str]) -> str | None:
    """An FTS5 query that matches any of the terms (words, symbol-bearing terms, CJK bigrams, phrases); every
    token is quoted by ``terms.term_expression``, so no user text is FTS syntax. None when nothing is searchable."""
    expressions = [e for e in map(term_expression, dict.fromkeys(terms)) if e]
    return " OR ".join(dict.fromkeys(expressions)) if expressions else None


def keyword_search(
    con: sqlite3.Connection, query: str, weights: tuple[float, float, float], limit: int
) -> list[tuple[int, float]]:
    """(row, score) best first; score is BM25 negated so that higher is better."""
    sql = (
        "SELECT rowid, -bm25(passages_fts, ?, ?, ?) AS score FROM passages_fts "
        "WHERE passages_fts MATCH ? ORDER BY score DESC LIMIT ?"
    )
    return [(int(r), float(s)) for r, s in con.execute(sql, (*weights, query, limit))]
