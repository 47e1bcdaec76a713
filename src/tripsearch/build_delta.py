"""The build's side of two-segment generations (``store.segments``): an update that costs the change.

``DeltaBase`` is what an update knows of the live generation without reading its passages or vectors: the
posts table of the base, and the whole (small) delta. ``build.scan`` asks it for a post's passages only when
the post moves into the delta (touched: same bytes, new mtime). ``write_delta`` writes the new generation:
the base files hard-linked from the live one (``generations.link_or_copy``), the delta (every post whose
live version is not the base's, with its passages and vectors), the tombstones, a manifest; publishing is
``generations.publish`` as for a full build. ``load_all`` reads a generation of either shape in full, for a
full build that reuses its vectors (the merge).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tripsearch.errors import BadInput
from tripsearch.records import Passage, PostMeta
from tripsearch.store import generations as gen
from tripsearch.store.ann import ANN_FILE, SENTENCE_ANN_FILE
from tripsearch.store.database import (
    DB_FILE,
    FileState,
    StoredPost,
    check_database_file,
    fts_version,
    load_passage_rows,
    load_passages,
    load_post,
    load_posts,
    load_skipped,
    open_database,
    row_columns,
    write_database,
)
from tripsearch.store.segments import (
    DELTA_DB,
    DELTA_SENTENCES,
    DELTA_VECTORS,
    HIDDEN_TABLE,
    TOMBSTONES,
    read_tombstones,
)
from tripsearch.store.vectors import SENTENCES_FILE, VECTORS_FILE, all_vectors, map_vectors, read_vectors, write_vectors

if TYPE_CHECKING:
    from tripsearch.build import Plan

BASE_FILES = (DB_FILE, VECTORS_FILE, SENTENCES_FILE, ANN_FILE, SENTENCE_ANN_FILE)
# Below this many base rows an update rewrites the whole generation as before: one segment keeps every search
# on the exact path (the real corpus, 2376 passages, stays byte-for-byte what a full build makes). Past it a
# rewrite costs seconds to minutes (benchmarks/scale.py: 18 s at 10k, 189 s at 100k) and a delta is written.
SEGMENT_MIN_ROWS = 5_000
# When the delta's rows plus the tombstones pass this share of the base, the update merges (writes one segment
# again): the delta is scored without a graph and each segment's BM25 has its own statistics, so it must stay
# small. 10% keeps a delta of 1M passages at 100k rows, whose exact dense scan is ~40 ms (scale.py, 10k: 42 ms).
MERGE_SHARE = 0.10


def segment_min_rows() -> int:
    """``SEGMENT_MIN_ROWS``, or ``TRIPSEARCH_SEGMENT_MIN_ROWS`` from the environment (tests, some of which kill
    a separate process, use it to get a delta on a small corpus)."""
    return _setting("TRIPSEARCH_SEGMENT_MIN_ROWS", SEGMENT_MIN_ROWS, int)


def merge_share() -> float:
    """``MERGE_SHARE``, or ``TRIPSEARCH_MERGE_SHARE`` from the environment (as ``segment_min_rows``)."""
    return _setting("TRIPSEARCH_MERGE_SHARE", MERGE_SHARE, float)


def _setting(name: str, default, kind):
    """``kind`` of the environment variable ``name``, or ``default`` when it is unset. Raises ``BadInput`` naming
    the variable and its value when it is not a number of that kind (rather than a traceback mid-build)."""
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        raise BadInput(f"{name}={value!r} is not {'a whole number' if kind is int else 'a number'}") from None


def base_rows(manifest: gen.Manifest) -> int:
    return int(manifest.segments.get("base_rows", manifest.counts.get("passages", 0)))


class BasePost:
    """A post of the base as a delta update needs it: ``path``, ``size`` and ``mtime_ns`` at once, ``state``
    (``FileState``) and ``meta`` (read from the base by the post's primary key) on first use. The scan compares
    every post's size and mtime but keeps almost every post as it is (a kept base post is not written again),
    and building a ``StoredPost`` for each (two JSON lists and a date per post, ``load_posts``) cost 38 ms for
    1,232 posts here; for the 122,821 posts of a million passages, frozen ``FileState``s alone took 0.59-0.78 s
    and these 0.41-0.52 s (load ~5). Stands in for a ``StoredPost`` (the base's connection must still be open)."""

    __slots__ = ("path", "size", "mtime_ns", "_source_hash", "_con", "_meta")

    def __init__(self, path: str, source_hash: str, size: int, mtime_ns: int, con: sqlite3.Connection):
        self.path, self._source_hash, self.size, self.mtime_ns, self._con = path, source_hash, size, mtime_ns, con
        self._meta: PostMeta | None = None

    @property
    def state(self) -> FileState:
        return FileState(self._source_hash, self.size, self.mtime_ns)

    @property
    def meta(self) -> PostMeta:
        if self._meta is None:
            self._meta = load_post(self._con, self.path).meta
        return self._meta


def same_file(post, size: int, mtime_ns: int) -> bool:
    """Whether a stored post (``StoredPost`` or ``BasePost``) was indexed from a file of this size and mtime."""
    state = post if isinstance(post, BasePost) else post.state  # a BasePost holds both itself: no FileState made
    return state.size == size and state.mtime_ns == mtime_ns


def _base_posts(con: sqlite3.Connection) -> dict[str, BasePost]:
    """Every post of a base by path, in rowid order (as ``load_posts``), metadata left unread (``BasePost``)."""
    rows = con.execute("SELECT path, source_hash, size, mtime_ns FROM posts ORDER BY rowid")
    return {row[0]: BasePost(*row, con) for row in rows}


def _hidden(con: sqlite3.Connection) -> set[str]:
    return {path for (path,) in con.execute(f"SELECT path FROM {HIDDEN_TABLE}")}


class DeltaBase:
    """The live generation as a delta update sees it. ``posts``: every visible post (path → ``StoredPost``;
    a ``BasePost`` for a post of the base); ``delta_passages``: the live delta's passages by post;
    ``vectors_by_hash``/``sentence_vectors_by_hash``: the live delta's vectors. ``kept_in_base`` fills as
    ``build.scan`` keeps base posts unchanged."""

    def __init__(self, live: Path, manifest: gen.Manifest):
        """Raises ``IndexCorrupt`` when a file of ``live`` is damaged (headers and sizes checked, as at open)."""
        self.live, self.manifest = live, manifest
        try:
            check_database_file(live / DB_FILE)
            map_vectors(live / VECTORS_FILE, manifest.dim)
            map_vectors(live / SENTENCES_FILE, manifest.dim)
            self.con = open_database(live / DB_FILE)
        except (OSError, ValueError, sqlite3.Error) as exc:
            raise gen.IndexCorrupt(f"{live}: unreadable ({exc})") from None
        self.base_posts = _base_posts(self.con)
        self.fts_version = fts_version(self.con)
        self.kept_in_base: set[str] = set()
        self.delta_passages: dict[str, list[Passage]] = {}
        self.vectors_by_hash: dict[str, np.ndarray] = {}
        self.sentence_vectors_by_hash: dict[str, np.ndarray] = {}
        hidden: set[str] = set()
        delta_posts: dict[str, StoredPost] = {}
        self.skipped = load_skipped(self.con)
        if manifest.segments:
            try:
                con = open_database(live / DELTA_DB)
                try:
                    hidden, delta_posts, self.skipped = _hidden(con), load_posts(con), load_skipped(con)
                    passages = load_passages(con, delta_posts)
                    self.fts_version = min(self.fts_version, fts_version(con))
                finally:
                    con.close()
                vectors = all_vectors(read_vectors(live / DELTA_VECTORS, manifest.dim))
                sentences = all_vectors(read_vectors(live / DELTA_SENTENCES, manifest.dim))
                read_tombstones(live / TOMBSTONES, base_rows(manifest), int(manifest.segments.get("tombstoned", -1)))
                self._remember(passages, vectors, sentences)
            except (OSError, ValueError, sqlite3.Error, IndexError) as exc:
                self.con.close()
                raise gen.IndexCorrupt(f"{live}: unreadable delta ({exc})") from None
        self.in_delta = set(delta_posts)
        self.posts = {p: s for p, s in self.base_posts.items() if p not in hidden} | delta_posts
        self._maps = None
        self._columns: tuple[np.ndarray, np.ndarray] | None = None
        self._tombstones: tuple[int, np.ndarray, list[str]] | None = None

    def _remember(self, passages: list[Passage], vectors: np.ndarray, sentences: np.ndarray) -> None:
        first = 0
        for row, passage in enumerate(passages):
            self.delta_passages.setdefault(passage.post.path, []).append(passage)
            self.vectors_by_hash[passage.content_hash] = np.asarray(vectors[row])
            end = first + len(passage.sentences)
            self.sentence_vectors_by_hash[passage.content_hash] = np.asarray(sentences[first:end])
            first = end

    def passages_of(self, path: str, moving: bool) -> list[Passage]:
        """The passages the new delta holds for the live version of ``path``: a delta post's own; none for a
        base post kept as it is (it stays in the base); a base post that ``moving`` into the delta (its file
        state changed, not its text) brings its passages and vectors, read by row from the base."""
        if path in self.in_delta:
            return self.delta_passages.get(path, [])
        if not moving:
            self.kept_in_base.add(path)
            return []
        return self.read_base(path)

    def read_base(self, path: str) -> list[Passage]:
        """The base's passages of ``path`` (a few rows, by the post_path index), their vectors remembered by
        content hash: a post moving into the delta keeps them, an edited one re-embeds only what changed."""
        if path in self.in_delta or path not in self.base_posts:
            return []
        rows = [r for (r,) in self.con.execute("SELECT row FROM passages WHERE post_path = ? ORDER BY row", (path,))]
        found = load_passage_rows(self.con, rows, lambda p: self.base_posts[p].meta)
        passages = [found[r] for r in rows]
        if self._maps is None:
            counts, _ = self.row_columns()
            self._maps = (
                map_vectors(self.live / VECTORS_FILE, self.manifest.dim),
                map_vectors(self.live / SENTENCES_FILE, self.manifest.dim),
                np.cumsum(counts) - counts,
            )
        vectors, sentences, starts = self._maps
        for row, passage in zip(rows, passages):
            self.vectors_by_hash[passage.content_hash] = np.array(vectors[row])
            self.sentence_vectors_by_hash[passage.content_hash] = np.array(
                sentences[starts[row] : starts[row] + len(passage.sentences)]
            )
        return passages

    def row_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """``store.database.row_columns`` of the base, read once (the planning and the writing both need it)."""
        if self._columns is None:
            self._columns = row_columns(self.con)
        return self._columns

    def tombstones(self) -> tuple[np.ndarray, list[str]]:
        """(a bool per base row: its post is not kept in the base; the base posts hidden), after the scan.
        Worked out once per state of ``kept_in_base`` (which only grows): the update asks before and while
        writing."""
        if self._tombstones is None or self._tombstones[0] != len(self.kept_in_base):
            paths = list(self.base_posts)
            hidden = [p for p in paths if p not in self.kept_in_base]
            _, post_of_row = self.row_columns()
            hidden_index = np.array([i for i, p in enumerate(paths) if p not in self.kept_in_base], dtype=np.int64)
            self._tombstones = (len(self.kept_in_base), np.isin(post_of_row, hidden_index), hidden)
        return self._tombstones[1], list(self._tombstones[2])

    def worth_it(self, delta_rows: int, dead: np.ndarray) -> bool:
        """Whether a delta of ``delta_rows`` rows with ``dead`` tombstones stays under ``MERGE_SHARE``."""
        return delta_rows + int(dead.sum()) <= merge_share() * len(dead)

    def close(self) -> None:
        self.con.close()


def load_all(live: Path, manifest: gen.Manifest, with_vectors: bool):
    """(posts by path, passages in row order, vectors, sentence vectors, skipped files, FTS version) of a
    generation of either shape; the vectors are None unless ``with_vectors``. Reads everything: a full build."""
    con = open_database(live / DB_FILE)
    try:
        posts = load_posts(con)
        passages = load_passages(con, posts)
        skipped = load_skipped(con)
        keyword_version = fts_version(con)
    finally:
        con.close()
    vectors = sentences = None
    if with_vectors:
        vectors = all_vectors(read_vectors(live / VECTORS_FILE, manifest.dim))
        sentences = all_vectors(read_vectors(live / SENTENCES_FILE, manifest.dim))
    if not manifest.segments:
        return posts, passages, vectors, sentences, skipped, keyword_version
    parts = manifest.segments
    dead = read_tombstones(live / TOMBSTONES, len(passages), int(parts.get("tombstoned", -1)))
    con = open_database(live / DELTA_DB)
    try:
        hidden = _hidden(con)
        delta_posts = load_posts(con)
        delta_passages = load_passages(con, delta_posts)
        skipped = load_skipped(con)
        keyword_version = min(keyword_version, fts_version(con))
    finally:
        con.close()
    counts = np.array([len(p.sentences) for p in passages], dtype=np.int64)
    keep_sentences = np.repeat(~dead, counts)
    posts = {p: s for p, s in posts.items() if p not in hidden} | delta_posts
    passages = [p for p, gone in zip(passages, dead) if not gone] + delta_passages
    if with_vectors:
        delta_vectors = all_vectors(read_vectors(live / DELTA_VECTORS, manifest.dim))
        delta_sentences = all_vectors(read_vectors(live / DELTA_SENTENCES, manifest.dim))
        vectors = np.concatenate([vectors[~dead], delta_vectors])
        sentences = np.concatenate([sentences[keep_sentences], delta_sentences])
    return posts, passages, vectors, sentences, skipped, keyword_version


def write_delta(building: Path, plan: Plan, delta: DeltaBase, vectors: np.ndarray, sentence_vectors: np.ndarray):
    """Write the delta generation's files into ``building``: base files linked, the delta's database and vector
    files, the tombstones. Returns (files → known checksum or "" for ``publish``, the manifest's ``segments``)."""
    live = delta.live
    files: dict[str, str] = {}
    for name in BASE_FILES:
        if name in delta.manifest.files:
            linked = gen.link_or_copy(live / name, building / name)
            files[name] = delta.manifest.files[name] if linked else ""
    dead, hidden = delta.tombstones()
    kept = delta.kept_in_base  # a kept base post stays in the base: not written, its metadata never read
    stored = [s for s in plan.stored if (s.path if isinstance(s, BasePost) else s.meta.path) not in kept]
    write_database(building / DELTA_DB, stored, plan.passages, plan.failed)
    con = sqlite3.connect(building / DELTA_DB)
    try:
        con.execute(f"CREATE TABLE {HIDDEN_TABLE}(path TEXT PRIMARY KEY)")
        con.executemany(f"INSERT INTO {HIDDEN_TABLE} VALUES (?)", [(p,) for p in hidden])
        con.commit()
    finally:
        con.close()
    write_vectors(building / DELTA_VECTORS, vectors)
    write_vectors(building / DELTA_SENTENCES, sentence_vectors)
    np.save(building / TOMBSTONES, dead, allow_pickle=False)
    files.update(dict.fromkeys((DELTA_DB, DELTA_VECTORS, DELTA_SENTENCES, TOMBSTONES), ""))
    segments = {"base_rows": len(dead), "delta_rows": len(plan.passages), "tombstoned": int(dead.sum())}
    return files, segments
