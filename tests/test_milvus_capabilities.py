"""What the Milvus store (issue 15) needs from Milvus, each checked by a real call against a milvus-lite server.

Not a test of tripsearch code (that is tests/test_milvus_store.py and tests/test_stores.py): a probe that keeps
docs/scale-out.md honest. Tests named
``test_lite_limit_*`` pin down where milvus-lite differs from Milvus as documented; if one starts failing after an
upgrade, milvus-lite has changed and the table in docs/scale-out.md must change with it.

Data is synthetic and small: passages whose dense vectors are built so the nearest neighbours are known (a unit
"topic" direction per post plus small noise) and whose texts have known distinct words.
"""

from __future__ import annotations

import numpy as np
import pytest
from milvus_server import MilvusServer, milvus_server, needs_milvus, start_server  # noqa: F401  (fixture)

DIM = 384  # all-MiniLM-L6-v2
POSTS = [f"posts/2024-0{i + 1}-01-conf{i}.md" for i in range(8)]
DAY0 = 19_700  # 2023-12-09 as days since 1970-01-01; dates are INT64 days in the store


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _rows(n_per_post: int = 25, seed: int = 7) -> list[dict]:
    """n_per_post passages per post; post i's vectors cluster round topic direction i; every 9th passage is tagged
    'rare', every 4th is by 'Ada Lovelace'; text word 'topicI' names the post's topic."""
    rng = np.random.default_rng(seed)
    topics = _unit(rng.standard_normal((len(POSTS), DIM)))
    rows = []
    for p, post in enumerate(POSTS):
        vectors = _unit(topics[p] + rng.standard_normal((n_per_post, DIM)) / np.sqrt(DIM))  # cosine to topic ~0.7
        for j in range(n_per_post):
            k = p * n_per_post + j
            rows.append(
                {
                    "id": f"{post}#{j}",
                    "post": post,
                    "session": f"Talk {j // 5}",
                    "heading": ["Day 1", f"Talk {j // 5}"],
                    "start_line": 10 * j + 1,
                    "end_line": 10 * j + 9,
                    "day": DAY0 + 30 * p + j % 3,
                    "authors": ["Ada Lovelace", "Grace Hopper"] if k % 4 == 0 else ["Grace Hopper"],
                    "tags": ["rare", "ml"] if k % 9 == 0 else ["ml"],
                    "text": f"passage {j} of topic{p} about conference talks and systems"
                    + (" with kubernetes autoscaling" if (p, j) == (3, 4) else ""),
                    "dense": vectors[j].tolist(),
                }
            )
    return rows


