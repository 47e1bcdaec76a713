"""Benchmark: build, re-index and query times on a posts folder (default: the real corpus in ../shared).

    .venv/bin/python benchmarks/index_and_search.py [POSTS_DIR] [--rounds N] [--keep]
    .venv/bin/python benchmarks/index_and_search.py --index DIR   # warm latencies of an existing index only

Prints full build wall time and passages per second, no-change re-index time, one-post-edited re-index
time, warm query latency p50/p95 per mode and for ask, and the index size on disk. Timings here are
noisy: medians of repeated runs, compared within one run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERIES = [
    "what did they say about multi-account strategy",
    "Which company replaced Cassandra with Aurora?",
    "how to reduce Lambda cold starts",
    "service mesh observability",
    "is it ok to share a database between microservices",
    "GitOps with Flux",
    "keynote announcements",
    "postgres replication",
    "how do I make on-call less painful",
    "documentation team priorities",
]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def warm_latencies(idx, rounds: int) -> None:
    """p50/p95 of ``search`` per mode and of ``ask`` on QUERIES, after one search has loaded the model and the
    per-index structures (vocabulary, answer model)."""
    idx.search("warm up the model", k=10)
    idx.ask("warm up the answer stage")
    for mode in ("hybrid", "dense", "keyword"):
        latencies = [timed(lambda: idx.search(q, k=10, mode=mode))[1] for _ in range(rounds) for q in QUERIES]
        print(
            f"warm query {mode:8}: p50 {1000 * statistics.median(latencies):.1f} ms, p95 {1000 * percentile(latencies, 0.95):.1f} ms"
        )
    asks = [timed(lambda: idx.ask(q))[1] for _ in range(rounds) for q in QUERIES]
    print(f"warm ask        : p50 {1000 * statistics.median(asks):.1f} ms, p95 {1000 * percentile(asks, 0.95):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("posts", nargs="?", default=str(ROOT.parent / "shared" / "corpus" / "trip-reports"))
    parser.add_argument("--rounds", type=int, default=3, help="repeats of each query, per mode")
    parser.add_argument("--keep", action="store_true", help="keep the index (and the edited copy of the posts)")
    parser.add_argument("--index", help="an existing index: measure only warm query and ask latencies on it")
    args = parser.parse_args()

    from tripsearch import Index
    from tripsearch.build import update_index

    if args.index:
        warm_latencies(Index.open(args.index), args.rounds)
        return
    work = Path(tempfile.mkdtemp(prefix="tripsearch-bench-"))
    posts = Path(shutil.copytree(args.posts, work / "posts"))
    index_dir = work / "index"

    report, seconds = timed(lambda: update_index(posts, index_dir))
    texts = report.passages + sum(len(p.sentences) for p in Index.open(index_dir).passages)
    print(
        f"full build: {seconds:.1f} s wall, {report.passages} passages ({texts} texts with sentences): "
        f"{report.passages / seconds:.1f} passages/s, {texts / seconds:.1f} texts/s, encoder {report.encoder_kind}"
    )

    nochange = [timed(lambda: update_index(posts, index_dir))[1] for _ in range(5)]
    print(f"no-change re-index: median {statistics.median(nochange):.3f} s (5 runs)")

    victim = sorted(posts.glob("*.md"))[len(list(posts.glob("*.md"))) // 2]
    edits = []
    for n in range(3):
        victim.write_text(victim.read_text() + f"\n\nEdited for the benchmark, round {n}.\n")
        r, s = timed(lambda: update_index(posts, index_dir))
        edits.append(s)
    print(f"one-post-edited re-index: median {statistics.median(edits):.2f} s (3 runs; {r.embedded} passages embedded)")

    idx = Index.open(index_dir)
    warm_latencies(idx, args.rounds)
    print(
        f"index size on disk: {size_of(idx.generation) / 2**20:.1f} MiB (one generation), "
        f"{size_of(index_dir) / 2**20:.1f} MiB in the folder"
    )
    if args.keep:
        print(f"kept the index in {index_dir}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
