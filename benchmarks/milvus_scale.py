"""Benchmark: synthetic passages loaded into a Milvus server through the tripsearch Milvus store, then searched
through ``Index.open("milvus://…")`` (issue 15: "loads 100k synthetic passages and prints ingest rate and query
latency through the server").

    PYTHONPATH=src .venv/bin/python benchmarks/milvus_scale.py --passages 10000[,100000]
        [--source INDEX] [--uri http://HOST:19530] [--queries 20] [--work DIR]

Per size: synthetic posts, passages, passage and sentence vectors are made exactly as ``benchmarks/scale.py``
makes them (its ``load_source`` and ``synthesize``, imported: real passages of the source index recombined, vectors
moved off the real ones), then written into a new build on the server with the store's own functions
(``milvus_schema.create_collections`` and ``post_row``, ``milvus_build._write_rows`` and ``_record``, the alias
made as ``build_milvus`` makes it), flushed and loaded. Nothing is embedded but the questions.

Prints: ingest time and rate (passages/s and sentence rows/s over writing the rows; then flush + index build +
load), ``Index.open`` time, and per mode warm p50/p95 ms with the question vector given
(``Index.scored_passages``) and through ``Index.search`` (question embedded), and a filtered hybrid search (one
year of dates, ``scale.FILTER``) with its fewest hits. Questions: ``../shared/eval/dev.jsonl`` cycled to --queries.
Without --uri it starts a `milvus-lite server` (tests/milvus_server.py) with its data under --work, stopped after.
milvus-lite is pure Python: its figures show the path works and its order of cost, not Milvus's speed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the server helper the tests use: one way to start milvus-lite
sys.path.insert(0, str(ROOT / "benchmarks"))  # scale.py: the synthetic corpus is made one way

MODES = ("hybrid", "dense", "keyword", "hybrid-rrf")
K = 10


def ingest(uri: str, name: str, source, stored, passages, vectors, sentence_vectors) -> dict:
    """A new build of ``milvus://…/name`` written from the synthetic records; returns the timings."""
    from tripsearch.store.milvus import live_collection
    from tripsearch.store.milvus_build import WRITE_BATCH, _collect_garbage, _record, _write_rows
    from tripsearch.store.milvus_schema import (
        connect,
        create_collections,
        parse_address,
        post_row,
        posts_of,
        sentences_of,
    )

    manifest = source[0]
    address = parse_address(f"milvus://{uri.removeprefix('http://')}/{name}")
    client = connect(address)
    collection = f"{name}__g{time.strftime('%Y%m%d%H%M%S')}"
    ref = SimpleNamespace(name=manifest["model"], fingerprint=manifest["model_fingerprint"])
    record = _record(
        ref, manifest["dim"], manifest["encoder_kind"], manifest.get("vectors", ""), SimpleNamespace(failed=[])
    )
    create_collections(client, collection, manifest["dim"], record)
    started = time.perf_counter()
    _write_rows(client, collection, passages, vectors, sentence_vectors)
    for lo in range(0, len(stored), WRITE_BATCH):
        client.insert(posts_of(collection), [post_row(p) for p in stored[lo : lo + WRITE_BATCH]])
    written = time.perf_counter() - started
    for table in (collection, sentences_of(collection), posts_of(collection)):
        client.flush(table)
        client.load_collection(table)
    sealed = time.perf_counter() - started - written
    live = live_collection(client, address)
    if live is None:
        client.create_alias(collection, name)
    else:
        client.alter_alias(collection, name)
    _collect_garbage(client, address, keep={collection})
    client.close()
    return {"address": str(address), "write_s": written, "seal_s": sealed}