def _schema(analyzer_params: dict | None = None, description: str = ""):
    """The passage schema the store will use (issue 15's field list)."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description=description)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)  # "post path#passage number"
    schema.add_field("post", DataType.VARCHAR, max_length=1024)
    schema.add_field("session", DataType.VARCHAR, max_length=2048)
    schema.add_field("heading", DataType.JSON)  # the heading path as a list of strings
    schema.add_field("start_line", DataType.INT64)
    schema.add_field("end_line", DataType.INT64)
    schema.add_field("day", DataType.INT64)  # days since 1970-01-01, so a date range is an integer range
    schema.add_field("authors", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=64, max_length=256)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=64, max_length=256)
    schema.add_field(
        "text",
        DataType.VARCHAR,
        max_length=65535,
        enable_analyzer=True,
        analyzer_params=analyzer_params or {"tokenizer": "standard"},
    )
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)  # written by the BM25 function, never by us
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
        )
    )
    return schema


def _create(client, name: str, dense_index: str = "HNSW", dense_params: dict | None = None, **kwargs) -> None:
    index = client.prepare_index_params()
    index.add_index(field_name="dense", index_type=dense_index, metric_type="COSINE", params=dense_params or {})
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, schema=kwargs.pop("schema", None) or _schema(), index_params=index, **kwargs)


@pytest.fixture(scope="module")
def client(milvus_server: MilvusServer):
    client = milvus_server.client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def passages(client):
    """One loaded collection of 200 passages shared by the read-only tests."""
    rows = _rows()
    _create(client, "probe_passages", dense_params={"M": 16, "efConstruction": 100})
    assert client.insert("probe_passages", rows)["insert_count"] == len(rows)
    client.load_collection("probe_passages")
    return rows


def _ids(result) -> list[str]:
    return [hit["id"] for hit in result[0]]


def test_schema_fields_round_trip(client, passages):
    description = client.describe_collection("probe_passages")
    types = {field["name"]: field["type"].name for field in description["fields"]}
    assert types == {
        "id": "VARCHAR",
        "post": "VARCHAR",
        "session": "VARCHAR",
        "heading": "JSON",
        "start_line": "INT64",
        "end_line": "INT64",
        "day": "INT64",
        "authors": "ARRAY",
        "tags": "ARRAY",
        "text": "VARCHAR",
        "dense": "FLOAT_VECTOR",
        "sparse": "SPARSE_FLOAT_VECTOR",
    }
    assert [f["type"].name for f in description["functions"]] == ["BM25"]
    wanted = passages[:3] + passages[-2:]
    fields = ["post", "session", "heading", "start_line", "end_line", "day", "authors", "tags", "text"]
    got = {row["id"]: row for row in client.get("probe_passages", ids=[r["id"] for r in wanted], output_fields=fields)}
    for row in wanted:
        assert {f: got[row["id"]][f] for f in fields} == {f: row[f] for f in fields}
    counted = client.query("probe_passages", filter="", output_fields=["count(*)"])
    assert counted[0]["count(*)"] == len(passages)


@pytest.mark.parametrize(
    ("index_type", "params", "search_params"),
    [
        ("FLAT", {}, {}),
        ("HNSW", {"M": 16, "efConstruction": 100}, {"ef": 64}),
        ("HNSW_SQ", {"M": 16, "efConstruction": 100, "sq_type": "SQ8"}, {"ef": 64}),
        ("IVF_FLAT", {"nlist": 8}, {"nprobe": 8}),
        ("IVF_SQ8", {"nlist": 8}, {"nprobe": 8}),
        ("AUTOINDEX", {}, {}),
    ],
)
def test_dense_index_finds_the_exact_neighbours(client, milvus_server, index_type, params, search_params):
    """Each dense index type is built without error when its segment is sealed, and a query equal to a stored vector
    returns it first, with its own post's passages as the top 10 (each post's passages cluster round one direction).
    The server's output is checked because a failed index build is not reported to the client (see IVF_PQ below)."""
    printed = len(milvus_server.output())
    rows = _rows(seed=11)
    name = f"probe_dense_{index_type.lower()}"
    _create(client, name, dense_index=index_type, dense_params=params)
    client.insert(name, rows)
    client.flush(name)  # indexes are built on sealed segments; search them, not only the in-memory table
    client.load_collection(name)
    assert client.describe_index(name, "dense")["index_type"] == index_type
    target = rows[60]
    result = client.search(name, data=[target["dense"]], anns_field="dense", limit=10, search_params=search_params)
    assert _ids(result)[0] == target["id"]
    assert result[0][0]["distance"] == pytest.approx(1.0, abs=1e-3)  # COSINE: similarity, larger is better
    assert {hit["id"].split("#")[0] for hit in result[0]} == {target["post"]}
    assert "Traceback" not in milvus_server.output()[printed:]
    client.drop_collection(name)


def test_bm25_full_text_search(client, passages):
    result = client.search("probe_passages", data=["kubernetes autoscaling"], anns_field="sparse", limit=5)
    assert _ids(result) == [f"{POSTS[3]}#4"]  # only positive-score matches come back
    topic = client.search("probe_passages", data=["topic5 systems"], anns_field="sparse", limit=30)
    assert len(topic[0]) == 30
    assert {hit["id"].split("#")[0] for hit in topic[0][:25]} == {POSTS[5]}  # the rare word outranks the common one


