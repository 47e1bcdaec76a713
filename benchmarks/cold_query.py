"""Benchmark: a CLI query from a cold process, fast (ONNX) path against sentence-transformers, side by side.

    .venv/bin/python benchmarks/cold_query.py INDEX_DIR [--runs 5] [--posts POSTS_DIR]

Each run is a fresh `python -m tripsearch query "…"` process; wall time, median of the runs. Also
prints the warm query p50 with each encoder, and, with --posts, full-build texts per second with each
encoder (each in its own fresh index folder). Compare ratios within one run: this machine is noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "what did they say about multi-account strategy"
BACKENDS = ("onnx", "sentence-transformers")


def cold(index_dir: str, backend: str, runs: int) -> list[float]:
    env = {**os.environ, "TRIPSEARCH_BACKEND": backend}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tripsearch", "query", QUESTION, "--index", index_dir, "-k", "3"],
            env=env,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - start)
    return times


def warm(index_dir: str, backend: str) -> float:
    os.environ["TRIPSEARCH_BACKEND"] = backend
    from tripsearch import Index

    idx = Index.open(index_dir)
    idx.search("warm up", k=5)
    questions = [f"{QUESTION} {i}" for i in range(30)]
    latencies = []
    for q in questions:
        start = time.perf_counter()
        idx.search(q, k=10)
        latencies.append(time.perf_counter() - start)
    return statistics.median(latencies)


def build_rate(posts: str, backend: str) -> tuple[float, str]:
    from tripsearch.build import update_index

    work = Path(tempfile.mkdtemp(prefix=f"tripsearch-build-{backend}-"))
    try:
        start = time.perf_counter()
        report = update_index(posts, work / "index", backend=backend)
        seconds = time.perf_counter() - start
        from tripsearch import Index

        texts = report.passages + sum(len(p.sentences) for p in Index.open(work / "index").passages)
        return texts / seconds, f"{report.passages} passages + sentences = {texts} texts in {seconds:.1f} s"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("index")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--posts", default=None, help="also time a full build with each encoder")
    args = parser.parse_args()

    medians = {}
    for backend in BACKENDS:
        times = cold(args.index, backend, args.runs)
        medians[backend] = statistics.median(times)
        print(
            f"cold CLI query, {backend:21}: median {medians[backend]:.2f} s over {args.runs} runs "
            f"({', '.join(f'{t:.2f}' for t in times)})"
        )
    print(f"fast path is {medians['sentence-transformers'] / medians['onnx']:.1f}x faster from a cold process")
    for backend in BACKENDS:
        print(f"warm query p50, {backend:21}: {1000 * warm(args.index, backend):.1f} ms")
    if args.posts:
        for backend in BACKENDS:
            rate, detail = build_rate(args.posts, backend)
            print(f"full build, {backend:21}: {rate:.1f} texts/s ({detail})")


if __name__ == "__main__":
    main()
