"""Benchmark: a real index on Milvus beside the local store - build, open, query latency and search figures.

    PYTHONPATH=src .venv/bin/python benchmarks/milvus_store.py --index INDEX --posts POSTS QUESTIONS.jsonl...
        [--uri http://HOST:19530] [--name NAME] [--embed]

Loads the posts into a Milvus index (``store.milvus_build.build_milvus``), reusing INDEX's vectors by content hash
(``seed``) unless --embed, then runs every question through the same candidate search
(``search.candidates.CandidateSearch``) over INDEX's ``LocalStore`` and over the ``MilvusStore``, for the modes
dense, keyword and hybrid. The question vectors are embedded once and given to both, so the latencies are the
store's (candidates, their vectors and sentence vectors, BM25), not the model's.

Prints: build time, open time, per store and mode p50/p95 ms and hit@1 / recall@5 / MRR@10 of the top 10 passages
(``evaluate.crossval.score``: a passage holding an evidence quote), and how often the two stores' top passage and
top 10 agree. This is the candidate search alone - not ``Index.search`` (no grounding boost, no grouping of a talk's
windows) - so its figures are for comparing the two stores, not for comparing with ``tripsearch eval``; for
``Index.search`` over ``milvus://`` side by side with a folder see ``benchmarks/milvus_index.py``, and for
synthetic passages loaded through the store ``benchmarks/milvus_scale.py``.

Without --uri it starts a local `milvus-lite server` (tests/milvus_server.py) in a temporary folder and stops it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the server helper the tests use: one way to start milvus-lite

MODES = ("dense", "keyword", "hybrid")
K = 10


def ranked(search, store, question: str, mode: str, vector) -> list:
    scored = search.score(question, mode, None, vector if mode != "keyword" else None)
    order = np.argsort(-scored.scores, kind="stable")[:K]
    if mode == "keyword":
        order = [i for i in order if scored.scores[i] > 0]
    return store.fetch(scored.rows[order])


def run(uri: str, args) -> None:
    from tripsearch import Index
    from tripsearch.evaluate.crossval import figures_of, score
    from tripsearch.evaluate.questions import load_question_files
    from tripsearch.index import hit_from
    from tripsearch.search.candidates import CandidateSearch
    from tripsearch.store.milvus import open_milvus_store
    from tripsearch.store.milvus_build import build_milvus

    host, port = uri.removeprefix("http://").rsplit(":", 1)
    address = f"milvus://{host}:{port}/{args.name}"
    started = time.monotonic()
    report = build_milvus(address, args.posts, rebuild=True, seed=None if args.embed else args.index)
    print(f"build: {report.summary()} ({time.monotonic() - started:.1f} s)")
    started = time.monotonic()
    remote = open_milvus_store(address)
    print(f"open: {time.monotonic() - started:.2f} s, {len(remote)} passages, {remote.sentence_count} sentences")
    index = Index.open(args.index)
    stores = {"local": index.store, "milvus": remote}
    sentences = {"local": len(index.sentences.vectors), "milvus": remote.sentence_count}
    searches = {name: CandidateSearch(store, sentences[name]) for name, store in stores.items()}
    questions = load_question_files(args.questions)
    vectors = {q.id: index.embed_query(q.question) for q in questions}
    for mode in MODES:
        tops: dict[str, list[list[str]]] = {}
        for name, store in stores.items():
            times, results, tops[name] = [], [], []
            for q in questions:
                t = time.perf_counter()
                passages = ranked(searches[name], store, q.question, mode, vectors[q.id])
                times.append((time.perf_counter() - t) * 1000)
                tops[name].append([p.id for p in passages])
                results.append(score(q, [hit_from(p, 0.0) for p in passages]))
            f = figures_of(results)
            p95 = statistics.quantiles(times, n=20)[-1]
            print(
                f"{mode:8} {name:6}  p50 {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  "
                f"hit@1 {f.hit1:.3f}  recall@5 {f.recall5:.3f}  MRR@10 {f.mrr10:.3f}  ({f.retrieved} questions)"
            )
        pairs = list(zip(tops["local"], tops["milvus"]))
        same_top = statistics.fmean(bool(a) and bool(b) and a[0] == b[0] for a, b in pairs)
        overlap = statistics.fmean(len(set(a) & set(b)) / max(len(a), 1) for a, b in pairs)
        print(f"{mode:8} agree   top passage same {same_top:.3f}, top-10 overlap {overlap:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", nargs="+", type=Path)
    parser.add_argument("--index", required=True, type=Path, help="a local index of --posts (its vectors are reused)")
    parser.add_argument("--posts", required=True, type=Path)
    parser.add_argument("--uri", help="a Milvus server, http://HOST:PORT (default: start milvus-lite)")
    parser.add_argument("--name", default="benchmark_store")
    parser.add_argument("--embed", action="store_true", help="embed every passage again instead of reusing --index")
    args = parser.parse_args()
    from milvus_server import run_on_server

    run_on_server(args.uri, lambda uri: run(uri, args))


if __name__ == "__main__":
    main()