def _hybrid(client, rankers_to_ids, filter_expr: str = "", limit: int = 10):
    from pymilvus import AnnSearchRequest

    rows = {r["id"]: r for r in _rows()}
    dense_query = rows[f"{POSTS[1]}#0"]["dense"]  # dense side: post 1; keyword side: post 3's one passage
    requests = [
        AnnSearchRequest(data=[dense_query], anns_field="dense", param={"ef": 64}, limit=limit, expr=filter_expr),
        AnnSearchRequest(data=["kubernetes autoscaling"], anns_field="sparse", param={}, limit=limit, expr=filter_expr),
    ]
    return {
        label: _ids(client.hybrid_search("probe_passages", requests, ranker, limit=limit, output_fields=["post"]))
        for label, ranker in rankers_to_ids.items()
    }


def test_hybrid_search_rrf_and_weighted(client, passages):
    from pymilvus import RRFRanker, WeightedRanker

    got = _hybrid(
        client,
        {
            "rrf": RRFRanker(60),
            "dense_only": WeightedRanker(1.0, 0.0),
            "keyword_only": WeightedRanker(0.0, 1.0),
        },
    )
    keyword_hit, dense_hit = f"{POSTS[3]}#4", f"{POSTS[1]}#0"
    assert set(got["rrf"][:2]) == {dense_hit, keyword_hit}  # each first in its own list: tied under RRF
    assert got["dense_only"][0] == dense_hit
    assert got["keyword_only"][0] == keyword_hit


@pytest.mark.parametrize(
    ("expr", "keep"),
    [
        ('array_contains(tags, "rare")', lambda r: "rare" in r["tags"]),
        ('array_contains(authors, "Ada Lovelace")', lambda r: "Ada Lovelace" in r["authors"]),
        (f"day >= {DAY0 + 60} and day <= {DAY0 + 121}", lambda r: DAY0 + 60 <= r["day"] <= DAY0 + 121),
        (f'post == "{POSTS[6]}"', lambda r: r["post"] == POSTS[6]),
        (
            f'array_contains(tags, "rare") and day >= {DAY0 + 90}',
            lambda r: "rare" in r["tags"] and r["day"] >= DAY0 + 90,
        ),
    ],
)
def test_filters_apply_inside_search(client, passages, expr, keep):
    """A filtered search returns k hits when k passages match, all matching - dense (HNSW), BM25 and hybrid - and
    exactly the matching count when fewer than k match. The query is far from most matches, so a post-filter of an
    unfiltered top k would come back short."""
    from pymilvus import AnnSearchRequest, RRFRanker

    matching = {r["id"] for r in passages if keep(r)}
    assert len(matching) >= 10
    far_query = next(r for r in passages if not keep(r))["dense"]
    for k in (10, len(matching) + 5):
        dense = client.search("probe_passages", data=[far_query], anns_field="dense", limit=k, filter=expr)
        keyword = client.search(
            "probe_passages", data=["conference systems"], anns_field="sparse", limit=k, filter=expr
        )
        requests = [
            AnnSearchRequest(data=[far_query], anns_field="dense", param={}, limit=k, expr=expr),
            AnnSearchRequest(data=["conference systems"], anns_field="sparse", param={}, limit=k, expr=expr),
        ]
        hybrid = client.hybrid_search("probe_passages", requests, RRFRanker(60), limit=k)
        for result in (dense, keyword, hybrid):
            assert len(result[0]) == min(k, len(matching))
            assert set(_ids(result)) <= matching


