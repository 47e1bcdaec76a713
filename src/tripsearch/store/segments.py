"""A generation of two segments: the base (a full build's files) and a small delta, with tombstones (issue 13).

A one-post update used to rewrite the whole generation (every passage, vector and the HNSW graph). Instead it
may now write a generation that holds the previous base files by hard link (same inodes, never rewritten) plus a
*delta* segment (``DELTA_DB``, ``DELTA_VECTORS``, ``DELTA_SENTENCES``: the posts changed or added since the base,
with their passages and vectors) and ``TOMBSTONES`` (a bool per base row: its post was changed or removed). The
manifest's ``segments`` says so; a generation without it is today's single segment (``store.opened``).

Readers see one list of rows: the base's live rows in base order (tombstoned rows are not numbered at all),
then the delta's rows. So a tombstoned passage cannot come back from any search path: dense search passes the
base graph a mask with tombstones cleared (the same ``IDSelectorBitmap`` filters use) and scores delta rows
exactly; keyword search asks each segment's FTS5 and merges, dropping tombstoned rows; fetch, ``row_of``,
posts, facets and talks read both. ``store.segmented_opened.SegmentedGeneration`` is what ``Index`` holds, shaped like
``store.milvus_opened.MilvusGeneration``: every search goes through ``search.candidates`` over the
``SegmentedStore`` (the exact path of ``search.ranking`` reads one SQLite file, which a delta does not have).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from tripsearch.records import Passage, PostMeta, SkippedFile
from tripsearch.search.fusion import SentenceMatrix, dense_scores
from tripsearch.store import generations as gen
from tripsearch.store.ann import (
    ANN_FILE,
    SENTENCE_ANN_FILE,
    ann_search,
    read_ann,
    read_sentence_ann,
    sentence_search,
)
from tripsearch.store.database import (
    check_database_file,
    load_skipped,
    open_database,
    passage_count,
    row_columns,
)
from tripsearch.store.local import STAT_SAMPLE, LocalStore, _best, passages_of_sentences, sentence_rows
from tripsearch.store.rows import PassageRows, PostTable
from tripsearch.store.seam import Facets, KeywordTop
from tripsearch.store.vectors import map_vectors, read_rows

DELTA_DB = "delta.sqlite"
DELTA_VECTORS = "delta-vectors.faiss"
DELTA_SENTENCES = "delta-sentences.faiss"
TOMBSTONES = "tombstones.npy"  # numpy bool array, one per base row: True = its post was changed or removed
HIDDEN_TABLE = "hidden_posts"  # in DELTA_DB: base posts whose live version is in the delta, or that are gone
TOMBSTONE_OVERFETCH = 1000  # extra BM25 rows asked of the base at most, for the tombstoned ones among its top


class Segment:
    """One SQLite file and its vector files, opened and checked against each other (what ``OpenedGeneration``
    checks for a single-segment generation). Attributes: ``con``, ``lock``, ``posts`` (``PostTable``),
    ``passages`` (``PassageRows``), ``counts`` and ``post_of_row`` (int arrays per row), ``skipped``,
    ``vectors`` (n × dim, mapped), ``sentences`` (``SentenceMatrix``), ``ann`` (or None), ``store``
    (``LocalStore``). Raises ``IndexCorrupt`` naming the damaged file."""

    def __init__(self, folder: Path, files: tuple[str, str, str], manifest: gen.Manifest, ann: bool):
        db_name, vectors_name, sentences_name = files
        self.folder, self.files, self.dim = folder, files, manifest.dim
        self._ram_lock, self._ram = threading.Lock(), None
        db_path = folder / db_name
        self.lock = threading.RLock()  # one SQLite connection shared by the app's threads
        try:
            check_database_file(db_path)
            self.con = open_database(db_path)
            n = passage_count(self.con)
            self.counts, self.post_of_row = row_columns(self.con)
            self.skipped: list[SkippedFile] = load_skipped(self.con)
        except Exception as exc:  # sqlite3.DatabaseError and friends: say which file
            raise gen.IndexCorrupt(f"{db_path}: unreadable ({exc})") from None
        self.posts = PostTable(self.con, self.lock)
        self.passages = PassageRows(self.con, self.lock, n, self.posts)
        try:
            self.vectors = map_vectors(folder / vectors_name, manifest.dim)
            sentence_vectors = map_vectors(folder / sentences_name, manifest.dim)
        except ValueError as exc:
            raise gen.IndexCorrupt(str(exc)) from None
        if len(self.vectors) != n:
            raise gen.IndexCorrupt(f"{folder / vectors_name}: {len(self.vectors)} vectors for {n} passages")
        if len(self.counts) != n or len(sentence_vectors) != self.counts.sum():
            raise gen.IndexCorrupt(
                f"{folder / sentences_name}: {len(sentence_vectors)} vectors for {self.counts.sum()} sentences"
            )
        self.sentences = SentenceMatrix(sentence_vectors, self.counts)
        # Read now, not on first search: a build may remove the folder while a reader still uses it.
        # The sentence index is optional: a generation written before it existed still opens (passage graph only).
        self.ann = self.sentence_ann = None
        if ann:
            try:
                self.ann = read_ann(folder / ANN_FILE, n, manifest.dim)
                if SENTENCE_ANN_FILE in manifest.files:
                    self.sentence_ann = read_sentence_ann(
                        folder / SENTENCE_ANN_FILE, len(sentence_vectors), manifest.dim
                    )
            except ValueError as exc:
                raise gen.IndexCorrupt(str(exc)) from None
        self.store = LocalStore(
            self.vectors, self.sentences, self.ann, self.con, self.lock, self.passages, self.posts,
            manifest.model_fingerprint, self.sentence_ann,
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.vectors)

    def in_ram(self) -> tuple[np.ndarray, SentenceMatrix]:
        """(passage vectors, sentence matrix) read into aligned RAM once, for scoring every row without a graph
        (``OpenedGeneration.exact_ready`` says why: a product with a mapped flat file is 1.6 times slower); the
        maps when the folder has gone."""
        with self._ram_lock:
            if self._ram is None:
                try:
                    vectors = read_rows(self.folder / self.files[1], self.dim)
                    sentences = SentenceMatrix(read_rows(self.folder / self.files[2], self.dim), self.counts)
                    self._ram = (vectors, sentences)
                except (OSError, ValueError):
                    return self.vectors, self.sentences
            return self._ram


def _idf(rows: int, hits: int) -> float:
    """FTS5's BM25 idf of a phrase found in ``hits`` of ``rows`` rows (``fts5_aux.c``: floored at 1e-6)."""
    idf = math.log((rows - hits + 0.5) / (hits + 0.5))
    return idf if idf > 0 else 1e-6


