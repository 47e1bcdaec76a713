"""``Index``: the library's front door. Build, open, update and search one index folder."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tripsearch.errors import PassageNotFound
from tripsearch.records import Hit, Passage, ScoredPassage, SkippedFile
from tripsearch.search.blocks import group_windows
from tripsearch.search.candidates import CandidateSearch
from tripsearch.search.filters import Filters
from tripsearch.search.fusion import SentenceMatrix, dense_scores
from tripsearch.search.grounding import grounding_boost
from tripsearch.search.keyword import keyword_rows
from tripsearch.search.modes import SearchMode, rank_of
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
from tripsearch.store.seam import Facets
from tripsearch.store.vectors import SENTENCES_FILE, VECTORS_FILE, map_vectors, read_rows, read_vectors

if TYPE_CHECKING:  # the build pulls in the markdown and sentence machinery: not needed to search
    from tripsearch.build import BuildProgress, BuildReport

MODES = tuple(mode.value for mode in SearchMode)  # the names, for callers that list them (notebooks)
BLOCK_POOL = 3  # passages looked at per hit asked for: windows of one talk fold into one hit (search.blocks)
DEFAULT_INDEX = Path("index")


def hit_from(passage: Passage, score: float, dense_rank: int | None = None, keyword_rank: int | None = None) -> Hit:
    meta = passage.post
    return Hit(
        passage_id=passage.id,
        text=passage.text,
        path=meta.path,
        post_title=meta.title,
        session_title=passage.session_title,
        heading_path=passage.heading_path,
        start_line=passage.start_line,
        end_line=passage.end_line,
        date=meta.date,
        authors=meta.authors,
        tags=meta.tags,
        url=meta.url,
        score=float(score),
        dense_rank=dense_rank,
        keyword_rank=keyword_rank,
        talks=passage.parts,
    )


class Index:
    """One generation of an index, loaded for searching. Cheap to open; the model loads on first use."""

    def __init__(self, index_dir: Path, generation: Path, encoder=None):
        self.index_dir = index_dir
        self.generation = generation
        self.manifest = gen.read_manifest(generation, verify=False)
        # Checksums read every byte: done here for a small generation, else by `tripsearch verify`. What a
        # damaged file most often is (truncated, emptied, appended to) the header and size checks below catch.
        total = gen.verify_files(generation, self.manifest, checksums=False)
        if total <= gen.VERIFY_ON_OPEN_BYTES:
            gen.verify_files(generation, self.manifest)
        db_path = generation / DB_FILE
        self._sql_lock = threading.RLock()  # one SQLite connection shared by the app's threads
        try:
            check_database_file(db_path)
            self._con = open_database(db_path)
            n = passage_count(self._con)
            counts, self._post_of_row = row_columns(self._con)
            self.skipped: list[SkippedFile] = load_skipped(self._con)
        except Exception as exc:  # sqlite3.DatabaseError and friends: say which file
            raise gen.IndexCorrupt(f"{db_path}: unreadable ({exc})") from None
        self.posts = PostTable(self._con, self._sql_lock)
        self.passages = PassageRows(self._con, self._sql_lock, n, self.posts)
        try:
            self._vectors = map_vectors(generation / VECTORS_FILE, self.manifest.dim)
            sentence_vectors = map_vectors(generation / SENTENCES_FILE, self.manifest.dim)
        except ValueError as exc:
            raise gen.IndexCorrupt(str(exc)) from None
        if len(self._vectors) != n:
            raise gen.IndexCorrupt(f"{generation / VECTORS_FILE}: {len(self._vectors)} vectors for {n} passages")
        if len(counts) != n or len(sentence_vectors) != counts.sum():
            raise gen.IndexCorrupt(
                f"{generation / SENTENCES_FILE}: {len(sentence_vectors)} vectors for {counts.sum()} sentences"
            )
        self.sentences = SentenceMatrix(sentence_vectors, counts)
        # The graph is read now, not on first search: a build may remove this generation's folder while a
        # reader still uses it, and what is open (the maps, the database) stays readable, a path does not.
        self._ann = None
        if ANN_FILE in self.manifest.files:
            try:
                self._ann = read_ann(generation / ANN_FILE, n, self.manifest.dim)
            except ValueError as exc:
                raise gen.IndexCorrupt(str(exc)) from None
        # The search stage's side of the store seam (store.seam): what another engine would stand behind.
        self.store = LocalStore(
            self._vectors,
            self.sentences,
            self._ann,
            self._con,
            self._sql_lock,
            self.passages,
            self.posts,
            self.manifest.model_fingerprint,
        )
        self._candidate_search = CandidateSearch(self.store, len(sentence_vectors)) if self._ann is not None else None
        self._encoder = encoder
        self._encoder_lock = threading.Lock()

    @property
    def _faiss(self):
        """The passage vectors as a FAISS index read into RAM (for tools and tests; search uses the map)."""
        return read_vectors(self.generation / VECTORS_FILE, self.manifest.dim)

    # ---- building and opening -------------------------------------------------------------
    @classmethod
    def open(cls, index_dir: Path | str = DEFAULT_INDEX, encoder=None) -> Index:
        """Open the live generation of ``index_dir``; ``encoder`` reuses an already loaded model.

        Raises ``IndexNotFound`` (no index there yet), ``IndexCorrupt`` (a file is damaged or does not match
        its manifest), ``IndexMismatch`` (another index format); all are ``tripsearch.errors.IndexProblem``.
        """
        index_dir = Path(index_dir)
        if not index_dir.is_dir():
            raise gen.IndexNotFound(f"{index_dir}: no index here yet; build one with `tripsearch index POSTS_DIR`")
        for _attempt in range(5):
            generation = gen.current_generation(index_dir)
            if generation is None:
                raise gen.IndexNotFound(f"{index_dir}: no index here yet; build one with `tripsearch index POSTS_DIR`")
            try:
                return cls(index_dir, generation, encoder)
            except (gen.IndexCorrupt, FileNotFoundError):
                # Builds may have published twice since we read CURRENT and removed this generation:
                # if CURRENT moved on, open the new one; if not, the index really is broken.
                if gen.current_generation(index_dir) == generation:
                    raise
        raise gen.IndexCorrupt(f"{index_dir / gen.POINTER}: keeps changing; is an indexer stuck in a loop?")

    @classmethod
    def build(
        cls,
        posts_dir: Path | str,
        index_dir: Path | str = DEFAULT_INDEX,
        model: str | None = None,
        rebuild: bool = False,
        progress: BuildProgress | None = None,
    ) -> Index:
        """Build (or update) the index of ``posts_dir`` in ``index_dir`` and open it.

        ``progress`` is called with (tokens embedded so far, tokens to embed). Raises what
        ``tripsearch.build.update_index`` raises (``BadInput`` for a missing posts folder, ``IndexBusy``,
        ``IndexMismatch``, ``ModelNotFound``, ``IndexProblem`` when the index cannot be written) and what
        ``open`` raises. Bad posts never raise: they are in the build report's skipped and warned lists.
        """
        from tripsearch.build import update_index

        update_index(posts_dir, index_dir, model=model, rebuild=rebuild, progress=progress)
        return cls.open(index_dir)

    def update(self, posts_dir: Path | str | None = None, progress: BuildProgress | None = None) -> BuildReport:
        """Bring the index up to date with ``posts_dir`` (default: the folder it was built from), then reload.

        Returns the ``BuildReport``; raises what ``build`` raises.
        """
        from tripsearch.build import update_index

        report = update_index(posts_dir or self.manifest.posts_dir, self.index_dir, progress=progress)
        if not report.nothing_changed:
            self.__dict__.update(Index.open(self.index_dir, self._encoder).__dict__)
        return report

    def verify(self) -> int:
        """Check every file of this generation against its manifest checksum (reads every byte; opening a
        large index skips it). Returns the bytes checked; raises ``IndexCorrupt`` naming the first bad file."""
        return gen.verify_files(self.generation, self.manifest)

    def close(self) -> None:
        """Close the database and let go of the mapped vector files (a map holds its file open: an unmount of
        the folder, or a removal on some file systems, would find it busy)."""
        self._con.close()
        empty = np.zeros((0, self.manifest.dim), dtype=np.float32)
        self._vectors = empty
        self.sentences = SentenceMatrix(empty, [])
        self.store = self._ann = self._candidate_search = None

    # ---- searching ------------------------------------------------------------------------
    @property
    def encoder(self):
        with self._encoder_lock:
            if self._encoder is None:
                from tripsearch.embed import load_encoder

                # TRIPSEARCH_BACKEND=sentence-transformers forces the slow path (benchmarks compare both).
                from tripsearch.embed.models import ModelNotFound

                try:
                    encoder = load_encoder(self.manifest.model, backend=os.environ.get("TRIPSEARCH_BACKEND", "auto"))
                except ModelNotFound as exc:
                    raise gen.IndexMismatch(
                        f"{self.generation / gen.MANIFEST}: built with model {self.manifest.model}, which is not there any more ({exc})"
                    ) from None
                if encoder.fingerprint != self.manifest.model_fingerprint or encoder.dim != self.manifest.dim:
                    raise gen.IndexMismatch(
                        f"{self.generation / gen.MANIFEST}: built with {self.manifest.model} "
                        f"(fingerprint {self.manifest.model_fingerprint}, {self.manifest.dim} dims); the model found "
                        f"now has fingerprint {encoder.fingerprint}, {encoder.dim} dims. Rebuild the index."
                    )
                self._encoder = encoder
            return self._encoder

    def _exact_ready(self) -> None:
        """Swap the maps for aligned copies in RAM before the first search that scores every row (below
        ``ANN_MIN_ROWS``; ``store.vectors.read_rows`` says why): opening stays a map, searching stays as fast
        as when the rows were read at open. The candidate path past that size never calls this."""
        with self._encoder_lock:
            if isinstance(self._vectors, np.memmap) and self._ann is None:
                try:
                    self._vectors = read_rows(self.generation / VECTORS_FILE, self.manifest.dim)
                    self.sentences.vectors = read_rows(self.generation / SENTENCES_FILE, self.manifest.dim)
                except (OSError, ValueError):
                    pass  # the generation folder was removed under us: the maps still read it, slower

    def embed_query(self, text: str) -> np.ndarray:
        return self.encoder.encode([text])[0]

    def dense_scores(self, question_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(passage dense scores, sentence similarities) for every row."""
        self._exact_ready()
        passage_sims = self._vectors @ question_vector
        sentence_sims = self.sentences.similarities(question_vector)
        best = self.sentences.best_per_passage(sentence_sims, passage_sims)
        return dense_scores(passage_sims, best), sentence_sims

    def keyword_scores(self, question: str) -> np.ndarray:
        """BM25 of every row (0 where no query word occurs)."""
        scores = np.zeros(len(self.passages), dtype=np.float32)
        with self._sql_lock:
            for row, score in keyword_rows(self._con, question, limit=len(self.passages)):
                scores[row] = score
        return scores

    def unknown_words(self, words: list[str]) -> list[str]:
        """The words that no passage of the index contains (after the keyword index's stemming). A word is any
        ``query_terms`` term: ``C++`` is unknown where only plain C occurs; a CJK bigram is found inside text;
        an identifier (``ASP.NET``, ``v1.28``) is known when the reports have it, or each of its parts."""
        from tripsearch.search.terms import parts
        from tripsearch.store.database import fts_query

        def found(word: str) -> bool:
            query = fts_query([word])
            sql = "SELECT 1 FROM passages_fts WHERE passages_fts MATCH ? LIMIT 1"
            return query is None or self._con.execute(sql, (query,)).fetchone() is not None

        def known(word: str) -> bool:
            pieces = parts(word)
            return found(word) or (bool(pieces) and all(found(p) for p in pieces))

        with self._sql_lock:
            return [word for word in dict.fromkeys(words) if not known(word)]

    def search(
        self,
        query: str,
        k: int = 10,
        mode: SearchMode | str = SearchMode.HYBRID,
        author: str | None = None,
        tag: str | None = None,
        since=None,
        until=None,
        post: str | None = None,
    ) -> list[Hit]:
        """The ``k`` hits that best match ``query``, among those the filters let through, best first. Windows of
        one talk that rank among the returned passages come back as one hit (``search.blocks``).

        ``mode``: a ``search.modes.SearchMode`` or its string (hybrid: 0.7·z(dense) + 0.3·z(BM25), see
        ``search.fusion``, plus a boost for the posts of an event, year or author the query names, see
        ``search.grounding``; every mode's formula is in ``search.modes.MODE_TABLE``). ``author`` and
        ``tag`` compare NFC and case-folded; ``since``/``until`` are dates or full ``YYYY-MM-DD`` strings,
        inclusive; ``post`` is a path or part of one. Raises ``BadInput`` for an unknown mode or an unreadable
        date, ``IndexMismatch`` when the model the index was built with cannot be loaded.
        """
        found = self.scored_passages(query, k * BLOCK_POOL, Filters.of(author, tag, since, until, post), mode)
        return group_windows([s.hit for s in found], k, self.talk_of)

    def scored_passages(
        self,
        query: str,
        k: int = 10,
        filters: Filters | None = None,
        mode: SearchMode | str = SearchMode.HYBRID,
        vector: np.ndarray | None = None,
    ) -> list[ScoredPassage]:
        """The ``k`` best passages for ``query`` (best first, windows of one talk NOT folded together), each with
        its ``Hit``, its ``Passage`` and its sentences' cosines with the question: what the answer stage reads
        (``records.ScoredPassage``). ``filters``: a ``search.filters.Filters`` (None: no filter); ``vector``: the
        question's unit vector when the caller has embedded it already (else embedded here unless the mode is
        keyword). Raises as ``search`` does."""
        hits, rows, passages, sentence_sims = self._ranked(query, k, SearchMode.of(mode), filters or Filters(), vector)
        if sentence_sims is None:
            return [ScoredPassage(hit, passage, None) for hit, passage in zip(hits, passages)]
        starts, counts = self.sentences.starts, self.sentences.counts
        return [
            ScoredPassage(hit, passage, sentence_sims[starts[row] : starts[row] + counts[row]])
            for hit, row, passage in zip(hits, rows, passages)
        ]

    @property
    def understander(self):
        """The ``answer.understand.Understander`` of this index: events, years, authors and talks learnt from its
        metadata, built once (~0.3 s on the real corpus) and shared by search (grounding) and ask. ``update``
        replaces it with the new generation's."""
        with self._encoder_lock:
            understander = self.__dict__.get("_understander")
            if understander is None:
                from tripsearch.answer.understand import Understander

                understander = Understander.from_passages(self.passages, self.unknown_words)
                self.__dict__["_understander"] = understander
            return understander

    def grounded_posts(self, question: str) -> frozenset[str] | None:
        """The posts covering every event, year and author that ``question`` names, as the index's own metadata
        knows them (``understander``); None when it names none."""
        return self.understander.understand(question).restriction()

    def talk_of(self, passage_id: str) -> tuple[tuple[str, int], int]:
        """(talk key, ordinal) of a passage: windows of one talk (same post, same heading path, consecutive
        ordinals, which are consecutive rows) share the key ``(post path, ordinal of the talk's first window)``.
        Raises ``PassageNotFound``."""
        row = self.row_of(passage_id)
        passage = first = self.passages[row]
        while row > 0:
            (before,) = self.passages.fetch([row - 1])
            same = before.post.path == first.post.path and before.heading_path == first.heading_path
            if not (same and before.ordinal + 1 == first.ordinal):
                break
            first, row = before, row - 1
        return (passage.post.path, first.ordinal), passage.ordinal

    def _ranked(self, query: str, k: int, mode: SearchMode, filters: Filters, vector: np.ndarray | None):
        """(hits, their rows, their passages, every sentence row's similarity or None), best first."""
        rule = mode.rule
        nothing = [], np.zeros(0, dtype=np.int64), [], None
        if not query.strip() or not self.passages:
            return nothing
        allowed = filters.post_mask(self.posts.ordered(), self._post_of_row) if filters.active else None
        if allowed is not None and not allowed.any():
            return nothing
        if rule.dense and vector is None:
            vector = self.embed_query(query)
        candidates = self._candidates()
        if candidates is not None:  # past ANN_MIN_ROWS: a few hundred candidates, scored as below
            scored = candidates.score(query, mode, allowed, vector)
            rows, scores, dense, keyword, sentence_sims = (
                scored.rows,
                scored.scores,
                scored.dense,
                scored.keyword,
                scored.sentence_sims,
            )
        else:
            rows, scores, dense, keyword, sentence_sims = self._exact_scores(query, mode, allowed, vector)
        if rule.matches_only:
            scores = np.where(keyword > 0, keyword, -np.inf)
        if rule.ground is not None:
            scores = rule.ground(scores, self._grounding_boost(query, rows), rows, dense)
        dense_rank = rank_of(rows, dense)
        keyword_rank = rank_of(rows, keyword, positive_only=True)
        order = [i for i in np.argsort(-scores, kind="stable")[:k] if np.isfinite(scores[i])]
        passages = self.passages.fetch(rows[order])
        hits = [
            hit_from(passage, scores[i], dense_rank.get(int(rows[i])), keyword_rank.get(int(rows[i])))
            for i, passage in zip(order, passages)
        ]
        return hits, rows[order], passages, sentence_sims

    def _exact_scores(self, query: str, mode: SearchMode, allowed: np.ndarray | None, vector: np.ndarray | None):
        """(rows, scores, dense, keyword, sentence similarities) with every row that passes scored."""
        rule = mode.rule
        rows = np.flatnonzero(allowed) if allowed is not None else np.arange(len(self.passages))
        dense = sentence_sims = keyword = None
        if rule.dense:
            dense, sentence_sims = self.dense_scores(vector)
            dense = dense[rows]
        if rule.keyword:
            keyword = self.keyword_scores(query)[rows]
        return rows, rule.fuse(rows, dense, keyword), dense, keyword, sentence_sims

    def _grounding_boost(self, query: str, rows: np.ndarray) -> np.ndarray:
        """``search.grounding.BOOST`` for the ``rows`` whose post the query names, else 0 (the mode's
        ``ModeRule.ground`` says how it enters: hybrid adds it; hybrid-rrf ranks those rows by dense score)."""
        paths = [meta.path for meta in self.posts.ordered()]
        return grounding_boost(self.grounded_posts(query), paths, self._post_of_row, rows)

    def _candidates(self) -> CandidateSearch | None:
        """The candidate path, when this generation has an ANN graph (written past ``ANN_MIN_ROWS``)."""
        return self._candidate_search

    def facets(self) -> Facets:
        """Every author and tag, and the posts' date range: what the app offers as filters."""
        return self.store.facets()

    def ask(
        self,
        question: str,
        k: int = 5,
        author: str | None = None,
        tag: str | None = None,
        since=None,
        until=None,
        post: str | None = None,
        cross_encoder: str | None = None,
    ):
        """An extractive ``Answer``: the answering sentences with citations, the supporting passages with
        those sentences marked, a confidence (0–1), and ``abstained`` with a ``reason`` when the reports don't
        seem to say. Each answer sentence's citation is its own talk and lines. Raises as ``search`` does."""
        from tripsearch.answer.pipeline import answer_question

        model = self._cross_encoder(cross_encoder) if cross_encoder else None
        return answer_question(self, question, k, Filters.of(author, tag, since, until, post), model)

    def _cross_encoder(self, path: str):
        with self._encoder_lock:
            cache = self.__dict__.setdefault("_cross_encoders", {})
            if path not in cache:
                from tripsearch.errors import ModelNotFound, ModelProblem

                if not Path(path).is_dir():  # never a hub id: nothing is downloaded at run time
                    raise ModelNotFound(f"{path}: no cross-encoder folder here")
                from sentence_transformers import CrossEncoder

                try:
                    cache[path] = CrossEncoder(path, device="cpu")
                except Exception as exc:  # a folder that is not a cross-encoder
                    raise ModelProblem(f"{path}: cannot load the cross-encoder ({type(exc).__name__}: {exc})") from None
            return cache[path]

    def related(self, passage_id: str, k: int = 5) -> list[Hit]:
        """Passages on the same topic from other posts (other conferences, other years): one per post, best
        first by passage cosine. Raises ``PassageNotFound`` for an id not in this index."""
        row = self.row_of(passage_id)
        self._exact_ready()
        sims = self._vectors @ self._vectors[row]
        chosen, seen = [], {int(self._post_of_row[row])}
        for other in np.argsort(-sims):
            post = int(self._post_of_row[other])
            if post in seen:
                continue
            seen.add(post)
            chosen.append(int(other))
            if len(chosen) == k:
                break
        return [
            hit_from(passage, float(sims[other]), dense_rank=rank)
            for rank, (other, passage) in enumerate(zip(chosen, self.passages.fetch(chosen)), start=1)
        ]

    def row_of(self, passage_id: str) -> int:
        """The row (0…n-1: SQLite row, FAISS vector) of a passage id; ``PassageNotFound`` if it is not here."""
        with self._sql_lock:
            row = row_of_id(self._con, passage_id)
        if row is None:
            raise PassageNotFound(f"no passage with id {passage_id!r} in this index")
        return row

    def passage(self, passage_id: str) -> Passage:
        """The ``Passage`` with this id; ``PassageNotFound`` if it is not here."""
        return self.passages[self.row_of(passage_id)]
