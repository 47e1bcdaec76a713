"""``OpenedGeneration``: one generation folder opened for reading, the state ``Index`` holds and swaps on update.

Everything that belongs to one generation lives here (manifest, SQLite connection, mapped vector files, the
HNSW graph, the ``LocalStore`` the search stage asks, and what is learnt from the metadata), so that
``Index.update`` replaces all of it with one assignment: a search running in another thread keeps reading the
state it started with, and never sees half of one generation and half of the next.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from tripsearch.errors import PassageNotFound
from tripsearch.records import PostMeta
from tripsearch.search.candidates import CandidateSearch
from tripsearch.search.fusion import SentenceMatrix
from tripsearch.store import generations as gen
from tripsearch.store.ann import ANN_FILE
from tripsearch.store.database import DB_FILE, row_of_id
from tripsearch.store.local import LocalStore
from tripsearch.store.rows import heading_rows, talks_of
from tripsearch.store.segmented_opened import SegmentedGeneration
from tripsearch.store.segments import Segment
from tripsearch.store.vectors import SENTENCES_FILE, VECTORS_FILE, read_rows


class OpenedGeneration:
    """One generation, opened: cheap (maps and a connection; passages are read by row when a search shows them).

    Attributes: ``index_dir``, ``generation`` (its folder), ``manifest``, ``posts`` (``PostTable``), ``passages``
    (``PassageRows``, 0…n-1), ``post_of_row`` (int array, each row's post number in ``posts.ordered()``),
    ``skipped`` (files the build could not read), ``vectors`` (n × dim float32, mapped), ``sentences``
    (``SentenceMatrix`` of every prose sentence's vector, grouped by row), ``ann`` (the HNSW graph or None),
    ``store`` (the ``store.seam.PassageStore`` over all of it), ``candidates`` (``CandidateSearch`` when there is
    a graph, else None: the exact path scores every row), ``understander`` (filled by ``Index.understander``).

    Raises ``IndexCorrupt`` when a file is damaged or does not match the manifest, ``FileNotFoundError`` when the
    folder went away while it was being opened (``open_current`` retries then).
    """

    def __init__(self, index_dir: Path, generation: Path, manifest: gen.Manifest | None = None):
        self.index_dir = index_dir
        self.generation = generation
        self.manifest = manifest or gen.read_manifest(generation, verify=False)
        gen.verify_on_open(generation, self.manifest)
        # The opening and its checks (database, both vector files, the graph read now rather than on first
        # search, since a build may remove this folder while a reader still uses it) are a segment's; a
        # single-segment generation is one segment under its plain file names.
        segment = Segment(
            generation, (DB_FILE, VECTORS_FILE, SENTENCES_FILE), self.manifest, ANN_FILE in self.manifest.files
        )
        self.lock, self.con = segment.lock, segment.con  # one SQLite connection shared by the app's threads
        self._ram_lock = threading.Lock()
        self.post_of_row, self.skipped = segment.post_of_row, segment.skipped
        self.posts, self.passages = segment.posts, segment.passages
        self.vectors, self.sentences, self.ann = segment.vectors, segment.sentences, segment.ann
        # The search stage's side of the store seam (store.seam): what another engine would stand behind.
        self.store: LocalStore | None = segment.store
        self.candidates = CandidateSearch(self.store, len(self.sentences.vectors)) if self.ann is not None else None
        self.understander = None

    def exact_ready(self) -> None:
        """Swap the maps for aligned copies in RAM before the first search that scores every row (below
        ``ANN_MIN_ROWS``; ``store.vectors.read_rows`` says why): opening stays a map, searching stays as fast
        as when the rows were read at open. The candidate path past that size never calls this."""
        with self._ram_lock:
            if isinstance(self.vectors, np.memmap) and self.ann is None:
                try:
                    self.vectors = read_rows(self.generation / VECTORS_FILE, self.manifest.dim)
                    self.sentences.vectors = read_rows(self.generation / SENTENCES_FILE, self.manifest.dim)
                except (OSError, ValueError):
                    pass  # the generation folder was removed under us: the maps still read it, slower

    def talks(self) -> tuple[list[PostMeta], list[tuple[str, tuple[str, ...]]]]:
        """(every post that has a passage, in the order of its first row; every distinct (post path, heading
        path) with a heading, in row order): what is learnt from the metadata (``answer.understand``), read
        from two short columns instead of every passage's text and sentences."""
        return talks_of(heading_rows(self.con, self.lock), self.posts)

    def row_of(self, passage_id: str) -> int:
        """The row (0…n-1: SQLite row, FAISS vector) of a passage id; ``PassageNotFound`` if it is not here."""
        with self.lock:
            row = row_of_id(self.con, passage_id)
        if row is None:
            raise PassageNotFound(f"no passage with id {passage_id!r} in this index")
        return row

    def close(self) -> None:
        """Close the database and let go of the mapped vector files (a map holds its file open: an unmount of
        the folder, or a removal on some file systems, would find it busy)."""
        self.con.close()
        empty = np.zeros((0, self.manifest.dim), dtype=np.float32)
        self.vectors = empty
        self.sentences = SentenceMatrix(empty, [])
        self.store = self.ann = self.candidates = None


def open_generation(index_dir: Path, generation: Path) -> OpenedGeneration | SegmentedGeneration:
    """``generation`` opened: one segment (``OpenedGeneration``), or a base and a delta (``store.segments``)."""
    manifest = gen.read_manifest(generation, verify=False)
    if not manifest.segments:
        return OpenedGeneration(index_dir, generation, manifest)
    gen.verify_on_open(generation, manifest)
    return SegmentedGeneration(index_dir, generation, manifest)


def open_current(index_dir: Path) -> OpenedGeneration | SegmentedGeneration:
    """The live generation of ``index_dir`` (the one ``CURRENT`` names), opened.

    Raises ``IndexNotFound`` (no index there yet), ``IndexCorrupt`` (a file is damaged or does not match its
    manifest, or ``CURRENT`` keeps moving), ``IndexMismatch`` (another index format).
    """
    if not index_dir.is_dir():
        raise gen.IndexNotFound(f"{index_dir}: no index here yet; build one with `tripsearch index POSTS_DIR`")
    for _attempt in range(5):
        generation = gen.current_generation(index_dir)
        if generation is None:
            raise gen.IndexNotFound(f"{index_dir}: no index here yet; build one with `tripsearch index POSTS_DIR`")
        try:
            return open_generation(index_dir, generation)
        except (gen.IndexCorrupt, FileNotFoundError):
            # Builds may have published twice since we read CURRENT and removed this generation:
            # if CURRENT moved on, open the new one; if not, the index really is broken.
            if gen.current_generation(index_dir) == generation:
                raise
    raise gen.IndexCorrupt(f"{index_dir / gen.POINTER}: keeps changing; is an indexer stuck in a loop?")