def _whole_dense(segment: Segment, query: np.ndarray) -> np.ndarray:
    """The dense score of every row of ``segment`` (``search.ranking.dense_scores``'s formula), shape (n,)."""
    vectors, sentences = segment.in_ram()
    passage_sims = vectors @ query
    sims = sentences.similarities(query)
    return dense_scores(passage_sims, sentences.best_per_passage(sims, passage_sims))


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ranges starts[i] … starts[i]+counts[i]-1."""
    return np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum(), dtype=np.int64)


class CombinedPosts(Mapping[str, PostMeta]):
    """path → ``PostMeta`` over both segments: the base's posts that are not hidden, then the delta's."""

    def __init__(self, base: PostTable, delta: PostTable, hidden: frozenset[str]):
        self._base, self._delta, self._hidden = base, delta, hidden
        self._all: list[PostMeta] | None = None

    def __getitem__(self, path: str) -> PostMeta:
        try:
            return self._delta[path]
        except KeyError:
            if path in self._hidden:
                raise
        return self._base[path]

    def ordered(self) -> list[PostMeta]:
        """Every visible post: position i is what ``SegmentedGeneration.post_of_row`` calls post i."""
        if self._all is None:
            self._all = [m for m in self._base.ordered() if m.path not in self._hidden] + self._delta.ordered()
        return self._all

    def __iter__(self) -> Iterator[str]:
        return (meta.path for meta in self.ordered())

    def __len__(self) -> int:
        return len(self.ordered())


class SegmentedStore:
    """The ``store.seam.PassageStore`` over a base and a delta ``Segment``; rows are numbered as the module says:
    0…nl-1 the base's live rows (``live_base[r]`` is the base row), nl…n-1 the delta's."""

    def __init__(self, base: Segment, delta: Segment, dead: np.ndarray, posts: CombinedPosts, fingerprint: str):
        self.base, self.delta, self.dead, self.posts = base, delta, dead, posts
        self.model_fingerprint, self.dim = fingerprint, base.vectors.shape[1]
        self.live_base = np.flatnonzero(~dead)
        self.nl = len(self.live_base)
        self.logical_of_base = np.full(len(dead), -1, dtype=np.int64)
        self.logical_of_base[self.live_base] = np.arange(self.nl)
        counts = np.concatenate([base.counts[self.live_base], delta.counts])
        self.matrix = SentenceMatrix(np.zeros((0, self.dim), dtype=np.float32), counts)  # counts and starts only
        self._sample = None

    def __len__(self) -> int:
        return self.nl + len(self.delta)

    def _split(self, rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mask of the rows in the base, their base rows, the other rows' delta rows)."""
        rows = np.asarray(rows, dtype=np.int64)
        in_base = rows < self.nl
        return in_base, self.live_base[rows[in_base]], rows[~in_base] - self.nl

    def fetch(self, rows: Sequence[int]) -> list[Passage]:
        rows = [int(r) for r in rows]
        for row in rows:
            if not 0 <= row < len(self):
                raise IndexError(f"passage row {row} out of range 0…{len(self) - 1}")
        in_base, b, d = self._split(rows)
        found_b, found_d = iter(self.base.passages.fetch(b)), iter(self.delta.passages.fetch(d))
        return [next(found_b) if here else next(found_d) for here in in_base]

    def row_of(self, passage_id: str) -> int | None:
        row = self.delta.store.row_of(passage_id)  # first: a changed post's passage may keep its id
        if row is not None:
            return self.nl + row
        row = self.base.store.row_of(passage_id)
        return None if row is None or self.dead[row] else int(self.logical_of_base[row])

    def vectors_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(passage vectors of ``rows``, their sentence vectors concatenated in order, those sentences' rows in
        ``matrix`` numbering, each row's first position in that list, whether each row has a sentence)."""
        rows = np.asarray(rows, dtype=np.int64)
        in_base, b, d = self._split(rows)
        passage = np.empty((len(rows), self.dim), dtype=np.float32)
        passage[in_base] = self.base.vectors[b]
        passage[~in_base] = self.delta.vectors[d]
        index, local = sentence_rows(self.matrix, rows)
        counts = self.matrix.counts[rows]
        sentences = np.empty((len(index), self.dim), dtype=np.float32)
        for here, seg, seg_rows in ((in_base, self.base, b), (~in_base, self.delta, d)):
            if len(seg_rows):
                sentences[_ranges(local[here], counts[here])] = seg.sentences.vectors[
                    sentence_rows(seg.sentences, seg_rows)[0]
                ]
        return passage, sentences, index, local, counts > 0

    def dense_candidates(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        """The base's graph with tombstones masked out and every allowed delta row, the ``k`` best by passage
        cosine; below ``ANN_MIN_ROWS`` (no graph) every allowed row, the ``k`` best by whole dense score."""
        mask = ~self.dead
        if allowed is not None:
            mask = np.zeros(len(self.dead), dtype=bool)
            mask[self.live_base] = allowed[: self.nl]
        delta_rows = np.flatnonzero(allowed[self.nl :]) if allowed is not None else np.arange(len(self.delta))
        if self.base.ann is None:
            # No graph (below ANN_MIN_ROWS): rank every allowed row by its whole dense score, as the exact path
            # of a one-segment index does, so that the candidates' top k is the exact top k (recall@10 against
            # exact was 0.95 at 10k when ranked by passage cosine alone, benchmarks/scale.py's queries).
            base_rows = np.flatnonzero(mask)
            base_sims = _whole_dense(self.base, query)[base_rows]
            delta_sims = _whole_dense(self.delta, query)[delta_rows]
        else:
            base_rows, base_sims = (
                ann_search(self.base.ann, query, k, mask) if mask.any() else (np.zeros(0, dtype=np.int64), np.zeros(0))
            )
            delta_sims = np.asarray(self.delta.vectors[delta_rows]) @ query
        rows = np.concatenate([self.logical_of_base[base_rows], self.nl + delta_rows])
        sims = np.concatenate([base_sims, delta_sims])
        return rows[np.argsort(-sims, kind="stable")[:k]]

    def sentence_candidates(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        """Rows (sorted, distinct) holding the ``k`` nearest sentences: the base's sentence index with tombstoned
        and filtered-out rows masked inside the scan, and the delta's allowed sentences scored exactly (the delta
        is small and has no index); empty when the base has no sentence index (below ``ANN_MIN_ROWS``, where
        ``dense_candidates`` already ranks every row by its whole dense score)."""
        if self.base.sentence_ann is None:
            return np.zeros(0, dtype=np.int64)
        mask = ~self.dead
        if allowed is not None:
            mask = np.zeros(len(self.dead), dtype=bool)
            mask[self.live_base] = allowed[: self.nl]
        base_rows = (
            passages_of_sentences(
                self.base.sentences,
                sentence_search(self.base.sentence_ann, query, k, mask[self.base.sentences.row_of]),
            )
            if mask.any()
            else np.zeros(0, dtype=np.int64)
        )
        _vectors, sentences = self.delta.in_ram()
        sims = sentences.similarities(query)
        if allowed is not None:
            sims = np.where(np.repeat(allowed[self.nl :], self.delta.counts), sims, -np.inf)
        best = np.argsort(-sims, kind="stable")[:k]
        delta_rows = passages_of_sentences(sentences, best[np.isfinite(sims[best])])
        return np.concatenate([self.logical_of_base[base_rows], self.nl + delta_rows])

    def dense_scores(self, rows: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The exact path's formula (``search.fusion``) for these rows, read from whichever segment holds each."""
        passage, sentences, index, local, has = self.vectors_of(rows)
        passage_sims = passage @ query
        sims = sentences @ query if len(index) else np.zeros(0, dtype=np.float32)
        return dense_scores(passage_sims, _best(passage_sims, sims, local, has)), index, sims

    def dense_sample(self, query: np.ndarray) -> np.ndarray:
        if self._sample is None:  # as LocalStore's: a fixed sample, read once
            rng = np.random.default_rng(0)
            rows = np.sort(rng.choice(len(self), size=min(STAT_SAMPLE, len(self)), replace=False))
            passage, sentences, _index, local, has = self.vectors_of(rows)
            self._sample = (passage, sentences, local, has)
        passage, sentences, local, has = self._sample
        passage_sims = passage @ query
        return dense_scores(passage_sims, _best(passage_sims, sentences @ query, local, has))

    def keyword_top(self, question: str, limit: int) -> KeywordTop:
        """The base's BM25 top (over-fetched by its tombstones, which are dropped) merged by score with every
        delta match scored on the scale of both segments together (``_delta_bm25``). The count, sum and sum of
        squares of the base's matches still include tombstoned rows: they go away at the next merge."""
        extra = min(int(self.dead.sum()), max(limit, TOMBSTONE_OVERFETCH))
        base = self.base.store.keyword_top(question, limit + extra)
        delta = self._delta_bm25(question)
        rows = [(int(self.logical_of_base[r]), s) for r, s in base.rows if not self.dead[r]]
        rows += [(self.nl + r, s) for r, s in delta.items()]
        rows.sort(key=lambda pair: -pair[1])
        scores = np.array(list(delta.values()), dtype=np.float64)
        return KeywordTop(
            rows[:limit],
            base.count + len(scores),
            base.total + float(scores.sum()),
            base.squares + float((scores**2).sum()),
        )

    def _delta_bm25(self, question: str) -> dict[int, float]:
        """delta row → BM25 of the question as if the delta's rows were in the base's FTS5 table.

        FTS5's bm25 of an OR query is a sum over its phrases of idf(phrase) · f(phrase frequency in the row)
        (``fts5_aux.c``, ``fts5Bm25Function``), idf = ln((N - n + 0.5) / (n + 0.5)), floored at 1e-6. The delta's
        own N and n are tiny (scored alone, an edited sample post fell from first to third in keyword search for
        its own new words), so each phrase is asked alone, its score divided by the delta's idf and multiplied by
        the idf over both tables (n counted in the base too). Only the length normalisation (average row
        length) stays the delta's."""
        from tripsearch.search.keyword import WEIGHTS, query_terms
        from tripsearch.store.database import fts_query, keyword_search_with_stats

        query = fts_query(query_terms(question))
        nd = len(self.delta)
        if not query or not nd:
            return {}
        total_rows = len(self.dead) + nd
        scores: dict[int, float] = {}
        for phrase in query.split(" OR "):  # every token is quoted (search.terms.term_expression): a plain split
            with self.delta.lock:
                top, count, _, _ = keyword_search_with_stats(self.delta.con, phrase, WEIGHTS, nd)
            if not count:
                continue
            with self.base.lock:
                sql = "SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?"
                (in_base,) = self.base.con.execute(sql, (phrase,)).fetchone()
            scale = _idf(total_rows, count + in_base) / _idf(nd, count)
            for row, score in top:
                scores[row] = scores.get(row, 0.0) + score * scale
        return scores

    def facets(self) -> Facets:
        return Facets.of(self.posts.ordered())


def read_tombstones(path: Path, base_rows: int, count: int) -> np.ndarray:
    """The tombstone mask at ``path``; ``IndexCorrupt`` unless it is ``base_rows`` bools with ``count`` set."""
    try:
        dead = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise gen.IndexCorrupt(f"{path}: unreadable ({exc})") from None
    if dead.dtype != bool or dead.shape != (base_rows,) or int(dead.sum()) != count:
        raise gen.IndexCorrupt(f"{path}: does not match the manifest ({dead.shape} {dead.dtype}, {dead.sum()} set)")
    return dead
