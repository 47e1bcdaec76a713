"""What a tripsearch index looks like on a Milvus server (issue 15): its address, its three collections, and the
conversion between our records and their rows. ``store.milvus`` reads them, ``store.milvus_build`` writes them.

An index ``milvus://HOST:PORT/NAME`` is the alias ``NAME``. It points at the passage collection of one build,
``NAME__g<UTC stamp>``; beside it sit ``…_sentences`` (one row per prose sentence vector, keyed by passage id and
position) and ``…_posts`` (post metadata and file state, for filters, facets and incremental updates). A full
rebuild writes a new trio and moves the alias (``alter_alias``: readers see one build or the other). The passage
collection's properties are the metadata record (model fingerprint, chunker version, how vectors were made):
properties, not the description, which milvus-lite does not keep (tests/test_milvus_capabilities.py).

Keyword search is Milvus's ``BM25`` function over one field holding the FTS5 table's three columns (post terms,
heading path, text) weighted as FTS5 weighs them (``keyword_document``), as ``analysed`` text: the tokens FTS5 indexes (``search.terms.fts_text``:
CJK bigrams, synthetic tokens for ``C++``/``node.js``; lower-cased, diacritics removed, Porter-stemmed as FTS5's
``porter unicode61 remove_diacritics 2`` does). Milvus's own analyzer then only splits at the spaces, so the terms
are the local store's on any server (milvus-lite has no stemmer; Milvus's ``english`` one is Porter2, not Porter).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from tripsearch.errors import BadInput, IndexUnreachable
from tripsearch.records import Passage, PassagePart, PostMeta, SentenceSpan
from tripsearch.search.keyword import WEIGHTS
from tripsearch.search.terms import tokens
from tripsearch.store.database import FileState, StoredPost, _post_terms

SCHEME = "milvus://"
DEFAULT_PORT = 19530  # Milvus's own default (milvus.io/docs, "Run Milvus with Docker Compose")
TIMEOUT = 30.0  # seconds for one call; connecting fails at once when nothing listens
FORMAT = "1"  # of the collections' layout; another one is rebuilt, never read
KEYWORD_FIELD = "keywords"  # the analysed text BM25 reads (keyword_document); its sparse vector is "keywords_bm25"
MAX_VARCHAR = 65_535  # Milvus's limit on a VARCHAR, in bytes
DAY0 = dt.date(1970, 1, 1)
NO_DAY = -(10**9)  # an undated post: far below any date filter

# Strong: a search after an update sees it (as a local generation is complete when published). Milvus's default,
# Bounded, is faster on a cluster but may answer from a view a few seconds old (milvus.io/docs, "Consistency Level").
CONSISTENCY = "Strong"
PROPERTY = "tripsearch."  # prefix of our collection properties (the metadata record)
MAX_NAME = 181  # Milvus names hold 255 characters; a build's collections add "__g<20-digit stamp>_sentences"
_NAME = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_NAME - 1}}}")  # Milvus names: letters, digits, underscores


class MilvusAddress(NamedTuple):
    host: str
    port: int
    name: str

    @property
    def _netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"  # IPv6 in brackets

    @property
    def uri(self) -> str:
        return f"http://{self._netloc}"

    def __str__(self) -> str:
        return f"{SCHEME}{self._netloc}/{self.name}"


def parse_address(address: str) -> MilvusAddress:
    """``milvus://HOST[:PORT]/NAME`` → ``MilvusAddress`` (port 19530 when left out). Raises ``BadInput``."""
    match = re.fullmatch(r"milvus://(\[[^\]]+\]|[^:/\s]+)(?::(\d{1,5}))?/([^/\s]+)/?", address.strip())
    if match is None:
        raise BadInput(f"{address}: not an index address; expected milvus://HOST:PORT/NAME")
    host, port, name = match.group(1).strip("[]"), int(match.group(2) or DEFAULT_PORT), match.group(3)
    if not 0 < port < 65536:
        raise BadInput(f"{address}: port {port} is out of range")
    if len(name) > MAX_NAME:
        raise BadInput(f"{address}: the index name is {len(name)} characters long; at most {MAX_NAME} fit")
    if _NAME.fullmatch(name) is None:
        raise BadInput(
            f"{address}: index name {name!r} must be letters, digits and underscores, not starting with a digit"
        )
    return MilvusAddress(host, port, name)


