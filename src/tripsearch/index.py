"""``Index``: the library's front door. Build, open, update and search one index folder."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from tripsearch.build import BuildProgress, BuildReport, update_index
from tripsearch.records import Hit, Passage, SkippedFile
from tripsearch.search.filters import Filters
from tripsearch.search.fusion import reciprocal_rank_fusion
from tripsearch.search.keyword import keyword_rows
from tripsearch.store import generations as gen
from tripsearch.store.database import DB_FILE, load_passages, load_posts, load_skipped, open_database
from tripsearch.store.vectors import VECTORS_FILE, all_vectors, read_vectors

MODES = ("hybrid", "dense", "keyword")
DEFAULT_INDEX = Path("index")


def hit_from(passage: Passage, score: float, dense_rank: int | None = None, keyword_rank: int | None = None) -> Hit:
    meta = passage.post
    return Hit(
        passage_id=passage.id, text=passage.text, path=meta.path, post_title=meta.title,
        session_title=passage.session_title, heading_path=passage.heading_path,
        start_line=passage.start_line, end_line=passage.end_line, date=meta.date, authors=meta.authors,
        tags=meta.tags, url=meta.url, score=float(score), dense_rank=dense_rank, keyword_rank=keyword_rank,
    )


class Index:
    """One generation of an index, loaded for searching. Cheap to open; the model loads on first use."""

    def __init__(self, index_dir: Path, generation: Path, encoder=None):
        self.index_dir = index_dir
        self.generation = generation
        self.manifest = gen.read_manifest(generation)
        db_path = generation / DB_FILE
        try:
            self._con = open_database(db_path)
            posts = load_posts(self._con)
            self.passages: list[Passage] = load_passages(self._con, posts)
            self.skipped: list[SkippedFile] = load_skipped(self._con)
        except Exception as exc:  # sqlite3.DatabaseError and friends: say which file
            raise gen.IndexCorrupt(f"{db_path}: unreadable ({exc})") from None
        self.posts = {path: stored.meta for path, stored in posts.items()}
        try:
            self._faiss = read_vectors(generation / VECTORS_FILE, self.manifest.dim)
        except ValueError as exc:
            raise gen.IndexCorrupt(str(exc)) from None
        if self._faiss.ntotal != len(self.passages):
            raise gen.IndexCorrupt(
                f"{generation / VECTORS_FILE}: {self._faiss.ntotal} vectors for {len(self.passages)} passages"
            )
        self._vectors = all_vectors(self._faiss)
        self._row_of = {p.id: row for row, p in enumerate(self.passages)}
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        self._sql_lock = threading.Lock()  # one SQLite connection shared by the app's threads

    # ---- building and opening -------------------------------------------------------------
    @classmethod
    def open(cls, index_dir: Path | str = DEFAULT_INDEX) -> "Index":
        index_dir = Path(index_dir)
        for _attempt in range(3):  # a build may swap generations between reading CURRENT and opening
            generation = gen.current_generation(index_dir)
            if generation is None:
                raise gen.IndexNotFound(f"{index_dir}: no index here yet; build one with `tripsearch index POSTS_DIR`")
            if generation.is_dir():
                return cls(index_dir, generation)
        raise gen.IndexCorrupt(f"{index_dir / gen.POINTER}: names {generation.name}, which does not exist")

    @classmethod
    def build(
        cls,
        posts_dir: Path | str,
        index_dir: Path | str = DEFAULT_INDEX,
        model: str | None = None,
        rebuild: bool = False,
        progress: BuildProgress | None = None,
    ) -> "Index":
        update_index(posts_dir, index_dir, model=model, rebuild=rebuild, progress=progress)
        return cls.open(index_dir)

    def update(self, posts_dir: Path | str | None = None, progress: BuildProgress | None = None) -> BuildReport:
        """Bring the index up to date with ``posts_dir`` (default: the folder it was built from), then reload."""
        report = update_index(posts_dir or self.manifest.posts_dir, self.index_dir, progress=progress)
        if not report.nothing_changed:
            fresh = Index.open(self.index_dir)
            fresh._encoder = self._encoder
            self.__dict__.update(fresh.__dict__)
        return report

    def close(self) -> None:
        self._con.close()

    # ---- searching ------------------------------------------------------------------------
    @property
    def encoder(self):
        with self._encoder_lock:
            if self._encoder is None:
                from tripsearch.embed import load_encoder

                encoder = load_encoder(self.manifest.model)
                if encoder.fingerprint != self.manifest.model_fingerprint or encoder.dim != self.manifest.dim:
                    raise gen.IndexMismatch(
                        f"{self.generation / gen.MANIFEST}: built with {self.manifest.model} "
                        f"(fingerprint {self.manifest.model_fingerprint}, {self.manifest.dim} dims); the model found "
                        f"now has fingerprint {encoder.fingerprint}, {encoder.dim} dims. Rebuild the index."
                    )
                self._encoder = encoder
            return self._encoder

    def embed_query(self, text: str) -> np.ndarray:
        return self.encoder.encode([text])[0]

    def dense_ranking(self, question: str, mask: np.ndarray) -> tuple[list[int], np.ndarray]:
        """Rows by cosine similarity to the question, best first, among the rows ``mask`` allows."""
        scores = self._vectors @ self.embed_query(question)
        rows = np.flatnonzero(mask)
        return rows[np.argsort(-scores[rows], kind="stable")].tolist(), scores

    def keyword_ranking(self, question: str, mask: np.ndarray) -> tuple[list[int], dict[int, float]]:
        with self._sql_lock:
            found = keyword_rows(self._con, question, limit=len(self.passages))
        rows = [row for row, _ in found if mask[row]]
        return rows, dict(found)

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        author: str | None = None,
        tag: str | None = None,
        since=None,
        until=None,
        post: str | None = None,
    ) -> list[Hit]:
        """The ``k`` passages that best match ``query``, among those the filters let through."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not query.strip() or not self.passages:
            return []
        mask = Filters.of(author, tag, since, until, post).mask(self.passages)
        dense, dense_scores = self.dense_ranking(query, mask) if mode != "keyword" else ([], None)
        keyword, keyword_scores = self.keyword_ranking(query, mask) if mode != "dense" else ([], {})
        dense_rank = {row: r for r, row in enumerate(dense, start=1)}
        keyword_rank = {row: r for r, row in enumerate(keyword, start=1)}
        if mode == "dense":
            ranked = [(row, float(dense_scores[row])) for row in dense[:k]]
        elif mode == "keyword":
            ranked = [(row, keyword_scores[row]) for row in keyword[:k]]
        else:
            fused = reciprocal_rank_fusion([dense, keyword])
            ranked = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
        return [
            hit_from(self.passages[row], score, dense_rank.get(row), keyword_rank.get(row)) for row, score in ranked
        ]

    def passage(self, passage_id: str) -> Passage:
        try:
            return self.passages[self._row_of[passage_id]]
        except KeyError:
            raise KeyError(f"no passage with id {passage_id!r} in this index") from None
