"""Time the question-understanding signals on the real corpus: build once, then per question.

Per question: ``understand`` + ``expected_type``, then for 20 candidate sentences ``recognise`` and
``check_coverage`` with the answer type — what ``ask`` would add. The candidates are the sentences of 3 random
real-corpus passages (``ask`` picks its answer sentences from its 3 best passages), at most 20: only the time
matters here, so no index is built.

    PYTHONPATH=src python benchmarks/understand_speed.py [POSTS_DIR] [QUESTIONS.jsonl ...]
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

from tripsearch.answer.answer_types import expected_type, recognise
from tripsearch.answer.constraints import Evidence, check_coverage
from tripsearch.answer.understand import Understander
from tripsearch.answer.vocabulary import IndexMetadata
from tripsearch.passages import split_post
from tripsearch.posts import read_folder

CANDIDATES = 20


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    posts_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "corpus" / "trip-reports"
    files = [Path(p) for p in sys.argv[2:]] or sorted((root.parent / "shared" / "eval").glob("dev*.jsonl"))
    questions = [json.loads(line)["question"] for f in files for line in f.read_text().splitlines() if line.strip()]
    passages = [p for post in read_folder(posts_dir).posts for p in split_post(post)]
    metadata = IndexMetadata.from_passages(passages)
    t = time.perf_counter()
    understander = Understander.from_metadata(metadata)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    understander = Understander.from_metadata(metadata)
    warm = time.perf_counter() - t
    print(f"build: {cold * 1000:.0f} ms cold (loads the given-name list), {warm * 1000:.0f} ms warm")
    print(
        f"  {len(metadata.posts)} posts, {len(metadata.sessions)} talks, {len(understander.vocabulary.events)} event names"
    )
    rng = random.Random(0)
    with_sentences = [p for p in passages if p.sentences]
    understand_ms, total_ms = [], []
    for question in questions:
        t = time.perf_counter()
        u = understander.understand(question)
        kind = expected_type(question)
        mid = time.perf_counter()
        candidates = [(p, i) for p in rng.sample(with_sentences, 3) for i in range(len(p.sentences))]
        for passage, i in candidates[:CANDIDATES]:
            evidence = Evidence.from_passage(passage, i)
            recognise(evidence.sentence)
            check_coverage(u, evidence, kind)
        end = time.perf_counter()
        understand_ms.append((mid - t) * 1000)
        total_ms.append((end - t) * 1000)
    for name, values in (("understand + expected_type", understand_ms), (f"+ {CANDIDATES} sentences", total_ms)):
        q = statistics.quantiles(values, n=20)
        print(f"{name}: p50 {statistics.median(values):.1f} ms, p95 {q[18]:.1f} ms over {len(values)} questions")


if __name__ == "__main__":
    main()