def connect(address: MilvusAddress):
    """A ``pymilvus.MilvusClient`` for the address. Raises ``IndexUnreachable`` (one line) when nothing answers."""
    # gRPC's C core logs to stderr by itself (a long build printed "GOAWAY … too_many_pings", a new-user test
    # found): every failure reaches the user as one line from us, so its own log stays off unless asked for.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    from pymilvus import MilvusClient, MilvusException

    quiet_pymilvus()
    try:
        client = MilvusClient(uri=address.uri, timeout=TIMEOUT)
        client.get_server_version()
    except MilvusException as exc:
        raise IndexUnreachable(
            f"{address}: no Milvus server answers at {address.uri} ({exc.message}); start it, or check the address"
        ) from None
    return client


def quiet_pymilvus() -> None:
    """pymilvus logs every failed call with a traceback at ERROR; we turn those failures into one-line errors, so
    its log stays quiet unless the application configured that logger itself. (milvus-lite also makes every
    ``query_iterator`` warn that it has no MVCC timestamp to give, and a server that went away makes the
    connection manager log its failed reconnect with a traceback.)"""
    for name in (
        "pymilvus.decorators",
        "pymilvus.client.iterator.query_iterator",
        "pymilvus.client.connection_manager",
    ):
        log = logging.getLogger(name)
        if log.level == logging.NOTSET:
            log.setLevel(logging.CRITICAL)


@contextlib.contextmanager
def server_errors(address: MilvusAddress, doing: str):
    """Turn a failed call (the server went away, a timeout) into a one-line ``IndexUnreachable``."""
    from pymilvus import MilvusException

    try:
        yield
    except MilvusException as exc:
        raise IndexUnreachable(f"{address}: Milvus failed while {doing} ({exc.message})") from None


def sentences_of(collection: str) -> str:
    return f"{collection}_sentences"


def posts_of(collection: str) -> str:
    return f"{collection}_posts"


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression (JSON escaping: quotes and backslashes)."""
    return json.dumps(value, ensure_ascii=False)


def in_list(field: str, values) -> str:
    return f"{field} in [{', '.join(quote(v) for v in values)}]"


_STEMMABLE = re.compile(r"[a-z]{3,64}")


@lru_cache(maxsize=200_000)
def _term(token: str) -> str:
    """One token as FTS5's ``porter unicode61 remove_diacritics 2`` stores it: diacritics off, then Porter's stem
    (snowballstemmer's ``porter``, the original algorithm that SQLite's porter tokenizer implements)."""
    import snowballstemmer

    plain = "".join(c for c in unicodedata.normalize("NFKD", token) if not unicodedata.combining(c))
    # SQLite's porter tokenizer stems only tokens of 3 to 64 letters a-z (fts5_tokenize.c); others pass through.
    return _stemmer(snowballstemmer).stemWord(plain) if _STEMMABLE.fullmatch(plain) else plain


@lru_cache(maxsize=1)
def _stemmer(module):
    return module.stemmer("porter")


def analysed(text: str) -> str:
    """``text`` as the BM25 fields hold it, and as a query is written for them: its keyword-index tokens
    (``search.terms.tokens``), each normalised and stemmed as FTS5 does (``_term``), joined by spaces."""
    return " ".join(_term(t) for t in tokens(text))


def keyword_document(passage: Passage) -> str:
    """The BM25 text of a passage: FTS5's three columns (post terms, heading path, text), ``analysed``, each written
    as many times as its weight in ``search.keyword.WEIGHTS`` (2, 2, 1).

    FTS5's bm25() is one BM25 over the whole row in which a hit in column c counts w_c times (SQLite's FTS5 docs,
    "The bm25() function"), so repeating a column w_c times gives the same term frequencies (the row's length
    then counts those columns twice). Measured on the real corpus through milvus-lite (89 dev questions,
    keyword mode of search.candidates, benchmarks/milvus_store.py): three separate BM25 fields summed with the
    weights gave hit@1 0.348, against 0.629 for FTS5: each short field's BM25 saturates on its own."""
    columns = (_post_terms(passage.post), " ".join(passage.heading_path), passage.text)
    return " ".join(" ".join([analysed(text)] * round(w)) for text, w in zip(columns, WEIGHTS) if text.strip())


