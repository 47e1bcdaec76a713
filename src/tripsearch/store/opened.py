"""``OpenedGeneration``: one generation folder opened for reading, the state ``Index`` holds and swaps on update.

Everything that belongs to one generation lives here (manifest, SQLite connection, mapped vector files, the
HNSW graph, the ``LocalStore`` the search stage asks, and what is learnt from the metadata), so that
``Index.update`` replaces all of it with one assignment: a search running in another thread keeps reading the
state it started with, and never sees half of one generation and half of the next.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from tripsearch.errors import PassageNotFound
from tripsearch.records import PostMeta, SkippedFile
from tripsearch.search.candidates import CandidateSearch
from tripsearch.search.fusion import SentenceMatrix
from tripsearch.store import generations as gen
from tripsearch.store.ann import ANN_FILE, read_ann
from tripsearch.store.database import (
    DB_FILE,
    check_database_file,
    load_skipped,
    open_database,
    passage_count,
    row_columns,
    row_of_id,
)
from tripsearch.store.local import LocalStore
from tripsearch.store.rows import PassageRows, PostTable
from tripsearch.store.segmented_opened import SegmentedGeneration
from tripsearch.store.vectors import SENTENCES_FILE, VECTORS_FILE, map_vectors, read_rows


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

    def __init__(self, index_dir: Path, generation: Path):
        self.index_dir = index_dir
        self.generation = generation
        self.manifest = gen.read_manifest(generation, verify=False)
        # Checksums read every byte: done here for a small generation, else by `tripsearch verify`. What a
        # damaged file most often is (truncated, emptied, appended to) the header and size checks below catch.
        total = gen.verify_files(generation, self.manifest, checksums=False)
        if total <= gen.VERIFY_ON_OPEN_BYTES:
            gen.verify_files(generation, self.manifest)
        db_path = generation / DB_FILE
        self.lock = threading.RLock()  # one SQLite connection shared by the app's threads
        self._ram_lock = threading.Lock()
        try:
            check_database_file(db_path)
            self.con = open_database(db_path)
            n = passage_count(self.con)
            counts, self.post_of_row = row_columns(self.con)
            self.skipped: list[SkippedFile] = load_skipped(self.con)
        except Exception as exc:  # sqlite3.DatabaseError and friends: say which file
            raise gen.IndexCorrupt(f"{db_path}: unreadable ({exc})") from None
        self.posts = PostTable(self.con, self.lock)
        self.passages = PassageRows(self.con, self.lock, n, self.posts)
        try:
            self.vectors = map_vectors(generation / VECTORS_FILE, self.manifest.dim)
            sentence_vectors = map_vectors(generation / SENTENCES_FILE, self.manifest.dim)
        except ValueError as exc:
            raise gen.IndexCorrupt(str(exc)) from None
        if len(self.vectors) != n:
            raise gen.IndexCorrupt(f"{generation / VECTORS_FILE}: {len(self.vectors)} vectors for {n} passages")
        if len(counts) != n or len(sentence_vectors) != counts.sum():
            raise gen.IndexCorrupt(
                f"{generation / SENTENCES_FILE}: {len(sentence_vectors)} vectors for {counts.sum()} sentences"
            )
        self.sentences = SentenceMatrix(sentence_vectors, counts)
        # The graph is read now, not on first search: a build may remove this generation's folder while a
        # reader still uses it, and what is open (the maps, the database) stays readable, a path does not.
        self.ann = None
        if ANN_FILE in self.manifest.files:
            try:
                self.ann = read_ann(generation / ANN_FILE, n, self.manifest.dim)
            except ValueError as exc:
                raise gen.IndexCorrupt(str(exc)) from None
        # The search stage's side of the store seam (store.seam): what another engine would stand behind.
        self.store: LocalStore | None = LocalStore(
            self.vectors,
            self.sentences,
            self.ann,
            self.con,
            self.lock,
            self.passages,
            self.posts,
            self.manifest.model_fingerprint,
        )
        self.candidates = CandidateSearch(self.store, len(sentence_vectors)) if self.ann is not None else None
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
        posts: dict[str, None] = {}
        talks: dict[tuple[str, tuple[str, ...]], None] = {}
        with self.lock:
            found = self.con.execute("SELECT post_path, heading_path FROM passages ORDER BY row").fetchall()
        for path, heading_path in found:
            posts.setdefault(path, None)
            heading = tuple(json.loads(heading_path))
            if heading:
                talks.setdefault((path, heading), None)
        return [self.posts[path] for path in posts], list(talks)

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
        return OpenedGeneration(index_dir, generation)
    total = gen.verify_files(generation, manifest, checksums=False)
    if total <= gen.VERIFY_ON_OPEN_BYTES:  # as OpenedGeneration: every checksum while it is cheap
        gen.verify_files(generation, manifest)
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
