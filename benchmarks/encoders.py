"""Compare the encoders: passages/second at several batch sizes, single-query latency, and cold start.

    .venv/bin/python benchmarks/encoders.py                      # 256 passages from sample/posts (repeated)
    .venv/bin/python benchmarks/encoders.py -n 512 --texts my.txt   # one passage per line instead
    .venv/bin/python benchmarks/encoders.py --no-cold               # skip the fresh-process start-up timing

Exports the default model to ONNX first if the cache has no verified export (see ``ensure_fast_encoder``).
A script, not a test: numbers depend on the machine, so nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

COLD_START = """
import sys, time
t = time.perf_counter()
from tripsearch.embed import load_encoder
enc = load_encoder(backend=sys.argv[1], cache_dir=sys.argv[2] if len(sys.argv) > 2 else None)
enc.encode(["what did they say about multi-account strategy?"])
print(f"{time.perf_counter() - t:.2f}")
"""


def sample_passages(posts: Path) -> list[str]:
    from tripsearch.passages import split_post
    from tripsearch.posts import read_folder

    return [p.embedding_text() for post in read_folder(posts).posts for p in split_post(post)]


def sample_queries(path: Path) -> list[str]:
    if path.is_file():
        return [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]
    return ["what did they say about multi-account strategy?"]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def cold_start(backend: str, cache_dir: str | None) -> str:
    args = [sys.executable, "-c", COLD_START, backend] + ([cache_dir] if cache_dir else [])
    run = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    return f"{run.stdout.strip()} s" if run.returncode == 0 else f"failed: {run.stderr.strip().splitlines()[-1:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=256, help="passages to encode per run (repeated as needed)")
    parser.add_argument("--posts", type=Path, default=ROOT / "sample" / "posts")
    parser.add_argument("--texts", type=Path, help="a file with one passage per line, instead of --posts")
    parser.add_argument("--questions", type=Path, default=ROOT / "sample" / "questions.jsonl")
    parser.add_argument("--batch-sizes", default="16,32,64")
    parser.add_argument("--queries", type=int, default=40, help="single-query encodings for the latency median")
    parser.add_argument("--model", default=None)
    parser.add_argument("--cache-dir", default=None, help="ONNX export cache (default $TRIPSEARCH_CACHE or ~/.cache)")
    parser.add_argument("--no-cold", action="store_true", help="skip the fresh-process start-up timing")
    args = parser.parse_args()

    base = (
        [line for line in args.texts.read_text().splitlines() if line.strip()]
        if args.texts
        else sample_passages(args.posts)
    )
    passages = (base * (args.n // len(base) + 1))[: args.n]
    queries = sample_queries(args.questions)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    words = statistics.mean(len(p.split()) for p in passages)
    print(f"{len(passages)} passages ({len(base)} distinct, {words:.0f} words on average), {os.cpu_count()} CPUs")
    print(f"load average before: {load_average()} (other processes skew these numbers)")

    from tripsearch.embed import ensure_fast_encoder, load_encoder

    print(ensure_fast_encoder(args.model, args.cache_dir))
    results = {}
    for backend in ("onnx", "sentence-transformers"):
        start = time.perf_counter()
        encoder = load_encoder(args.model, backend=backend, cache_dir=args.cache_dir)
        loaded = time.perf_counter() - start
        encoder.encode(passages[:8])  # warm up
        row = {"load": loaded}
        for bs in batch_sizes:
            start = time.perf_counter()
            vectors = encoder.encode(passages, batch_size=bs)
            row[bs] = len(passages) / (time.perf_counter() - start)
        latencies = []
        for i in range(args.queries):
            start = time.perf_counter()
            encoder.encode([queries[i % len(queries)]], batch_size=1)
            latencies.append(time.perf_counter() - start)
        row["query_ms"] = 1000 * statistics.median(latencies)
        row["vectors"] = vectors
        results[backend] = row

    print()
    batches = "".join(f"{f'batch {bs}':>12}" for bs in batch_sizes)
    header = f"{'encoder':<22}{batches}{'query (median)':>16}{'load (warm)':>13}"
    print(header)
    print(f"{'':<22}" + "".join(f"{'passages/s':>12}" for _ in batch_sizes))
    for backend, row in results.items():
        cells = "".join(f"{row[bs]:>12.1f}" for bs in batch_sizes)
        print(f"{backend:<22}{cells}{row['query_ms']:>13.1f} ms{row['load']:>11.2f} s")
    if len(results) == 2:
        a, b = (r["vectors"] for r in results.values())
        cos = (a * b).sum(axis=1)
        print(f"\nagreement over the {len(passages)} passages: min cosine {cos.min():.6f}, mean {np.mean(cos):.6f}")

    print(f"load average after: {load_average()}")
    if not args.no_cold:
        print("\ncold start in a fresh process (imports + load + one query):")
        for backend in ("onnx", "sentence-transformers"):
            print(f"  {backend:<22}{cold_start(backend, args.cache_dir)}")


if __name__ == "__main__":
    main()