def test_upsert_and_delete_by_post(client):
    """Incremental update: re-write one post's passages (upsert), delete a post by filter; others untouched."""
    name = "probe_updates"
    rows = _rows(n_per_post=5)
    _create(client, name)
    client.insert(name, rows)
    client.load_collection(name)
    edited = [dict(r, text=r["text"] + " quantumwidget") for r in rows if r["post"] == POSTS[2]]
    assert client.upsert(name, edited)["upsert_count"] == len(edited)
    found = client.search(name, data=["quantumwidget"], anns_field="sparse", limit=20, output_fields=["post"])
    assert sorted(_ids(found)) == sorted(r["id"] for r in edited)  # the BM25 field follows the new text
    assert client.query(name, filter=f'post == "{POSTS[2]}"', output_fields=["count(*)"])[0]["count(*)"] == 5

    client.delete(name, filter=f'post == "{POSTS[2]}"')  # a post with fewer passages: delete by post, then insert
    client.insert(name, edited[:2])
    left = client.query(name, filter=f'post == "{POSTS[2]}"', output_fields=["id"])
    assert sorted(r["id"] for r in left) == sorted(r["id"] for r in edited[:2])
    client.delete(name, filter=f'post == "{POSTS[4]}"')
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == len(rows) - 5 - 3
    dense = client.search(name, data=[rows[20]["dense"]], anns_field="dense", limit=40, output_fields=["post"])
    assert POSTS[4] not in {hit["entity"]["post"] for hit in dense[0]}
    client.drop_collection(name)


def test_alias_switches_to_a_rebuilt_collection(client):
    """A rebuild goes to a new collection; alter_alias moves readers to it in one call; the old one can be dropped."""
    rows = _rows(n_per_post=3)
    for name, subset in (("probe_gen1", rows[:12]), ("probe_gen2", rows)):
        _create(client, name)
        client.insert(name, subset)
        client.load_collection(name)
    if "probe_live" in client.list_aliases("probe_gen1")["aliases"] + client.list_aliases("probe_gen2")["aliases"]:
        client.drop_alias("probe_live")
    client.create_alias("probe_gen1", "probe_live")
    count = "count(*)"
    assert client.query("probe_live", filter="", output_fields=[count])[0][count] == 12
    client.alter_alias("probe_gen2", "probe_live")
    assert client.describe_alias("probe_live")["collection_name"] == "probe_gen2"
    assert client.query("probe_live", filter="", output_fields=[count])[0][count] == len(rows)
    found = client.search("probe_live", data=[rows[-1]["dense"]], anns_field="dense", limit=1)
    assert _ids(found) == [rows[-1]["id"]]
    client.drop_collection("probe_gen1")
    assert client.query("probe_live", filter="", output_fields=[count])[0][count] == len(rows)
    client.drop_alias("probe_live")
    client.drop_collection("probe_gen2")


def test_facets_by_query_iterator(client, passages):
    """Milvus has no DISTINCT or MIN/MAX: the app's facets (authors, tags, date range) come from reading the scalar
    columns in batches with query_iterator (here 64 rows a batch over 200 rows)."""
    iterator = client.query_iterator(
        "probe_passages", batch_size=64, filter="", output_fields=["authors", "tags", "day"]
    )
    authors, tags, days, batches = set(), set(), [], 0
    while batch := iterator.next():
        batches += 1
        for row in batch:
            authors.update(row["authors"])
            tags.update(row["tags"])
            days.append(row["day"])
    iterator.close()
    assert batches == 4 and len(days) == len(passages)
    assert authors == {"Ada Lovelace", "Grace Hopper"} and tags == {"ml", "rare"}
    assert (min(days), max(days)) == (min(r["day"] for r in passages), max(r["day"] for r in passages))


