"""``Index``: the library's front door. Build, open, update and search one index folder.

The state of one opened generation is a ``store.opened.OpenedGeneration`` (``update`` swaps it for the new
one in one assignment); scoring is ``search.ranking``; the answer stage is ``answer.pipeline``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tripsearch.records import Hit, Passage, ScoredPassage, SkippedFile
from tripsearch.search import ranking
from tripsearch.search.blocks import group_windows
from tripsearch.search.candidates import CandidateSearch
from tripsearch.search.filters import Filters
from tripsearch.search.fusion import SentenceMatrix
from tripsearch.search.modes import SearchMode
from tripsearch.store import generations as gen
from tripsearch.store.opened import OpenedGeneration, open_current
from tripsearch.store.rows import PassageRows, PostTable
from tripsearch.store.seam import Facets, PassageStore
from tripsearch.store.segmented_opened import SegmentedGeneration
from tripsearch.store.targets import milvus_address, update_target
from tripsearch.store.vectors import VECTORS_FILE, read_vectors

if TYPE_CHECKING:  # the build pulls in the markdown and sentence machinery: not needed to search
    from tripsearch.build import BuildProgress, BuildReport
    from tripsearch.store.milvus_opened import MilvusGeneration

MODES = tuple(mode.value for mode in SearchMode)  # the names, for callers that list them (notebooks)
BLOCK_POOL = 3  # passages looked at per hit asked for: windows of one talk fold into one hit (search.blocks)
DEFAULT_INDEX = Path("index")


def _open_state(target: Path | str) -> OpenedGeneration | MilvusGeneration:
    """The live generation of an index folder, or the live build of a ``milvus://`` address (``store.targets``)."""
    address = milvus_address(target)
    if address is None:
        return open_current(Path(target))
    from tripsearch.store.milvus_opened import open_milvus

    return open_milvus(address)


class _Models:
    """The loaded models (encoder, cross-encoders by folder), shared by an ``Index`` and the views of it that
    ``ask`` pins to one generation; they outlive updates. ``lock`` also guards the understander's first build."""

    def __init__(self, encoder=None):
        self.encoder = encoder
        self.given = encoder is not None  # handed in by the caller, not loaded from the index's manifest
        self.lock = threading.Lock()
        self.cross_encoders: dict = {}