def measure(address: str, encoder, questions: list[str], qvecs: np.ndarray) -> dict:
    from scale import FILTER

    from tripsearch import Index
    from tripsearch.search.filters import Filters

    started = time.perf_counter()
    idx = Index.open(address, encoder=encoder)
    out = {"open_s": time.perf_counter() - started, "opened_passages": len(idx.passages)}
    print(f"  open: {out['open_s']:.2f} s ({out['opened_passages']} passages)", flush=True)
    year = Filters.of(**FILTER)

    def timed(mode: str, filters=None, with_vector: bool = True) -> tuple[list[float], int]:
        run = (
            (lambda q, v: [s.hit for s in idx.scored_passages(q, K, filters, mode, v)])
            if with_vector
            else (lambda q, v: idx.search(q, k=K, mode=mode, **(FILTER if filters else {})))
        )
        run(questions[0], qvecs[0])  # warm: caches, the store's sample
        times, fewest = [], K
        for q, v in zip(questions, qvecs):
            t = time.perf_counter()
            hits = run(q, v)
            times.append((time.perf_counter() - t) * 1000)
            fewest = min(fewest, len(hits))
        return times, fewest

    for mode in MODES:
        for label, with_vector in (("vector", True), ("search", False)):
            times, _ = timed(mode, None, with_vector)
            out[f"{mode} {label}"] = (np.percentile(times, 50), np.percentile(times, 95))
            print(
                f"  {mode:10} {label:6} p50 {out[f'{mode} {label}'][0]:8.1f} ms  p95 {out[f'{mode} {label}'][1]:8.1f} ms",
                flush=True,
            )
    times, fewest = timed("hybrid", year, True)
    out["filtered"] = (np.percentile(times, 50), np.percentile(times, 95), fewest)
    print(
        f"  hybrid + one year filter (vector) p50 {out['filtered'][0]:8.1f} ms  p95 {out['filtered'][1]:8.1f} ms  fewest hits {fewest}",
        flush=True,
    )
    return out


def run(uri: str, args) -> None:
    from scale import load_source, synthesize

    from tripsearch.embed import load_encoder

    source = load_source(Path(args.source))
    encoder = load_encoder(source[0]["model"])
    rows = [
        json.loads(line)
        for line in (ROOT.parent / "shared" / "eval" / "dev.jsonl").read_text().splitlines()
        if line.strip()
    ]
    questions = [r["question"] for r in rows]
    questions = (questions * (args.queries // len(questions) + 1))[: args.queries]
    qvecs = np.asarray(encoder.encode(questions), dtype=np.float32)
    for n in (int(x) for x in args.passages.split(",")):
        here = Path(args.work) / f"n{n}"
        shutil.rmtree(here, ignore_errors=True)
        started = time.perf_counter()
        stored, passages, vectors, sentence_vectors = synthesize(n, source, here / "posts", np.random.default_rng(n))
        n_sent = len(sentence_vectors)
        print(
            f"{n} passages: {len(stored)} posts, {n_sent} sentence rows, made in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        t = ingest(uri, f"synthetic_{n}", source, stored, passages, vectors, sentence_vectors)
        del stored, passages, vectors, sentence_vectors
        total = t["write_s"] + t["seal_s"]
        print(
            f"  ingest: rows written {t['write_s']:.1f} s ({n / t['write_s']:.0f} passages/s, "
            f"{n_sent / t['write_s']:.0f} sentence rows/s); flush + index + load {t['seal_s']:.1f} s; "
            f"overall {n / total:.0f} passages/s, {n_sent / total:.0f} sentence rows/s",
            flush=True,
        )
        measure(t["address"], encoder, questions, qvecs)
        shutil.rmtree(here / "posts", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", default="10000")
    parser.add_argument("--source", default="/work/exp/index-a", help="a real-corpus index, read only")
    parser.add_argument("--uri", help="a Milvus server, http://HOST:PORT (default: start milvus-lite)")
    parser.add_argument("--queries", type=int, default=20, help="questions per mode (dev.jsonl, cycled)")
    parser.add_argument("--work", default="/tmp/tripsearch-milvus-scale")
    args = parser.parse_args()
    from milvus_server import run_on_server

    run_on_server(args.uri, lambda uri: run(uri, args), Path(args.work) / "milvus-data")


if __name__ == "__main__":
    main()