def test_readers_see_one_collection_or_the_other_during_an_alias_switch(milvus_server):
    """A reader thread counting rows through the alias while it is switched back and forth sees only the two full
    sizes, never a mix or an error."""
    import threading
    import time

    writer = milvus_server.client()
    rows = _rows(n_per_post=4)
    for name, subset in (("probe_switch_a", rows[:8]), ("probe_switch_b", rows)):
        _create(writer, name)
        writer.insert(name, subset)
        writer.load_collection(name)
    writer.create_alias("probe_switch_a", "probe_switch_live")
    seen, errors, done = [], [], threading.Event()

    def read() -> None:
        reader = milvus_server.client()
        try:
            while not done.is_set():
                result = reader.query("probe_switch_live", filter="", output_fields=["count(*)"])
                seen.append(result[0]["count(*)"])
        except Exception as error:  # noqa: BLE001 - any error is the finding
            errors.append(error)
        finally:
            reader.close()

    thread = threading.Thread(target=read)
    thread.start()
    switches, deadline = 0, time.monotonic() + 120  # a bound, not a timing assertion
    try:
        # Switch until the reader has read many times while switching (it needs a moment to connect).
        while (switches < 20 or len(seen) < 30) and not errors and time.monotonic() < deadline:
            writer.alter_alias("probe_switch_b" if switches % 2 == 0 else "probe_switch_a", "probe_switch_live")
            switches += 1
    finally:
        done.set()
        thread.join(60)
    assert not errors
    assert len(seen) >= 30 and set(seen) <= {8, len(rows)}
    writer.drop_alias("probe_switch_live")
    for name in ("probe_switch_a", "probe_switch_b"):
        writer.drop_collection(name)
    writer.close()


def test_collection_properties_hold_the_fingerprint(client):
    """Model fingerprint and chunker version live in collection properties (set at create, changed with alter)."""
    name = "probe_properties"
    _create(client, name, properties={"tripsearch.model": "all-MiniLM-L6-v2:abc123", "tripsearch.chunker": "7"})
    client.alter_collection_properties(name, properties={"tripsearch.chunker": "8"})
    properties = client.describe_collection(name)["properties"]
    assert properties["tripsearch.model"] == "all-MiniLM-L6-v2:abc123"
    assert properties["tripsearch.chunker"] == "8"
    client.drop_collection(name)


@needs_milvus
def test_data_survives_a_server_restart(tmp_path):
    """What was inserted is there after the server is stopped and started again on the same data dir."""
    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        _create(client, "probe_durable")
        client.insert("probe_durable", _rows(n_per_post=2))
        client.close()
    finally:
        assert server.stop() == 0
    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        client.load_collection("probe_durable")
        assert client.query("probe_durable", filter="", output_fields=["count(*)"])[0]["count(*)"] == 16
        found = client.search("probe_durable", data=["topic6"], anns_field="sparse", limit=5)
        assert {hit["id"].split("#")[0] for hit in found[0]} == {POSTS[6]}
        client.close()
    finally:
        server.stop()


# Where milvus-lite differs from Milvus (docs/scale-out.md lists these as "not testable here").


def test_lite_limit_analyzer_has_no_stemmer(client):
    """Milvus's analyzers include an `english` type and a `stemmer` filter; milvus-lite rejects the first and
    ignores the second (only `standard` and `jieba` tokenizers, lowercase + stop words), so 'systems' does not
    match 'system'."""
    from pymilvus import MilvusException

    with pytest.raises(MilvusException, match="unknown tokenizer type"):
        _create(client, "probe_english", schema=_schema({"type": "english"}))
    stemmed = {"tokenizer": "standard", "filter": ["lowercase", {"type": "stemmer", "language": "english"}]}
    _create(client, "probe_stemmer", schema=_schema(stemmed))
    client.insert("probe_stemmer", _rows(n_per_post=2))
    client.load_collection("probe_stemmer")
    assert len(client.search("probe_stemmer", data=["systems"], anns_field="sparse", limit=5)[0]) == 5
    assert client.search("probe_stemmer", data=["system"], anns_field="sparse", limit=5)[0] == []
    client.drop_collection("probe_stemmer")


def test_lite_limit_bm25_scores_are_negated(client, passages):
    """Milvus returns BM25 scores as positive (larger is better); milvus-lite 3.2 returns them negated. The order is
    right either way; a store that fuses by score must not assume the sign."""
    result = client.search("probe_passages", data=["topic5 systems"], anns_field="sparse", limit=30)
    scores = [hit["distance"] for hit in result[0]]
    assert all(score < 0 for score in scores)
    assert scores[0] < scores[-1]  # best first: the most negative