def _day(date: dt.date | None) -> int:
    return (date - DAY0).days if date else NO_DAY


def _fit(text: str) -> str:
    """``text`` cut to Milvus's VARCHAR limit (bytes), at a character boundary; for keyword fields only."""
    data = text.encode()
    return text if len(data) <= MAX_VARCHAR else data[:MAX_VARCHAR].decode(errors="ignore")


def passage_row(passage: Passage, vector) -> dict:
    """The passage collection's row for one passage and its (dim,) vector."""
    meta = passage.post
    return {
        "id": passage.id,
        "post": meta.path,
        "ordinal": passage.ordinal,
        "session": passage.session_title,
        "heading": list(passage.heading_path),
        "start_line": passage.start_line,
        "end_line": passage.end_line,
        "day": _day(meta.date),
        "authors": list(meta.authors),
        "tags": list(meta.tags),
        "text": passage.text,
        "content_hash": passage.content_hash,
        "sentences": [list(span) for span in passage.sentences],
        "parts": [[list(part.heading_path), part.start_line, part.end_line] for part in passage.parts],
        "n_sentences": len(passage.sentences),
        KEYWORD_FIELD: _fit(keyword_document(passage)),
        "dense": [float(x) for x in vector],
    }


PASSAGE_FIELDS = ["id", "post", "ordinal", "session", "heading", "start_line", "end_line", "text", "content_hash"]
PASSAGE_FIELDS += ["sentences", "parts"]


def passage_of(row: dict, meta: PostMeta) -> Passage:
    return Passage(
        id=row["id"],
        post=meta,
        session_title=row["session"],
        heading_path=tuple(row["heading"]),
        ordinal=int(row["ordinal"]),
        start_line=int(row["start_line"]),
        end_line=int(row["end_line"]),
        text=row["text"],
        content_hash=row["content_hash"],
        sentences=tuple(SentenceSpan(*span) for span in row["sentences"]),
        parts=tuple(PassagePart(tuple(path), first, last) for path, first, last in row["parts"]),
    )


def post_row(post: StoredPost) -> dict:
    meta = post.meta
    return {
        "path": meta.path,
        "meta": {
            "title": meta.title,
            "date": meta.date.isoformat() if meta.date else None,
            "authors": list(meta.authors),
            "tags": list(meta.tags),
            "description": meta.description,
            "url": meta.url,
            "slug": meta.slug,
            "language": meta.language,
            "draft": meta.draft,
        },
        "source_hash": post.state.source_hash,
        "size": post.state.size,
        "mtime_ns": post.state.mtime_ns,
        "unit": [1.0, 0.0],  # Milvus wants a vector field in every collection
    }


POST_FIELDS = ["path", "meta", "source_hash", "size", "mtime_ns"]


def stored_post_of(row: dict) -> StoredPost:
    m = row["meta"]
    meta = PostMeta(
        path=row["path"],
        title=m["title"],
        date=dt.date.fromisoformat(m["date"]) if m["date"] else None,
        authors=tuple(m["authors"]),
        tags=tuple(m["tags"]),
        description=m["description"],
        url=m["url"],
        slug=m["slug"],
        language=m["language"],
        draft=bool(m["draft"]),
    )
    return StoredPost(meta, FileState(row["source_hash"], int(row["size"]), int(row["mtime_ns"])))


def sentence_rows(passage: Passage, vectors) -> list[dict]:
    """One row per sentence vector of ``passage`` ((n sentences, dim))."""
    return [
        {
            "id": f"{passage.id}:{i}",
            "passage": passage.id,
            "post": passage.post.path,
            "pos": i,
            "vector": list(map(float, v)),
        }
        for i, v in enumerate(vectors)
    ]


