"""Measure the build's embedding settings: onnxruntime threads per session x batches in flight x token budget.

    PYTHONPATH=src .venv/bin/python benchmarks/embed_settings.py [--corpus DIR] [--passages 300] [--rounds 3]

Embeds the same passages (a fixed sample of the corpus) with ``tripsearch.embed.late.embed_passages`` under
each setting, the settings interleaved round by round so that load from other processes hits them alike;
prints the median tokens/s per setting and the process's peak RSS after each setting's first run (the
onnxruntime arena grows with the largest batch and never shrinks). ``tripsearch.embed.build_vectors.BUILD_THREADS`` and
``tripsearch.embed.late.TOKEN_BUDGET`` were chosen with it.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [  # (intra-op threads, batches in flight, token budget); in order of expected arena size, since
    # ru_maxrss only grows: the RSS printed after a setting's first run is the most any setting so far needed
    (1, 2, 2048),
    (1, 1, 4096),
    (2, 1, 4096),
    (1, 2, 4096),
    (2, 2, 4096),
    (1, 2, 8192),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "trip-reports")
    parser.add_argument("--passages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tripsearch.embed.late import TWO_PASS, PassageInput, embed_passages
    from tripsearch.embed.runtime import OnnxEncoder
    from tripsearch.passages import split_post
    from tripsearch.posts import read_folder

    passages = [p for post in read_folder(args.corpus).posts for p in split_post(post)]
    rng = np.random.default_rng(0)
    items = [PassageInput.of(passages[i]) for i in sorted(rng.choice(len(passages), args.passages, replace=False))]
    encoders = {threads: OnnxEncoder(threads=threads) for threads in {s[0] for s in SETTINGS}}
    rates: dict[tuple, list[float]] = {s: [] for s in SETTINGS}
    for round_ in range(args.rounds):
        for setting in SETTINGS:
            threads, workers, budget = setting
            enc = encoders[threads]
            done = [0]
            started = time.perf_counter()
            embed_passages(
                enc.runtime,
                items,
                enc.max_seq_length,
                enc.dim,
                method=TWO_PASS,
                workers=workers,
                token_budget=budget,
                progress=lambda d, t: done.__setitem__(0, d),
            )
            rates[setting].append(done[0] / (time.perf_counter() - started))
            if round_ == 0:
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"{setting}: {rates[setting][-1]:,.0f} tokens/s, peak RSS so far {rss:.0f} MiB", flush=True)
    print(
        f"\n{len(items)} passages, {args.rounds} rounds; median tokens/s (load average {__import__('os').getloadavg()})"
    )
    print(f"{'threads':>8}{'in flight':>10}{'budget':>8}{'tokens/s':>10}")
    for (threads, workers, budget), values in rates.items():
        print(f"{threads:>8}{workers:>10}{budget:>8}{statistics.median(values):>10,.0f}")


if __name__ == "__main__":
    main()
