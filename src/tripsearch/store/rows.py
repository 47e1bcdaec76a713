"""Passages and posts of one generation, read from its SQLite file by row when a search needs them.

Opening an index used to build a ``Passage`` for every row (6–7 s and most of 2.8 GB at 100k passages); a
search shows ``k`` of them and the answer stage reads a few dozen. ``PassageRows`` is the list-like view
(``len``, ``[row]``, slices, iteration) that fetches rows on demand and keeps the most recent ones; ``PostTable``
is the same for posts by path. Both share the index's one connection under its lock (the app's threads).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence

from tripsearch.records import Passage, PostMeta
from tripsearch.store.database import _passage, _passage_sql, load_passage_rows, load_post, load_posts

CACHE_ROWS = 4096  # passages kept after a fetch: an answer reads about 50 candidates, the app a page of hits
BATCH = 2000  # rows per query when iterating over every passage


class PostTable(Mapping[str, PostMeta]):
    """path → ``PostMeta``. A lookup reads one row; iterating (the app's facets) reads the table once."""

    def __init__(self, con: sqlite3.Connection, lock: threading.RLock):
        self._con, self._lock = con, lock
        self._one: dict[str, PostMeta] = {}
        self._all: list[PostMeta] | None = None

    def __getitem__(self, path: str) -> PostMeta:
        meta = self._one.get(path)
        if meta is None:
            with self._lock:
                stored = load_post(self._con, path)
            if stored is None:
                raise KeyError(path)
            meta = self._one[path] = stored.meta
        return meta

    def ordered(self) -> list[PostMeta]:
        """Every post in the table's rowid order: position i is what ``post_of_row`` calls post i."""
        if self._all is None:
            with self._lock:
                self._all = [stored.meta for stored in load_posts(self._con).values()]
            self._one.update((meta.path, meta) for meta in self._all)
        return self._all

    def __iter__(self) -> Iterator[str]:
        return (meta.path for meta in self.ordered())

    def __len__(self) -> int:
        return len(self.ordered())

    def __contains__(self, path: object) -> bool:
        try:
            self[path]  # type: ignore[index]
        except KeyError:
            return False
        return True


class FetchedRows(Sequence[Passage]):
    """A list-like view of passages by row that reads them with ``fetch(rows)`` (``len``, ``[row]`` with negative
    rows, slices): what the SQLite, segmented and Milvus views share; each says how it fetches and iterates."""

    def fetch(self, rows) -> list[Passage]:
        raise NotImplementedError

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self.fetch(range(*key.indices(len(self))))
        row = int(key)
        return self.fetch([row + len(self) if row < 0 else row])[0]


class PassageRows(FetchedRows):
    """The ``n`` passages of a generation in row order, fetched from SQLite when asked for."""

    def __init__(self, con: sqlite3.Connection, lock: threading.RLock, n: int, posts: PostTable):
        self._con, self._lock, self._n, self._posts = con, lock, n, posts
        self._cache: OrderedDict[int, Passage] = OrderedDict()

    def __len__(self) -> int:
        return self._n

    def fetch(self, rows) -> list[Passage]:
        """The passages of ``rows`` (ints in 0…n-1), in that order, with one query for those not cached.
        Raises ``IndexError`` for a row out of range."""
        rows = [int(r) for r in rows]
        for row in rows:
            if not 0 <= row < self._n:
                raise IndexError(f"passage row {row} out of range 0…{self._n - 1}")
        missing = [r for r in dict.fromkeys(rows) if r not in self._cache]
        if missing:
            with self._lock:
                found = load_passage_rows(self._con, missing, self._posts.__getitem__)
            for row in missing:
                self._cache[row] = found[row]
        out = []
        for row in rows:
            self._cache.move_to_end(row)
            out.append(self._cache[row])
        while len(self._cache) > max(CACHE_ROWS, len(rows)):
            self._cache.popitem(last=False)
        return out

    def __iter__(self) -> Iterator[Passage]:
        self._posts.ordered()  # every post in one query, not one per post
        sql = _passage_sql(self._con) + " WHERE row >= ? AND row < ? ORDER BY row"
        for lo in range(0, self._n, BATCH):
            with self._lock:
                values = self._con.execute(sql, (lo, lo + BATCH)).fetchall()
            yield from (_passage(v, self._posts.__getitem__) for v in values)


def heading_rows(con: sqlite3.Connection, lock: threading.RLock) -> list[tuple[str, tuple[str, ...]]]:
    """(post path, heading path) of every row of one database, in row order: two short columns, not the passages."""
    with lock:
        found = con.execute("SELECT post_path, heading_path FROM passages ORDER BY row").fetchall()
    return [(path, tuple(json.loads(heading))) for path, heading in found]


def talks_of(
    rows: Iterable[tuple[str, tuple[str, ...]]], posts: Mapping[str, PostMeta]
) -> tuple[list[PostMeta], list[tuple[str, tuple[str, ...]]]]:
    """From (post path, heading path) per row, in row order: (every post that has a row, in the order of its first
    row, as ``posts`` holds it; every distinct (post path, heading path) with a heading, in row order). What every
    generation's ``talks`` returns, whatever its rows are read from."""
    seen: dict[str, None] = {}
    talks: dict[tuple[str, tuple[str, ...]], None] = {}
    for path, heading in rows:
        seen.setdefault(path, None)
        if heading:
            talks.setdefault((path, heading), None)
    return [posts[path] for path in seen], list(talks)
