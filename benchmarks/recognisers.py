"""Accuracy and speed of the answer-type recognisers (tripsearch.answer.answer_types.recognise).

Two hand-labelled samples of real-corpus sentences, leaving out every sentence that overlaps an evidence quote
of the dev question sets; each sentence is labelled with the kinds of thing it holds (quantity, money,
percentage, date, person, org; talk titles are not labelled):

- ``recogniser_sample.jsonl``: 100 sentences (seed 11: 40 with a digit, 10 with a currency sign or word, 10
  with a percent, 40 without digits). The recognisers were developed looking at it: its figures are optimistic.
- ``recogniser_heldout.jsonl``: 60 other sentences (seed 23: 30 with a digit, 30 without), labelled after the
  recognisers were written and scored once before any change (see the report); two kinds of miss it showed
  (temperatures "40 °C" and ranges "20-30 minutes") were then fixed, so its figures are no longer unseen.

    PYTHONPATH=src python benchmarks/recognisers.py [--compare]

The samples hold no corpus text (posts are never copied into the repo): each row names the post, the sha1 of its
sentence (whitespace folded, first 16 hex digits) and the labels; ``load`` finds the sentence again in
../shared/corpus/trip-reports by splitting the post's blocks into sentences. Six rows labelled before the splitter
stopped cutting "ASP.NET"-style names were dropped, since their fragments are no longer sentences.

``--compare`` also times and scores datefinder and dateparser.search.search_dates on the date label, when
they are installed (they are not dependencies: see answer_types' docstring).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

from tripsearch.answer.answer_types import recognise
from tripsearch.passages.clean import markdown_blocks
from tripsearch.passages.sentences import sentence_spans
from tripsearch.posts.reader import read_post

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "trip-reports"

SAMPLES = [Path(__file__).parent / "data" / name for name in ("recogniser_sample.jsonl", "recogniser_heldout.jsonl")]
KINDS = {
    "quantity": "quantity",
    "money": "money",
    "percentage": "percentage",
    "date": "date",
    "person": "person",
    "org": "organisation",
}


def score(rows, predict) -> dict[str, tuple[float, float, float, int]]:
    """Per label: precision, recall, accuracy over the sentences, and how many sentences carry the label."""
    out = {}
    for label in KINDS:
        tp = fp = fn = tn = 0
        for row in rows:
            truth = label in row["labels"]
            guess = predict(row["sentence"], label)
            tp += truth and guess
            fp += guess and not truth
            fn += truth and not guess
            tn += not truth and not guess
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        out[label] = (precision, recall, (tp + tn) / len(rows), tp + fn)
    return out


def main() -> None:
    for sample in SAMPLES:
        print(f"== {sample.name}")
        run(sample)


def sentence_key(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).encode()).hexdigest()[:16]


def load(sample: Path) -> list[dict]:
    """The sample's rows with their ``sentence`` text found again in the real corpus."""
    rows, by_post = [], {}
    for line in sample.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row["post"] not in by_post:
            post = read_post(CORPUS / row["post"], CORPUS)
            by_post[row["post"]] = {
                sentence_key(block.text[a:z]): block.text[a:z]
                for block in markdown_blocks(post.body, post.body_start_line)
                for a, z in sentence_spans(block.text, post.meta.language)
            }
        rows.append({**row, "sentence": by_post[row["post"]][row["sentence_sha1"]]})
    return rows


def run(sample: Path) -> None:
    rows = load(sample)
    cache = {}

    def ours(sentence: str, label: str) -> bool:
        if sentence not in cache:
            cache[sentence] = recognise(sentence)
        return cache[sentence].has(KINDS[label])

    times = []
    for _ in range(5):
        t = time.perf_counter()
        for row in rows:
            recognise.__wrapped__(row["sentence"])  # uncached
        times.append((time.perf_counter() - t) / len(rows) * 1000)
    print(f"recognise(): {statistics.median(times):.3f} ms per sentence (median of 5 passes over {len(rows)})")
    print(f"{'label':12} {'precision':>9} {'recall':>7} {'accuracy':>8} {'n':>4}")
    for label, (p, r, a, n) in score(rows, ours).items():
        print(f"{label:12} {p:9.2f} {r:7.2f} {a:8.2f} {n:4d}")
    if "--compare" in sys.argv:
        compare_dates(rows)


def compare_dates(rows) -> None:
    """Precision, recall and speed of datefinder and dateparser on the date label, where installed."""
    date_rows = [{"sentence": r["sentence"], "labels": ["date"] if "date" in r["labels"] else []} for r in rows]

    def datefinder_finds():
        import datefinder

        return lambda sentence: bool(list(datefinder.find_dates(sentence)))

    def dateparser_finds():
        from dateparser.search import search_dates

        return lambda sentence: bool(search_dates(sentence, languages=["en"]))

    for name, load in (("datefinder", datefinder_finds), ("dateparser", dateparser_finds)):
        try:
            finds = load()
        except ImportError:
            print(f"{name} not installed")
            continue
        finds(rows[0]["sentence"])  # a first call may load its tables: not timed
        t = time.perf_counter()
        result = score(date_rows, lambda sentence, label, finds=finds: label == "date" and finds(sentence))["date"]
        ms = (time.perf_counter() - t) / len(rows) * 1000
        print(f"{name} date: precision {result[0]:.2f} recall {result[1]:.2f} ({ms:.2f} ms per sentence)")


if __name__ == "__main__":
    main()