class Index:
    """One index folder's live generation, loaded for searching. Cheap to open; the model loads on first use.

    Everything of the generation (database, maps, metadata learnt from it) is one ``OpenedGeneration``;
    ``update`` replaces it whole. The encoder and any cross-encoder belong to the ``Index`` and outlive updates.
    """

    def __init__(self, opened: OpenedGeneration | MilvusGeneration, encoder=None, models: _Models | None = None):
        self._opened = opened
        self._models = models or _Models(encoder)

    def _local(self, what: str) -> OpenedGeneration:
        """This index's generation folder, for what only a folder has; ``BadInput`` (one line) on a server."""
        if not isinstance(self._opened, OpenedGeneration):
            from tripsearch.errors import BadInput

            if isinstance(self._opened, SegmentedGeneration):
                raise BadInput(
                    f"{self.index_dir}: {what} needs a one-segment index; this one holds an update's delta "
                    "(store.segments): run `tripsearch index --rebuild` to merge it"
                )
            raise BadInput(f"{self.index_dir}: {what} needs an index folder; this index is on a Milvus server")
        return self._opened

    def _pinned(self) -> Index:
        """A view of this index that keeps reading today's generation whatever ``update`` does meanwhile (the
        answer stage asks the index several times per question), with the same models."""
        return Index(self._opened, models=self._models)

    # ---- the opened generation ------------------------------------------------------------
    @property
    def index_dir(self) -> Path:
        """The index folder (it holds ``CURRENT`` and the generation folders); for a server index its
        ``milvus://`` address (text)."""
        return self._opened.index_dir

    @property
    def generation(self) -> Path:
        """The generation folder this index reads (``index_dir/gen-…``); for a server index the name of the
        collection its alias named when opened (text)."""
        return self._opened.generation

    @property
    def manifest(self) -> gen.Manifest:
        """The generation's manifest: model, fingerprint, dims, posts folder, files and their checksums."""
        return self._opened.manifest

    @property
    def posts(self) -> PostTable:
        """Every post's metadata by path (``posts.ordered()``: all of them in row order)."""
        return self._opened.posts

    @property
    def passages(self) -> PassageRows:
        """Every passage by row (0…n-1), read from SQLite when first asked for."""
        return self._opened.passages

    @property
    def skipped(self) -> list[SkippedFile]:
        """The files the build could not read, with why."""
        return self._opened.skipped

    @property
    def sentences(self) -> SentenceMatrix:
        """Every prose sentence's vector, grouped by passage row."""
        return self._opened.sentences

    @property
    def store(self) -> PassageStore | None:
        """The ``store.seam.PassageStore`` the search stage asks (None once closed)."""
        return self._opened.store

    @property
    def _vectors(self) -> np.ndarray:
        """The passage vectors, n × dim float32 (mapped until the first exact search reads them in)."""
        return self._local("the vector file").vectors

    @property
    def _faiss(self):
        """The passage vectors as a FAISS index read into RAM (for tools and tests; search uses the map)."""
        return read_vectors(self._local("the vector file").generation / VECTORS_FILE, self.manifest.dim)

    # ---- building and opening -------------------------------------------------------------
    @classmethod
    def open(cls, index_dir: Path | str = DEFAULT_INDEX, encoder=None) -> Index:
        """Open the live generation of ``index_dir``; ``encoder`` reuses an already loaded model. ``index_dir``
        may be ``milvus://HOST:PORT/NAME``: the index on that Milvus server (``store.milvus_opened``).

        Raises ``IndexNotFound`` (no index there yet), ``IndexCorrupt`` (a file is damaged or does not match
        its manifest), ``IndexMismatch`` (another index format), ``IndexUnreachable`` (no server answers at the
        address); all are ``tripsearch.errors.IndexProblem``. ``BadInput`` for a malformed address.
        """
        return cls(_open_state(index_dir), encoder)

    @classmethod
    def build(
        cls,
        posts_dir: Path | str,
        index_dir: Path | str = DEFAULT_INDEX,
        model: str | None = None,
        rebuild: bool = False,
        progress: BuildProgress | None = None,
    ) -> Index:
        """Build (or update) the index of ``posts_dir`` in ``index_dir`` (a folder, or ``milvus://HOST:PORT/NAME``:
        ``store.targets.update_target``) and open it.

        ``progress`` is called with (tokens embedded so far, tokens to embed). Raises what
        ``tripsearch.build.update_index`` raises (``BadInput`` for a missing posts folder, ``IndexBusy``,
        ``IndexMismatch``, ``ModelNotFound``, ``IndexProblem`` when the index cannot be written) and what
        ``open`` raises. Bad posts never raise: they are in the build report's skipped and warned lists.
        """
        update_target(posts_dir, index_dir, model=model, rebuild=rebuild, progress=progress)
        return cls.open(index_dir)

    def update(self, posts_dir: Path | str | None = None, progress: BuildProgress | None = None) -> BuildReport:
        """Bring the index up to date with ``posts_dir`` (default: the folder it was built from), then read the
        new generation: its whole state (``OpenedGeneration``: database, maps, the metadata the questions are
        understood against) replaces this one's in one assignment; a search already running in another thread
        finishes on the state it started with. The old state is left to the garbage collector, not closed, for
        that reason. The loaded model is kept.

        Returns the ``BuildReport``; raises what ``build`` raises.
        """
        posts_dir = posts_dir or self.manifest.posts_dir
        if not posts_dir:  # a server index built without recording its folder (store.targets does record it)
            from tripsearch.errors import BadInput

            raise BadInput(f"{self.index_dir}: which posts folder? give it (Index.update(posts_dir))")
        report = update_target(posts_dir, self.index_dir, progress=progress)
        if not report.nothing_changed:
            self._opened = _open_state(self.index_dir)
        return report

    def verify(self) -> int:
        """Check every file of this generation against its manifest checksum (reads every byte; opening a
        large index skips it). Returns the bytes checked; raises ``IndexCorrupt`` naming the first bad file."""
        opened = self._opened
        folder = opened.generation if isinstance(opened, SegmentedGeneration) else self._local("verify").generation
        return gen.verify_files(folder, self.manifest)

    def close(self) -> None:
        """Close the database and let go of the mapped vector files (a map holds its file open: an unmount of
        the folder, or a removal on some file systems, would find it busy); on a server, the connection."""
        self._opened.close()

    # ---- searching ------------------------------------------------------------------------
    @property
    def encoder(self):
        """The model the index was built with, loaded on first use. Raises ``IndexMismatch`` when it is gone or
        is not the same model any more (fingerprint or dims)."""
        models = self._models
        with models.lock:
            if models.encoder is None:
                from tripsearch.embed import load_encoder

                # TRIPSEARCH_BACKEND=sentence-transformers forces the slow path (benchmarks compare both).
                from tripsearch.embed.models import ModelNotFound

                try:
                    encoder = load_encoder(self.manifest.model, backend=os.environ.get("TRIPSEARCH_BACKEND", "auto"))
                except ModelNotFound as exc:
                    raise gen.IndexMismatch(
                        f"{self._where()}: built with model {self.manifest.model}, which is not there any more ({exc})"
                    ) from None
                models.encoder = encoder
            encoder = models.encoder
        # Checked for a model handed in too (the app shares one across re-indexes; ``open(..., encoder=...)``):
        # it skipped the check, and an index of another model answered from wrong vectors (a new-user test).
        if encoder.fingerprint != self.manifest.model_fingerprint or encoder.dim != self.manifest.dim:
            raise gen.IndexMismatch(
                f"{self._where()}: built with {self.manifest.model} "
                f"(fingerprint {self.manifest.model_fingerprint}, {self.manifest.dim} dims); the model "
                f"{'given' if self._models.given else 'found now'} has fingerprint {encoder.fingerprint}, "
                f"{encoder.dim} dims. Rebuild the index."
            )
        return encoder

    def _where(self):
        """What an error about the index's model names: the manifest file of a folder, or the server address."""
        opened = self._opened
        local = isinstance(opened, (OpenedGeneration, SegmentedGeneration))
        return opened.generation / gen.MANIFEST if local else opened.index_dir

    def embed_query(self, text: str) -> np.ndarray:
        """The question's unit vector, shape (dim,), float32, from the index's model (loaded on first use)."""
        return self.encoder.encode([text])[0]

    def dense_scores(self, question_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(passage dense scores, sentence similarities) for every row (``search.ranking.dense_scores``)."""
        return ranking.dense_scores(self._local("scoring every row"), question_vector)

    def keyword_scores(self, question: str) -> np.ndarray:
        """BM25 of every row (0 where no query word occurs)."""
        return ranking.keyword_scores(self._local("scoring every row"), question)

    def unknown_words(self, words: list[str]) -> list[str]:
        """The words that no passage of the index contains (after the keyword index's stemming). A word is any
        ``query_terms`` term: ``C++`` is unknown where only plain C occurs; a CJK bigram is found inside text;
        an identifier (``ASP.NET``, ``v1.28``) is known when the reports have it, or each of its parts."""
        return _unknown_words(self._opened, words)

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
        opened = self._opened  # one generation for the whole search, whatever an update does meanwhile
        filters = Filters.of(author, tag, since, until, post)
        found = self._scored(opened, query, k * BLOCK_POOL, filters, mode, None)
        return group_windows([s.hit for s in found], k, lambda passage_id: _talk_of(opened, passage_id))

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
        return self._scored(self._opened, query, k, filters, mode, vector)

    def _scored(self, opened: OpenedGeneration, query, k, filters, mode, vector) -> list[ScoredPassage]:
        hits, rows, passages, sentence_sims = ranking.rank(
            opened,
            query,
            k,
            SearchMode.of(mode),
            filters or Filters(),
            vector,
            self.embed_query,
            lambda question: self._understander(opened).understand(question).restriction(),
        )
        if sentence_sims is None:
            return [ScoredPassage(hit, passage, None) for hit, passage in zip(hits, passages)]
        starts, counts = opened.sentences.starts, opened.sentences.counts
        return [
            ScoredPassage(hit, passage, sentence_sims[starts[row] : starts[row] + counts[row]])
            for hit, row, passage in zip(hits, rows, passages)
        ]

    @property
    def understander(self):
        """The ``answer.understand.Understander`` of this index: events, years, authors and talks learnt from its
        metadata, built once per generation (~0.2 s on the real corpus) and shared by search (grounding) and
        ask. ``update`` brings the new generation's (it lives in the ``OpenedGeneration``)."""
        return self._understander(self._opened)

    def _understander(self, opened: OpenedGeneration):
        with self._models.lock:
            if opened.understander is None:
                from tripsearch.answer.understand import Understander
                from tripsearch.answer.vocabulary import IndexMetadata, SessionRef

                # From the posts table and the heading column (``OpenedGeneration.talks``), not from every
                # passage: the same IndexMetadata as ``IndexMetadata.from_passages`` (checked in the tests) at a
                # quarter of the time on the real corpus, and no passage text read.
                posts, talks = opened.talks()
                metadata = IndexMetadata(tuple(posts), tuple(SessionRef(path, heading) for path, heading in talks))
                opened.understander = Understander.from_metadata(metadata, lambda words: _unknown_words(opened, words))
            return opened.understander

    def grounded_posts(self, question: str) -> frozenset[str] | None:
        """The posts covering every event, year and author that ``question`` names, as the index's own metadata
        knows them (``understander``); None when it names none."""
        return self.understander.understand(question).restriction()

    def talk_of(self, passage_id: str) -> tuple[tuple[str, int], int]:
        """(talk key, ordinal) of a passage: windows of one talk (same post, same heading path, consecutive
        ordinals, which are consecutive rows) share the key ``(post path, ordinal of the talk's first window)``.
        Raises ``PassageNotFound``."""
        return _talk_of(self._opened, passage_id)

    def _candidates(self) -> CandidateSearch | None:
        """The candidate path, when this generation has an ANN graph (written past ``ANN_MIN_ROWS``)."""
        return self._opened.candidates

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
        return answer_question(self._pinned(), question, k, Filters.of(author, tag, since, until, post), model)

    def _cross_encoder(self, path: str):
        with self._models.lock:
            cache = self._models.cross_encoders
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
        opened = self._opened
        if isinstance(opened, OpenedGeneration):
            return ranking.related(opened, self.row_of(passage_id), k)
        return opened.related(self.row_of(passage_id), k)

    def row_of(self, passage_id: str) -> int:
        """The row (0…n-1: SQLite row, FAISS vector) of a passage id; ``PassageNotFound`` if it is not here."""
        return self._opened.row_of(passage_id)

    def passage(self, passage_id: str) -> Passage:
        """The ``Passage`` with this id; ``PassageNotFound`` if it is not here."""
        return self.passages[self.row_of(passage_id)]


# The lookups search.ranking does with SQL on a generation folder; a server index does them itself.
def _unknown_words(opened: OpenedGeneration | MilvusGeneration, words: list[str]) -> list[str]:
    if isinstance(opened, OpenedGeneration):
        return ranking.unknown_words(opened, words)
    return opened.unknown_words(words)


def _talk_of(opened: OpenedGeneration | MilvusGeneration, passage_id: str) -> tuple[tuple[str, int], int]:
    if isinstance(opened, OpenedGeneration):
        return ranking.talk_of(opened, passage_id)
    return opened.talk_of(passage_id)