def create_collections(client, collection: str, dim: int, properties: dict[str, str]) -> None:
    """The passage, sentence and post collections of one build, empty, with their indexes (not loaded)."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    def schema():
        return MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)

    passages = schema()
    passages.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    passages.add_field("post", DataType.VARCHAR, max_length=4096)
    passages.add_field("ordinal", DataType.INT64)
    passages.add_field("session", DataType.VARCHAR, max_length=MAX_VARCHAR)
    passages.add_field("heading", DataType.JSON)
    passages.add_field("start_line", DataType.INT64)
    passages.add_field("end_line", DataType.INT64)
    passages.add_field("day", DataType.INT64)  # days since 1970-01-01 (NO_DAY: undated): date ranges as integers
    for name in ("authors", "tags"):
        passages.add_field(name, DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=256, max_length=1024)
    passages.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
    passages.add_field("content_hash", DataType.VARCHAR, max_length=64)
    passages.add_field("sentences", DataType.JSON)
    passages.add_field("parts", DataType.JSON)
    passages.add_field("n_sentences", DataType.INT64)
    passages.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    # Already analysed by us (``analysed``): Milvus's standard tokenizer only splits it at the spaces again.
    passages.add_field(
        KEYWORD_FIELD,
        DataType.VARCHAR,
        max_length=MAX_VARCHAR,
        enable_analyzer=True,
        analyzer_params={"tokenizer": "standard"},
    )
    passages.add_field(f"{KEYWORD_FIELD}_bm25", DataType.SPARSE_FLOAT_VECTOR)  # written by the function, never by us
    passages.add_function(
        Function(
            name=f"{KEYWORD_FIELD}_bm25",
            function_type=FunctionType.BM25,
            input_field_names=[KEYWORD_FIELD],
            output_field_names=[f"{KEYWORD_FIELD}_bm25"],
        )
    )
    index = client.prepare_index_params()
    # HNSW as the probe measured (recall@10 1.000 at 10k, benchmarks/milvus_probe.py); candidates are re-scored
    # exactly by search.candidates, so the graph only has to bring the right passages into the candidate list.
    index.add_index(
        field_name="dense", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 200}
    )
    index.add_index(field_name=f"{KEYWORD_FIELD}_bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    index.add_index(field_name="post", index_type="INVERTED")  # delete and filter by post
    client.create_collection(
        collection, schema=passages, index_params=index, properties=properties, consistency_level=CONSISTENCY
    )

    sentences = schema()
    sentences.add_field("id", DataType.VARCHAR, is_primary=True, max_length=80)  # "passage id:position"
    sentences.add_field("passage", DataType.VARCHAR, max_length=64)
    sentences.add_field("post", DataType.VARCHAR, max_length=4096)
    sentences.add_field("pos", DataType.INT64)
    sentences.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="FLAT", metric_type="COSINE")  # read by passage, never searched
    index.add_index(field_name="passage", index_type="INVERTED")
    client.create_collection(
        sentences_of(collection), schema=sentences, index_params=index, consistency_level=CONSISTENCY
    )

    posts = schema()
    posts.add_field("path", DataType.VARCHAR, is_primary=True, max_length=4096)
    posts.add_field("meta", DataType.JSON)
    posts.add_field("source_hash", DataType.VARCHAR, max_length=64)
    posts.add_field("size", DataType.INT64)
    posts.add_field("mtime_ns", DataType.INT64)
    posts.add_field("unit", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index(field_name="unit", index_type="FLAT", metric_type="L2")
    client.create_collection(posts_of(collection), schema=posts, index_params=index, consistency_level=CONSISTENCY)


def read_all(client, collection: str, fields: list[str], filter: str = "", batch: int = 4000) -> list[dict]:
    """Every row of ``collection`` (matching ``filter``) with ``fields``, read in batches (``query_iterator``:
    Milvus caps one query at 16,384 rows)."""
    iterator = client.query_iterator(collection, batch_size=batch, filter=filter, output_fields=fields)
    rows: list[dict] = []
    try:
        while batch_rows := iterator.next():
            rows.extend(batch_rows)
    finally:
        iterator.close()
    return rows


def properties(client, collection: str) -> dict[str, str]:
    """Our metadata record: the collection's ``tripsearch.*`` properties, without the prefix."""
    found = client.describe_collection(collection).get("properties", {}) or {}
    return {k[len(PROPERTY) :]: v for k, v in found.items() if k.startswith(PROPERTY)}
