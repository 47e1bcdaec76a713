"""``MilvusGeneration``: an index on a Milvus server opened for reading, the counterpart of ``store.opened``'s
``OpenedGeneration`` that ``Index`` holds for a ``milvus://`` address (issue 15).

It offers what ``search.ranking`` and ``Index`` read of an opened generation: ``candidates`` (a ``CandidateSearch``
over the ``MilvusStore``, so every search goes through the store seam), ``passages`` and ``posts`` by row,
``post_of_row``, ``sentences`` (the sentence counts per row that the answer stage slices cosines by; no vectors
here), ``row_of``, a ``manifest`` made from the collection's metadata record, ``skipped``, ``talks`` for the
understander, and the lookups ``ranking`` does with SQL for a folder: ``unknown_words``, ``related``, ``talk_of``.
What only a folder has (``verify``, the vector files) is refused by ``Index`` with a one-line ``BadInput``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping

import numpy as np

from tripsearch.records import Hit, Passage, PostMeta
from tripsearch.search.candidates import CandidateSearch
from tripsearch.store import generations as gen
from tripsearch.store.milvus import MilvusStore, open_milvus_store
from tripsearch.store.milvus_schema import KEYWORD_FIELD, analysed, read_all, server_errors
from tripsearch.store.rows import FetchedRows, talks_of
from tripsearch.store.seam import require_row

CACHE_ROWS = 4096  # passages kept after a fetch, as store.rows keeps them: one round trip less per repeat
RELATED_POOL = 50  # nearest passages looked at per related hit asked for (one per post is kept)
WORD_HITS = 50  # BM25 hits read per word by unknown_words to find its tokens side by side


class MilvusPosts(Mapping[str, PostMeta]):
    """path → ``PostMeta`` of the store's posts (read at open); ``ordered()`` in ``post_of_row``'s order."""

    def __init__(self, store: MilvusStore):
        self._list = store.post_list
        self._by_path = {meta.path: meta for meta in self._list}

    def ordered(self) -> list[PostMeta]:
        return self._list

    def __getitem__(self, path: str) -> PostMeta:
        return self._by_path[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_path)

    def __len__(self) -> int:
        return len(self._list)


class MilvusRows(FetchedRows):
    """The store's passages in row order, fetched by id when asked for and the recent ones kept."""

    def __init__(self, store: MilvusStore):
        self._store = store
        self._cache: OrderedDict[int, Passage] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._store)

    def fetch(self, rows) -> list[Passage]:
        """The passages of ``rows`` (ints in 0…n-1), in order; one round trip for those not kept. Raises
        ``IndexError`` for a row out of range, ``IndexProblem`` when the server fails or a passage went away."""
        rows = [int(r) for r in rows]
        for row in rows:
            if not 0 <= row < len(self):
                raise IndexError(f"passage row {row} out of range 0…{len(self) - 1}")
        with self._lock:
            missing = [r for r in dict.fromkeys(rows) if r not in self._cache]
        found = dict(zip(missing, self._store.fetch(missing))) if missing else {}
        with self._lock:
            self._cache.update(found)
            out = [found[r] if r in found else self._cache[r] for r in rows]
            for row in rows:
                if row in self._cache:
                    self._cache.move_to_end(row)
            while len(self._cache) > max(CACHE_ROWS, len(rows)):
                self._cache.popitem(last=False)
        return out

    def __iter__(self) -> Iterator[Passage]:
        for lo in range(0, len(self), 1000):
            yield from self._store.fetch(range(lo, min(lo + 1000, len(self))))