def test_lite_limit_bm25_statistics_are_per_segment(client):
    """Milvus keeps BM25 statistics (document count, average length, document frequency) per collection; milvus-lite
    keeps them per sealed segment, so the same passage scores differently depending on which batch it was flushed
    with. Here one identical passage is flushed once with passages that all contain its word and once with passages
    that do not: on Milvus both copies would score the same."""
    name = "probe_idf"
    _create(client, name)
    base = {k: v for k, v in _rows(n_per_post=1)[0].items() if k not in ("id", "text")}
    probe = "zebra crossing safety"
    common = [dict(base, id=f"a{i}", text=f"zebra number {i}") for i in range(20)] + [
        dict(base, id="a-probe", text=probe)
    ]
    rare = [dict(base, id=f"b{i}", text=f"giraffe number {i}") for i in range(20)] + [
        dict(base, id="b-probe", text=probe)
    ]
    client.insert(name, common)
    client.flush(name)
    client.insert(name, rare)
    client.flush(name)
    client.load_collection(name)
    hits = {hit["id"]: hit["distance"] for hit in client.search(name, data=["zebra"], anns_field="sparse", limit=30)[0]}
    assert abs(hits["a-probe"] - hits["b-probe"]) > 0.5 * abs(hits["b-probe"])  # same text, different scores
    client.drop_collection(name)


def test_lite_limit_product_quantisation_is_not_built(client, milvus_server):
    """IVF_PQ is accepted and describe_index says 'Finished', but the build fails on the server (NotImplementedError
    in its output) and search falls back to another path: the client is never told."""
    printed = len(milvus_server.output())
    _create(client, "probe_pq", dense_index="IVF_PQ", dense_params={"nlist": 8, "m": 8, "nbits": 8})
    rows = _rows(n_per_post=5)
    client.insert("probe_pq", rows)
    client.flush("probe_pq")
    client.load_collection("probe_pq")
    assert client.describe_index("probe_pq", "dense")["state"] == "Finished"
    assert _ids(client.search("probe_pq", data=[rows[3]["dense"]], anns_field="dense", limit=1)) == [rows[3]["id"]]
    assert "index_type='IVF_PQ' is reserved for a future phase" in milvus_server.output()[printed:]
    client.drop_collection("probe_pq")


def test_lite_limit_no_scalar_index_on_arrays(client):
    """INVERTED scalar indexes build on the INT64 date and the VARCHAR post path (delete-by-post and date filters use
    them); on the ARRAY tags/authors fields milvus-lite rejects one (Milvus supports it), so array_contains scans."""
    from pymilvus import MilvusException

    name = "probe_scalar_index"
    _create(client, name)
    index = client.prepare_index_params()
    index.add_index(field_name="day", index_type="INVERTED")
    index.add_index(field_name="post", index_type="INVERTED")
    client.create_index(name, index)
    assert client.describe_index(name, "day")["index_type"] == "INVERTED"
    client.insert(name, _rows(n_per_post=3))
    client.flush(name)
    client.load_collection(name)
    assert len(client.query(name, filter=f'post == "{POSTS[1]}" and day >= {DAY0}', output_fields=["id"])) == 3
    tags = client.prepare_index_params()
    tags.add_index(field_name="tags", index_type="INVERTED")
    with pytest.raises(MilvusException, match="ARRAY does not support scalar index"):
        client.create_index(name, tags)
    client.drop_collection(name)


def test_lite_limit_collection_description_is_not_kept(client):
    """A collection description is accepted but comes back empty; collection properties are kept (use those)."""
    _create(client, "probe_described", schema=_schema(description="tripsearch passages"))
    assert client.describe_collection("probe_described")["description"] == ""
    client.drop_collection("probe_described")
