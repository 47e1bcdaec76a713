"""Warm ``Index.ask`` latency on a built index: one ask to load the model and the per-index structures
(``answer.context``), then every question of the files once; prints p50 and p95 (issue 11: p50 ≤ 150 ms on the
real corpus).

    PYTHONPATH=src python benchmarks/ask_speed.py INDEX_DIR QUESTIONS.jsonl [...]
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from tripsearch import Index


def main() -> None:
    index = Index.open(sys.argv[1])
    questions = [json.loads(line)["question"] for path in sys.argv[2:] for line in open(path) if line.strip()]
    index.ask(questions[0])  # warm: the model, the understander
    times = []
    for q in questions:
        start = time.perf_counter()
        index.ask(q)
        times.append(time.perf_counter() - start)
    times.sort()
    p50, p95 = statistics.median(times) * 1000, times[int(len(times) * 0.95)] * 1000
    print(f"warm ask, {len(times)} questions: p50 {p50:.0f} ms, p95 {p95:.0f} ms")


if __name__ == "__main__":
    main()
