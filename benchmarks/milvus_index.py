"""Benchmark: ``Index.search`` on a local index folder and on the same corpus on Milvus (``milvus://``), through
the front door users have (issue 15), with warm query latency per mode and the search figures side by side.

    PYTHONPATH=src .venv/bin/python benchmarks/milvus_index.py --index INDEX --posts POSTS QUESTIONS.jsonl...
        [--uri http://HOST:19530] [--name NAME]

Loads POSTS into ``milvus://…/NAME`` (``store.milvus_build.build_milvus`` with INDEX as the seed: its vectors are
reused by content hash, nothing is embedded), opens both with ``Index.open`` sharing one loaded model, runs one
warm-up question per mode, then every question through ``Index.search(k=10)`` per mode. Latency includes
embedding the question (the same model on both). Prints build and open time, then per mode and store p50/p95 ms,
hit@1 / recall@5 / MRR@10 (``evaluate.crossval.score``, as ``tripsearch eval``), and how often the top hit is the
same passage. Without --uri it starts a local `milvus-lite server` (tests/milvus_server.py) and stops it after.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the server helper the tests use: one way to start milvus-lite

MODES = ("hybrid", "dense", "keyword", "hybrid-rrf")
K = 10


def run(uri: str, args) -> None:
    from tripsearch import Index
    from tripsearch.evaluate.crossval import figures_of, score
    from tripsearch.evaluate.questions import load_question_files
    from tripsearch.store.milvus_build import build_milvus

    host, port = uri.removeprefix("http://").rsplit(":", 1)
    address = f"milvus://{host}:{port}/{args.name}"
    started = time.monotonic()
    report = build_milvus(address, args.posts, rebuild=True, seed=args.index)
    print(f"build: {report.summary()} ({time.monotonic() - started:.1f} s)")
    local = Index.open(args.index)
    started = time.monotonic()
    remote = Index.open(address, encoder=local.encoder)
    print(f"open: {time.monotonic() - started:.2f} s, {len(remote.passages)} passages")
    indexes = {"local": local, "milvus": remote}
    questions = load_question_files(args.questions)
    for mode in MODES:
        tops: dict[str, list[str | None]] = {}
        for name, index in indexes.items():
            index.search(questions[0].question, k=K, mode=mode)  # warm: model, caches, the store's sample
            times, results, tops[name] = [], [], []
            for q in questions:
                t = time.perf_counter()
                hits = index.search(q.question, k=K, mode=mode)
                times.append((time.perf_counter() - t) * 1000)
                tops[name].append(hits[0].passage_id if hits else None)
                results.append(score(q, hits))
            f = figures_of(results)
            p95 = statistics.quantiles(times, n=20)[-1]
            print(
                f"{mode:10} {name:6}  p50 {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  "
                f"hit@1 {f.hit1:.3f}  recall@5 {f.recall5:.3f}  MRR@10 {f.mrr10:.3f}  ({f.retrieved} questions)"
            )
        same = statistics.fmean(a == b for a, b in zip(tops["local"], tops["milvus"]))
        print(f"{mode:10} agree   top hit same passage {same:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", nargs="+", type=Path)
    parser.add_argument("--index", required=True, type=Path, help="a local index of --posts (its vectors are reused)")
    parser.add_argument("--posts", required=True, type=Path)
    parser.add_argument("--uri", help="a Milvus server, http://HOST:PORT (default: start milvus-lite)")
    parser.add_argument("--name", default="benchmark_index")
    args = parser.parse_args()
    from milvus_server import run_on_server

    run_on_server(args.uri, lambda uri: run(uri, args))


if __name__ == "__main__":
    main()
