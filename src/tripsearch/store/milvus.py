"""``MilvusStore``: the ``store.seam.PassageStore`` of an index on a Milvus server (issue 15), and
``open_milvus_store``, which checks the address, the collection and its metadata record before returning one.

Rows are this store's 0…n-1 numbering, made at open from the passage ids (posts in path order, passages in post
order) with each row's post and sentence count, so a search's candidates and the answer stage's sentence rows
work as they do over the local store. The search stage's arithmetic runs here, on what Milvus returns: dense
candidates come from Milvus's HNSW search (filters inside the search, as a filter expression), and each candidate
is then scored exactly as ``LocalStore`` scores it (0.3·passage + 0.7·best-sentence cosine, ``search.fusion``),
from its passage and sentence vectors read back by id. BM25 is Milvus's, over FTS5's columns and weights.

What a reader sees is the build the alias named when it opened (the collection is pinned): a rebuild moves the
alias and leaves that collection in place (the previous build is kept, as the local store keeps two generations).
An incremental update writes into the live collection; a store opened before it keeps its row numbering and
raises ``IndexProblem`` if it asks for a passage that update removed (open it again).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from tripsearch.errors import IndexMismatch, IndexNotFound, IndexProblem
from tripsearch.passages import CHUNKER_VERSION
from tripsearch.records import Passage, PostMeta, SkippedFile
from tripsearch.search.fusion import SentenceMatrix, dense_scores
from tripsearch.search.keyword import query_terms
from tripsearch.store.database import StoredPost
from tripsearch.store.local import STAT_SAMPLE, sentence_rows
from tripsearch.store.milvus_schema import (
    FORMAT,
    KEYWORD_FIELD,
    PASSAGE_FIELDS,
    POST_FIELDS,
    MilvusAddress,
    analysed,
    connect,
    in_list,
    parse_address,
    passage_of,
    posts_of,
    properties,
    read_all,
    sentences_of,
    server_errors,
    stored_post_of,
)
from tripsearch.store.seam import Facets, KeywordTop

MAX_TOPK = 16_384  # Milvus's cap on one search's limit (and on a query's offset + limit)
GET_BATCH = 1000  # ids per get/query call: keeps expressions and messages small


def live_collection(client, address: MilvusAddress) -> str | None:
    """The passage collection the index's alias names, or None when there is no such index. Raises
    ``IndexMismatch`` when the name is a plain collection, not an alias: another application's data, which a build
    could not switch an alias onto (it used to embed everything, then fail, leaving three collections behind)."""
    if address.name not in client.list_aliases().get("aliases", []):
        if client.has_collection(address.name):
            raise IndexMismatch(
                f"{address}: {address.name} is a collection on this server that is not a tripsearch index; "
                "choose another index name"
            )
        return None
    return client.describe_alias(address.name)["collection_name"]


def keyword_text(question: str) -> str:
    """The question as Milvus's BM25 search takes it: ``search.keyword.query_terms`` (stop words out, identifiers
    with their parts, CJK bigrams, quoted phrases), each ``analysed`` as the keyword fields are (synthetic tokens
    for ``C++``/``node.js``, Porter stems). A phrase becomes its words: BM25 search has no phrase match (FTS5
    has), so "tail sampling" ranks passages with both words, side by side or not."""
    return " ".join(dict.fromkeys(t for term in query_terms(question) for t in analysed(term).split()))


class MilvusStore:
    """One index on a Milvus server, opened (``open_milvus_store``). Thread-safe as pymilvus's client is."""

    def __init__(self, client, address: MilvusAddress, collection: str, record: dict[str, str]):
        self.client, self.address, self.collection = client, address, collection
        self.record = record
        self.model_fingerprint, self.dim = record["model_fingerprint"], int(record["dim"])
        self.model = record.get("model", "")
        with server_errors(address, "reading the index"):
            for name in (collection, sentences_of(collection), posts_of(collection)):
                client.load_collection(name)
            stored = [stored_post_of(row) for row in read_all(client, posts_of(collection), POST_FIELDS)]
            heads = read_all(client, collection, ["id", "post", "ordinal", "n_sentences"])
        self.stored: dict[str, StoredPost] = {p.meta.path: p for p in sorted(stored, key=lambda p: p.meta.path)}
        self.post_list: list[PostMeta] = [p.meta for p in self.stored.values()]
        position = {path: i for i, path in enumerate(self.stored)}
        heads.sort(key=lambda r: (r["post"], r["ordinal"]))
        self.ids = np.array([r["id"] for r in heads], dtype=object)
        self._row = {pid: row for row, pid in enumerate(self.ids)}
        self.post_of_row = np.array([position.get(r["post"], -1) for r in heads], dtype=np.int64)
        self.matrix = SentenceMatrix(np.zeros((0, self.dim), dtype=np.float32), [r["n_sentences"] for r in heads])
        self.sentence_count = int(self.matrix.counts.sum())
        self._sample = None

    # ---- the seam -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ids)

    def fetch(self, rows: Sequence[int]) -> list[Passage]:
        ids = [self.ids[int(r)] for r in rows]
        found = {}
        with server_errors(self.address, "reading passages"):
            for lo in range(0, len(ids), GET_BATCH):
                for row in self.client.get(self.collection, ids=ids[lo : lo + GET_BATCH], output_fields=PASSAGE_FIELDS):
                    found[row["id"]] = row
        missing = [pid for pid in ids if pid not in found]
        if missing:
            raise IndexProblem(
                f"{self.address}: passage {missing[0]} was removed since the index was opened; open it again"
            )
        return [passage_of(found[pid], self.stored[found[pid]["post"]].meta) for pid in ids]

    def row_of(self, passage_id: str) -> int | None:
        return self._row.get(passage_id)

    def dense_candidates(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        """Milvus's HNSW search, ``allowed`` applied inside it as a filter expression (``expression``), so k rows
        come back when k pass; ef is at least k (Milvus requires it)."""
        expr = self.expression(allowed)
        if expr is None:
            return np.zeros(0, dtype=np.int64)
        k = min(k, MAX_TOPK)
        with server_errors(self.address, "searching"):
            found = self.client.search(
                self.collection,
                data=[np.asarray(query, dtype=np.float32).tolist()],
                anns_field="dense",
                limit=k,
                filter=expr,
                search_params={"metric_type": "COSINE", "params": {"ef": max(k, 64)}},
                output_fields=["id"],
            )
        rows = [self._row.get(hit["id"]) for hit in found[0]]
        return np.array([r for r in rows if r is not None], dtype=np.int64)

    def dense_scores(self, rows: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``LocalStore.dense_scores``'s formula: passage cosines from the passage vectors read back by id, sentence
        cosines from a search of the sentence collection filtered to these passages (FLAT: exact, every sentence
        returned; measured on the real corpus through milvus-lite, 1,200 passages: 563 ms against 1,785 ms for
        reading their 7,960 sentence vectors back, same cosines to 1e-7)."""
        rows = np.asarray(rows, dtype=np.int64)
        index, local = sentence_rows(self.matrix, rows)
        passage_sims = self.passage_vectors(rows) @ query
        sims = self._sentence_sims(rows, query)
        return dense_scores(passage_sims, _best(passage_sims, sims, local, self.matrix.counts[rows] > 0)), index, sims

    def dense_sample(self, query: np.ndarray) -> np.ndarray:
        if self._sample is None:  # the same fixed sample of rows as LocalStore's, read once
            rng = np.random.default_rng(0)
            rows = np.sort(rng.choice(len(self), size=min(STAT_SAMPLE, len(self)), replace=False))
            _, local = sentence_rows(self.matrix, rows)
            self._sample = (*self._vectors(rows), local, self.matrix.counts[rows] > 0)
        vectors, sentences, local, has = self._sample
        passage_sims = vectors @ query
        return dense_scores(passage_sims, _best(passage_sims, sentences @ query, local, has))

    def keyword_top(self, question: str, limit: int) -> KeywordTop:
        """Milvus's BM25 over the keyword field (``milvus_schema.keyword_document``: FTS5's columns and weights). The
        count, sum and sum of squares are over every match Milvus returns (up to ``MAX_TOPK``). Scores are taken as
        magnitudes: milvus-lite returns them negated, Milvus positive (tests/test_milvus_capabilities.py)."""
        text = keyword_text(question)
        if not text or not len(self):
            return KeywordTop([], 0, 0.0, 0.0)
        scores = np.zeros(len(self), dtype=np.float64)
        with server_errors(self.address, "searching"):
            found = self.client.search(
                self.collection,
                data=[text],
                anns_field=f"{KEYWORD_FIELD}_bm25",
                limit=min(len(self), MAX_TOPK),
                output_fields=["id"],
            )
            for hit in found[0]:
                row = self._row.get(hit["id"])
                if row is not None:
                    scores[row] = abs(hit["distance"])
        matched = np.flatnonzero(scores > 0)
        best = matched[np.argsort(-scores[matched], kind="stable")][:limit]
        values = scores[matched]
        return KeywordTop(
            [(int(r), float(scores[r])) for r in best], len(matched), float(values.sum()), float((values**2).sum())
        )

    def facets(self) -> Facets:
        return Facets.of(self.post_list)

    # ---- beyond the seam ------------------------------------------------------------------

    @property
    def skipped(self) -> list[SkippedFile]:
        """Files the last build could not read, and why (``Index.skipped`` of a local index)."""
        return [SkippedFile(path, reason) for path, reason in json.loads(self.record.get("skipped", "[]"))]

    def expression(self, allowed: np.ndarray | None) -> str | None:
        """A Milvus filter expression for the rows ``allowed`` lets through: "" for every row, None for none.

        Filters look at posts (``search.filters``), so a mask is a set of whole posts and becomes ``post in [...]``
        (or ``not (post in [...])``, whichever list is shorter); a mask that splits a post falls back to ids."""
        if allowed is None or allowed.all():
            return ""
        if not allowed.any():
            return None
        posts = len(self.post_list)
        total = np.bincount(self.post_of_row, minlength=posts)
        passing = np.bincount(self.post_of_row[allowed], minlength=posts)
        if np.any((passing > 0) & (passing < total)):
            return in_list("id", self.ids[allowed])
        paths = np.array([meta.path for meta in self.post_list], dtype=object)
        inside, outside = paths[(passing > 0) & (total > 0)], paths[(passing == 0) & (total > 0)]
        return in_list("post", inside) if len(inside) <= len(outside) else f"not ({in_list('post', outside)})"

    def passage_vectors(self, rows: Sequence[int]) -> np.ndarray:
        """The passage vectors of ``rows`` (len, dim), read back by id (what ``Index.related`` starts from)."""
        return self._vectors(np.asarray(rows, dtype=np.int64), with_sentences=False)[0]

    def _sentence_sims(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Cosine of ``query`` with every sentence of ``rows``, in sentence-row order (0 for one not found)."""
        ids = [self.ids[r] for r in rows]
        counts = self.matrix.counts[rows]
        first = {pid: int(start) for pid, start in zip(ids, np.cumsum(counts) - counts)}
        sims = np.zeros(int(counts.sum()), dtype=np.float32)
        vector = [np.asarray(query, dtype=np.float32).tolist()]
        with server_errors(self.address, "scoring sentences"):
            for lo in range(0, len(ids), GET_BATCH):
                for group in _by_count(ids[lo : lo + GET_BATCH], counts[lo : lo + GET_BATCH], MAX_TOPK):
                    limit = int(sum(int(self.matrix.counts[self._row[pid]]) for pid in group))
                    if not limit:
                        continue
                    found = self.client.search(
                        sentences_of(self.collection),
                        data=vector,
                        anns_field="vector",
                        filter=in_list("passage", group),
                        limit=limit,
                        search_params={"metric_type": "COSINE"},
                        output_fields=["passage", "pos"],
                    )
                    for hit in found[0]:
                        at = first[hit["entity"]["passage"]] + int(hit["entity"]["pos"])
                        if at < len(sims):
                            sims[at] = hit["distance"]
        return sims

    def _vectors(self, rows: np.ndarray, with_sentences: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(passage vectors of ``rows`` (len, dim), their sentence vectors in sentence-row order (m, dim); the
        latter empty unless ``with_sentences``)."""
        ids = [self.ids[r] for r in rows]
        counts = self.matrix.counts[rows]
        first = {pid: int(start) for pid, start in zip(ids, np.cumsum(counts) - counts)}
        vectors = np.zeros((len(ids), self.dim), dtype=np.float32)
        sentences = np.zeros((int(counts.sum()) if with_sentences else 0, self.dim), dtype=np.float32)
        place = {pid: i for i, pid in enumerate(ids)}
        with server_errors(self.address, "reading vectors"):
            for lo in range(0, len(ids), GET_BATCH):
                batch = ids[lo : lo + GET_BATCH]
                for row in self.client.get(self.collection, ids=batch, output_fields=["dense"]):
                    vectors[place[row["id"]]] = row["dense"]
                for group in _by_count(batch, counts[lo : lo + GET_BATCH], MAX_TOPK) if len(sentences) else []:
                    for row in self.client.query(
                        sentences_of(self.collection),
                        filter=in_list("passage", group),
                        output_fields=["passage", "pos", "vector"],
                        limit=MAX_TOPK,
                    ):
                        at = first[row["passage"]] + int(row["pos"])
                        if at < len(sentences):
                            sentences[at] = row["vector"]
        return vectors, sentences


def _by_count(ids: list[str], counts: np.ndarray, cap: int) -> list[list[str]]:
    """``ids`` in groups whose counts sum to at most ``cap`` (one query's row limit)."""
    groups, group, total = [], [], 0
    for pid, count in zip(ids, counts):
        if group and total + count > cap:
            groups.append(group)
            group, total = [], 0
        group.append(pid)
        total += int(count)
    return groups + [group] if group else groups


def _best(passage_sims: np.ndarray, sims: np.ndarray, local: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Best sentence cosine per passage (its own cosine when it has no prose sentence): ``store.local``'s rule."""
    best = passage_sims.copy()
    if has.any():
        best[has] = np.maximum.reduceat(sims, local[has])
    return best


def check_record(address: MilvusAddress, record: dict[str, str], model_fingerprint: str | None) -> None:
    """The metadata record against this code and the model asked for. Raises ``IndexMismatch`` (one line)."""
    if record.get("format") != FORMAT:
        raise IndexMismatch(
            f"{address}: index format {record.get('format')!r}, this version reads {FORMAT}; rebuild it"
        )
    if record.get("chunker") != CHUNKER_VERSION:
        raise IndexMismatch(
            f"{address}: built with chunker version {record.get('chunker')}, this version splits posts with "
            f"{CHUNKER_VERSION}; run `tripsearch index` again to update it"
        )
    if model_fingerprint is not None and record.get("model_fingerprint") != model_fingerprint:
        raise IndexMismatch(
            f"{address}: this index was built with model {record.get('model')} (fingerprint "
            f"{record.get('model_fingerprint')}); asked for fingerprint {model_fingerprint}. Vectors of two models "
            "cannot be mixed: rebuild it with that model, or use another index name"
        )


def open_milvus_store(address: str | MilvusAddress, model_fingerprint: str | None = None, client=None) -> MilvusStore:
    """Open the index at ``milvus://HOST:PORT/NAME`` for searching.

    ``model_fingerprint``: the fingerprint (``embed.models.ModelRef.fingerprint``) of the model queries will be
    embedded with; None skips that check (the caller then embeds with ``store.model``). Raises ``BadInput`` (not an
    address), ``IndexUnreachable`` (no server answers), ``IndexNotFound`` (no index of that name), ``IndexMismatch``
    (another format, chunker or model) — each one line naming the address."""
    address = parse_address(address) if isinstance(address, str) else address
    client = client or connect(address)
    with server_errors(address, "opening the index"):
        collection = live_collection(client, address)
        if collection is None or not client.has_collection(collection):
            raise IndexNotFound(
                f"{address}: no tripsearch index named {address.name} on this server; build it with "
                f"`tripsearch index POSTS --index {address}`"
            )
        record = properties(client, collection)
    check_record(address, record, model_fingerprint)
    return MilvusStore(client, address, collection, record)