class MilvusGeneration:
    """The live build of ``milvus://HOST:PORT/NAME``, opened (``open_milvus``). Attributes as
    ``OpenedGeneration``'s: ``index_dir`` (the address, text), ``generation`` (the collection's name), ``manifest``
    (``generations.Manifest`` from the metadata record; no files), ``posts``, ``passages``, ``post_of_row``,
    ``skipped``, ``sentences``, ``store``, ``candidates``, ``understander``."""

    def __init__(self, address: str, store: MilvusStore):
        record = store.record
        self.index_dir, self.generation, self.store = address, store.collection, store
        self.manifest = gen.Manifest(
            model=record.get("model", ""),
            model_fingerprint=store.model_fingerprint,
            dim=store.dim,
            chunker_version=record.get("chunker", ""),
            encoder_kind=record.get("encoder_kind", ""),
            posts_dir=record.get("posts_dir", ""),
            built_at=record.get("built_at", ""),
            build_seconds=0.0,
            counts={"posts": len(store.post_list), "passages": len(store), "skipped": len(store.skipped)},
            vectors=record.get("vectors", ""),
        )
        self.posts = MilvusPosts(store)
        self.passages = MilvusRows(store)
        self.post_of_row = store.post_of_row
        self.skipped = store.skipped
        self.sentences = store.matrix  # counts and starts per row; the vectors stay on the server
        self.candidates: CandidateSearch | None = CandidateSearch(store, store.sentence_count)
        self.understander = None
        self._heads: tuple[list[tuple[str, ...]], np.ndarray] | None = None
        self._lock = threading.Lock()

    def _rows_heads(self) -> tuple[list[tuple[str, ...]], np.ndarray]:
        """(every row's heading path, every row's ordinal), read once from the server."""
        with self._lock:
            if self._heads is None:
                store = self.store
                with server_errors(store.address, "reading the headings"):
                    found = read_all(store.client, store.collection, ["id", "heading", "ordinal"])
                headings: list[tuple[str, ...]] = [()] * len(store)
                ordinals = np.zeros(len(store), dtype=np.int64)
                for row in found:
                    at = store.row_of(row["id"])
                    if at is not None:
                        headings[at], ordinals[at] = tuple(row["heading"]), int(row["ordinal"])
                self._heads = (headings, ordinals)
            return self._heads

    def talks(self) -> tuple[list[PostMeta], list[tuple[str, tuple[str, ...]]]]:
        """(every post that has a passage, in the order of its first row; every distinct (post path, heading
        path) with a heading, in row order): ``OpenedGeneration.talks`` over the server's columns."""
        headings, _ = self._rows_heads()
        ordered = self.posts.ordered()
        rows = ((ordered[post].path, heading) for post, heading in zip(self.post_of_row, headings) if post >= 0)
        return talks_of(rows, self.posts)

    def row_of(self, passage_id: str) -> int:
        return require_row(self.store, passage_id)

    def talk_of(self, passage_id: str) -> tuple[tuple[str, int], int]:
        """``search.ranking.talk_of`` from the heading and ordinal columns (no passage fetched): windows of one
        talk are consecutive rows of one post with one heading path and consecutive ordinals."""
        headings, ordinals = self._rows_heads()
        row = first = self.row_of(passage_id)
        post = self.post_of_row
        while first > 0 and post[first - 1] == post[row] and headings[first - 1] == headings[row]:
            if ordinals[first - 1] + 1 != ordinals[first]:
                break
            first -= 1
        path = self.posts.ordered()[post[row]].path
        return (path, int(ordinals[first])), int(ordinals[row])

    def unknown_words(self, words: list[str]) -> list[str]:
        """``search.ranking.unknown_words`` through Milvus's BM25: a word is known when a passage holds its
        analysed tokens side by side (as FTS5's phrase query), or one of its synthetic tokens (``node.js``), or
        each of its parts. Looked for among a word's ``WORD_HITS`` best BM25 passages, which hold its tokens if
        any passage does unless more than that many hold some of them and not all (then it reads as unknown)."""
        from tripsearch.search.terms import _TOKEN, index_text, parts

        store = self.store
        wanted = list(dict.fromkeys(words))
        checks: dict[str, list[str]] = {}  # a term → the token sequences any one of which makes it known
        for word in wanted:
            for term in [word, *parts(word)]:
                if term not in checks:
                    body, tail = index_text(term)
                    phrase = " ".join(analysed(t) for t in _TOKEN.findall(body.lower()))  # as term_expression's
                    options = [phrase] + ([analysed(t) for t in tail] if len(term.split()) == 1 else [])
                    checks[term] = [o for o in options if o]
        terms = [t for t, options in checks.items() if options]
        found: dict[str, bool] = {t: not options for t, options in checks.items()}  # nothing searchable: known
        if terms and len(store):
            with server_errors(store.address, "looking words up"):
                results = store.client.search(
                    store.collection,
                    data=[" ".join(checks[t]) for t in terms],
                    anns_field=f"{KEYWORD_FIELD}_bm25",
                    limit=min(WORD_HITS, len(store)),
                    output_fields=[KEYWORD_FIELD],
                )
            for term, hits in zip(terms, results):
                texts = [f" {hit['entity'][KEYWORD_FIELD]} " for hit in hits]
                found[term] = any(f" {option} " in text for option in checks[term] for text in texts)

        def known(word: str) -> bool:
            pieces = parts(word)
            return found[word] or (bool(pieces) and all(found[p] for p in pieces))

        return [word for word in wanted if not known(word)]

    def related(self, row: int, k: int) -> list[Hit]:
        """``search.ranking.related`` among the ``RELATED_POOL``·k passages nearest to ``row``'s by Milvus's
        dense search: up to ``k`` from other posts, one per post, best first by passage cosine."""
        from tripsearch.search.ranking import related_hits

        store = self.store
        (vector,), _ = store._vectors(np.array([row]), with_sentences=False)
        near = store.dense_candidates(vector, RELATED_POOL * k, None)
        sims = store._vectors(near, with_sentences=False)[0] @ vector if len(near) else np.zeros(0)
        return related_hits(self.passages, self.post_of_row, row, near, sims, k)

    def close(self) -> None:
        """Close the connection to the server."""
        if self.store is not None:
            self.store.client.close()
        self.store = self.candidates = None


def open_milvus(address: str) -> MilvusGeneration:
    """The live build of the index at ``address`` (``milvus://HOST:PORT/NAME``), opened. The model is checked when
    it is loaded (``Index.encoder``, against ``manifest``). Raises ``BadInput`` (not an address),
    ``IndexUnreachable``, ``IndexNotFound``, ``IndexMismatch`` (another format or chunker): one line each."""
    return MilvusGeneration(address, open_milvus_store(address))
