"""Benchmark: synthetic passages through a Milvus server - ingest rate and dense / BM25 / hybrid query latency.

    .venv/bin/python benchmarks/milvus_probe.py [--passages 10000] [--queries 200] [--uri http://HOST:19530]

Without --uri it starts a local `milvus-lite server` (tests/milvus_server.py) on a free port in a temporary folder
and stops it at the end; with --uri it uses that server (a real Milvus Standalone or cluster) and drops its
collection afterwards. This is groundwork for issue 15, not the tripsearch Milvus store (not built yet).

Data, made here and deterministic (--seed): 384-d unit vectors in 200 clusters (a random centre plus Gaussian noise
of the same norm, so neighbours share a cluster, as passages of one talk do); texts of 40-80 words drawn Zipf-like
from the vocabulary of the sample posts, so BM25 sees a realistic mix of common and rare terms; 5% of passages carry
the tag "rare". Dense index HNSW (M 16, efConstruction 200, ef 64, COSINE), BM25 through a Function on the text.

Prints: insert time, flush (seal + index build) time, passages per second over both; per mode p50/p95 in ms over
--queries queries (question embedding is not part of it: vectors are given); recall@10 of the HNSW search against
exact search (numpy) on the same vectors.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the server helper the tests use: one way to start milvus-lite

DIM = 384
COLLECTION = "benchmark_milvus_probe"


def vocabulary() -> list[str]:
    """Words of the sample posts, most frequent first (the Zipf ranks)."""
    counts: dict[str, int] = {}
    for path in sorted((ROOT / "sample" / "posts").iterdir()):
        for word in re.findall(r"[a-z][a-z0-9]+", path.read_text(encoding="utf-8").lower()):
            counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))


def make_rows(n: int, seed: int) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    words = np.array(vocabulary())
    ranks = np.arange(1, len(words) + 1)
    word_p = (1.0 / ranks) / (1.0 / ranks).sum()
    centres = rng.standard_normal((200, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    cluster = rng.integers(0, 200, n)
    noise = rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(DIM)
    vectors = centres[cluster] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = []
    for i in range(n):
        text = " ".join(rng.choice(words, size=int(rng.integers(40, 81)), p=word_p))
        rows.append(
            {
                "id": i,
                "post": f"posts/p{cluster[i]:03d}.md",
                "day": 19_000 + int(cluster[i]) * 7,
                "tags": ["rare"] if rng.random() < 0.05 else ["common"],
                "text": text,
                "dense": vectors[i].tolist(),
            }
        )
    return rows, vectors


def create(client, scalar_index: bool) -> None:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("post", DataType.VARCHAR, max_length=256)
    schema.add_field("day", DataType.INT64)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=16, max_length=64)
    schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
        )
    )
    index = client.prepare_index_params()
    index.add_index(
        field_name="dense", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 200}
    )
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    if scalar_index:  # scalar INVERTED indexes; not on tags: milvus-lite 3.2 rejects one on an ARRAY field
        index.add_index(field_name="day", index_type="INVERTED")
        index.add_index(field_name="post", index_type="INVERTED")
    if client.has_collection(COLLECTION):
        client.drop_collection(COLLECTION)
    client.create_collection(COLLECTION, schema=schema, index_params=index)


def percentiles(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    return f"p50 {statistics.median(ms):7.1f} ms   p95 {ms[int(0.95 * (len(ms) - 1))]:7.1f} ms"


def run(client, n: int, queries: int, seed: int, scalar_index: bool) -> None:
    from pymilvus import AnnSearchRequest, RRFRanker

    made = time.perf_counter()
    rows, vectors = make_rows(n, seed)
    print(f"passages {n}  (made in {time.perf_counter() - made:.1f} s)  scalar INVERTED indexes: {scalar_index}")
    create(client, scalar_index)
    start = time.perf_counter()
    for i in range(0, n, 2000):
        client.insert(COLLECTION, rows[i : i + 2000])
    inserted = time.perf_counter()
    client.flush(COLLECTION)
    client.load_collection(COLLECTION)
    flushed = time.perf_counter()
    total = flushed - start
    print(
        f"insert {inserted - start:6.1f} s   flush+index+load {flushed - inserted:6.1f} s   {n / total:7.0f} passages/s"
    )

    rng = np.random.default_rng(seed + 1)
    picks = rng.integers(0, n, queries)
    query_vectors = vectors[picks] + rng.standard_normal((queries, DIM)).astype(np.float32) / np.sqrt(DIM)
    query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
    words = vocabulary()[50:2000]  # mid-frequency words: not stop-word-like, not absent
    texts = [" ".join(rng.choice(words, size=3)) for _ in range(queries)]
    modes = ("dense", "dense, tag filter", "dense, date filter", "bm25", "hybrid rrf")
    timings: dict[str, list[float]] = {mode: [] for mode in modes}
    recalls = []
    for q_vector, q_text in zip(query_vectors, texts):
        dense_q = q_vector.tolist()
        t = time.perf_counter()
        found = client.search(COLLECTION, data=[dense_q], anns_field="dense", limit=10, search_params={"ef": 64})
        timings["dense"].append(time.perf_counter() - t)
        exact = set(np.argsort(-(vectors @ q_vector))[:10].tolist())
        recalls.append(len(exact & {hit["id"] for hit in found[0]}) / 10)
        t = time.perf_counter()
        client.search(COLLECTION, data=[dense_q], anns_field="dense", limit=10, filter='array_contains(tags, "rare")')
        timings["dense, tag filter"].append(time.perf_counter() - t)
        t = time.perf_counter()  # about 5% of the passages: 10 of the 200 clusters' weeks
        client.search(COLLECTION, data=[dense_q], anns_field="dense", limit=10, filter="day >= 19700 and day < 19770")
        timings["dense, date filter"].append(time.perf_counter() - t)
        t = time.perf_counter()
        client.search(COLLECTION, data=[q_text], anns_field="sparse", limit=10)
        timings["bm25"].append(time.perf_counter() - t)
        requests = [
            AnnSearchRequest(data=[dense_q], anns_field="dense", param={"ef": 64}, limit=50),
            AnnSearchRequest(data=[q_text], anns_field="sparse", param={}, limit=50),
        ]
        t = time.perf_counter()
        client.hybrid_search(COLLECTION, requests, RRFRanker(60), limit=10)
        timings["hybrid rrf"].append(time.perf_counter() - t)
    for mode, times in timings.items():
        print(f"{mode:18s} {percentiles(times)}   ({queries} queries, k=10)")
    print(f"dense recall@10 vs exact: {statistics.mean(recalls):.3f}")
    client.drop_collection(COLLECTION)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--uri", help="a running Milvus server; default: start a local milvus-lite server")
    parser.add_argument("--scalar-index", action="store_true", help="INVERTED indexes on the filtered fields")
    args = parser.parse_args()
    from pymilvus import MilvusClient

    if args.uri:
        client = MilvusClient(uri=args.uri)
        print(f"server {args.uri}: {client.get_server_version()}")
        run(client, args.passages, args.queries, args.seed, args.scalar_index)
        client.close()
        return
    from milvus_server import start_server

    with tempfile.TemporaryDirectory(prefix="milvus-probe-") as folder:
        server = start_server(Path(folder) / "data")
        try:
            client = server.client(timeout=600)
            print(f"server milvus-lite on {server.uri}: {client.get_server_version()}")
            run(client, args.passages, args.queries, args.seed, args.scalar_index)
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
