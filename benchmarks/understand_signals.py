"""Descriptive, not fitted: how often each understanding/coverage signal fires on answerable and on unanswerable
questions, for the first answer sentence today's ``ask`` gives (or, when it abstains, the first sentence of its
best passage). Nothing here chooses a weight: that is for the cross-validated confidence model.

    PYTHONPATH=src python benchmarks/understand_signals.py INDEX_DIR QUESTIONS.jsonl [...]
"""

from __future__ import annotations

import json
import sys
import time

from tripsearch import Index
from tripsearch.answer.answer_types import expected_type
from tripsearch.answer.constraints import Evidence, check_coverage
from tripsearch.answer.understand import Understander

SIGNALS = (
    "q_gap",
    "q_gap_soft",
    "q_gap_combination",
    "q_event_not_firm",
    "q_names_unknown_person",
    "c_uncovered_name",
    "c_uncovered_year",
    "c_uncovered_event",
    "c_uncovered_qualifier",
    "c_uncovered_person",
    "c_uncovered_talk",
    "c_uncovered_number",
    "c_uncovered_answer_type",
)
HARD = (
    "q_gap",
    "c_uncovered_name",
    "c_uncovered_year",
    "c_uncovered_event",
    "c_uncovered_person",
    "c_uncovered_number",
)


def main() -> None:
    index = Index.open(sys.argv[1])
    start = time.perf_counter()
    understander = Understander.from_passages(index.passages, index.unknown_words)
    print(f"understander built in {time.perf_counter() - start:.2f} s")
    rows = []
    for path in sys.argv[2:]:
        for line in open(path, encoding="utf-8"):
            if not line.strip():
                continue
            q = json.loads(line)
            answer = index.ask(q["question"], k=3)
            if not answer.hits:
                continue
            if answer.sentences:
                first = answer.sentences[0]
                passage = index.passage(first.passage_id)
                i = next(j for j, s in enumerate(passage.sentences) if s[0] == first.start)
            else:
                passage, i = index.passage(answer.hits[0].passage_id), 0
            if not passage.sentences:
                continue
            understanding = understander.understand(q["question"])
            coverage = check_coverage(understanding, Evidence.from_passage(passage, i), expected_type(q["question"]))
            rows.append((q["answerable"], {**understanding.signals(), **coverage.signals()}))
    answerable = [s for a, s in rows if a]
    unanswerable = [s for a, s in rows if not a]
    for name in SIGNALS:
        a = sum(s[name] > 0 for s in answerable)
        n = sum(s[name] > 0 for s in unanswerable)
        print(f"{name:26} answerable {a:3d}/{len(answerable)}  unanswerable {n:3d}/{len(unanswerable)}")
    a = sum(any(s[k] > 0 for k in HARD) for s in answerable)
    n = sum(any(s[k] > 0 for k in HARD) for s in unanswerable)
    print(
        f"{'any of ' + ', '.join(HARD)}:\n{'':26} answerable {a:3d}/{len(answerable)}  unanswerable {n:3d}/{len(unanswerable)}"
    )


if __name__ == "__main__":
    main()
