"""``SegmentedGeneration``: a two-segment generation (``store.segments``) opened for reading, the counterpart of
``store.opened.OpenedGeneration`` that ``Index`` holds when the manifest names a delta.

Shaped like ``store.milvus_opened.MilvusGeneration``: every search goes through ``search.candidates`` over the
``SegmentedStore`` (the exact path of ``search.ranking`` reads one SQLite file, which a delta does not have),
and ``Index`` asks it for ``talks``, ``row_of``, ``talk_of``, ``unknown_words`` and ``related``.
"""

from __future__ import annotations

import functools
import itertools
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tripsearch.records import Hit, Passage, PostMeta
from tripsearch.search.candidates import CandidateSearch
from tripsearch.store import generations as gen
from tripsearch.store.ann import ANN_FILE
from tripsearch.store.database import DB_FILE
from tripsearch.store.rows import FetchedRows, heading_rows, talks_of
from tripsearch.store.seam import require_row
from tripsearch.store.segments import (
    DELTA_DB,
    DELTA_SENTENCES,
    DELTA_VECTORS,
    HIDDEN_TABLE,
    TOMBSTONES,
    CombinedPosts,
    Segment,
    SegmentedStore,
    read_tombstones,
)
from tripsearch.store.vectors import SENTENCES_FILE, VECTORS_FILE

RELATED_POOL = 50  # nearest passages looked at per related hit asked for (one per post is kept)


class SegmentedRows(FetchedRows):
    """Every visible passage in row order, fetched from the segment that holds it."""

    def __init__(self, store: SegmentedStore):
        self._store = store

    def __len__(self) -> int:
        return len(self._store)

    def fetch(self, rows) -> list[Passage]:
        return self._store.fetch(rows)

    def __iter__(self) -> Iterator[Passage]:
        dead = self._store.dead
        yield from (p for row, p in enumerate(self._store.base.passages) if not dead[row])
        yield from self._store.delta.passages


class SegmentedGeneration:
    """A two-segment generation, opened. Attributes as ``OpenedGeneration``'s that ``search.ranking`` and
    ``Index`` read: ``index_dir``, ``generation``, ``manifest``, ``posts``, ``passages``, ``post_of_row``,
    ``skipped``, ``sentences`` (counts and starts per row), ``store``, ``candidates``, ``understander``; and the
    lookups ``Index`` asks of a non-folder state: ``talks``, ``row_of``, ``talk_of``, ``unknown_words``,
    ``related``. Raises ``IndexCorrupt`` when a file is damaged or does not match the manifest."""

    def __init__(self, index_dir: Path, generation: Path, manifest: gen.Manifest):
        self.index_dir, self.generation, self.manifest = index_dir, generation, manifest
        base = Segment(generation, (DB_FILE, VECTORS_FILE, SENTENCES_FILE), manifest, ANN_FILE in manifest.files)
        delta = Segment(generation, (DELTA_DB, DELTA_VECTORS, DELTA_SENTENCES), manifest, ann=False)
        parts = manifest.segments
        if len(base) != parts.get("base_rows") or len(delta) != parts.get("delta_rows"):
            raise gen.IndexCorrupt(f"{generation / gen.MANIFEST}: segment sizes do not match the files")
        dead = read_tombstones(generation / TOMBSTONES, len(base), int(parts.get("tombstoned", -1)))
        try:
            with delta.lock:
                hidden = frozenset(path for (path,) in delta.con.execute(f"SELECT path FROM {HIDDEN_TABLE}"))
        except Exception as exc:
            raise gen.IndexCorrupt(f"{generation / DELTA_DB}: unreadable ({exc})") from None
        self.base, self.delta, self.hidden = base, delta, hidden
        self.posts = CombinedPosts(base.posts, delta.posts, hidden)
        self.store: SegmentedStore | None = SegmentedStore(base, delta, dead, self.posts, manifest.model_fingerprint)
        self.passages = SegmentedRows(self.store)
        self.skipped = delta.skipped  # the delta records the whole list of the update that wrote it
        self.sentences = self.store.matrix
        self.candidates: CandidateSearch | None = CandidateSearch(self.store, int(self.sentences.counts.sum()))
        self.understander = None

    @functools.cached_property
    def post_of_row(self) -> np.ndarray:
        """Each row's post number in ``posts.ordered()``."""
        visible = np.full(len(self.base.posts.ordered()), -1, dtype=np.int64)
        shown = [i for i, meta in enumerate(self.base.posts.ordered()) if meta.path not in self.hidden]
        visible[shown] = np.arange(len(shown))
        store = self.store
        return np.concatenate([visible[self.base.post_of_row[store.live_base]], self.delta.post_of_row + len(shown)])

    def talks(self) -> tuple[list[PostMeta], list[tuple[str, tuple[str, ...]]]]:
        """``OpenedGeneration.talks`` over both segments (hidden posts' rows left out)."""
        base = (row for row in heading_rows(self.base.con, self.base.lock) if row[0] not in self.hidden)
        return talks_of(itertools.chain(base, heading_rows(self.delta.con, self.delta.lock)), self.posts)

    def row_of(self, passage_id: str) -> int:
        return require_row(self.store, passage_id)

    def talk_of(self, passage_id: str) -> tuple[tuple[str, int], int]:
        from tripsearch.search.ranking import talk_of

        return talk_of(self, passage_id)  # reads only row_of and passages, which cover both segments

    def unknown_words(self, words: list[str]) -> list[str]:
        """``search.ranking.unknown_words``: a word is unknown when neither segment's FTS5 knows it, tombstoned
        base rows left out (a word only the replaced text held read as known, and `ask` answered for it)."""
        from tripsearch.search.ranking import unknown_words

        in_delta = set(unknown_words(types.SimpleNamespace(con=self.delta.con, lock=self.delta.lock), words))
        base = types.SimpleNamespace(con=self.base.con, lock=self.base.lock)
        return [word for word in unknown_words(base, words, self.store.dead) if word in in_delta]

    def related(self, row: int, k: int) -> list[Hit]:
        """``search.ranking.related`` among the ``RELATED_POOL``·k passages nearest to ``row``'s by passage cosine."""
        from tripsearch.search.ranking import related_hits

        store = self.store
        vector = store.vectors_of(np.array([row]))[0][0]
        near = store.dense_candidates(vector, RELATED_POOL * k, None)
        sims = store.vectors_of(near)[0] @ vector if len(near) else np.zeros(0, dtype=np.float32)
        return related_hits(self.passages, self.post_of_row, row, near, sims, k)

    def close(self) -> None:
        """Close both databases and let go of the mapped files."""
        for segment in (self.base, self.delta):
            segment.con.close()
            segment._ram = None
        self.store = self.candidates = None
