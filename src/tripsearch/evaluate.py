"""Score retrieval on a question file: hit@1, recall@5, recall@10, MRR@10, words per passage, by type.

A returned passage answers a question when it holds one of the question's evidence quotes, compared
after removing markdown and HTML and folding whitespace and case. A quote cut by a passage boundary
counts when most of it (by words, in order) is in the passage.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tripsearch.errors import BadInput
from tripsearch.passages.clean import markdown_blocks

QUOTE_COVERAGE = 0.6  # share of a quote's words, in order, that must be in the passage


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answerable: bool
    type: str
    answer: str
    evidence: tuple[tuple[str, str], ...]  # (file, quote)


def load_questions(path: Path | str) -> list[Question]:
    questions = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
            questions.append(
                Question(
                    q["id"],
                    q["question"],
                    bool(q.get("answerable", True)),
                    q.get("type", "other"),
                    q.get("answer", ""),
                    tuple((e["file"], e["quote"]) for e in q.get("evidence", [])),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"{path}:{n}: not a question record ({exc})") from None
    return questions


@lru_cache(maxsize=65536)  # the same passages come back question after question
def normalise(text: str) -> str:
    """Text as a reader sees it, folded: markdown and HTML removed, whitespace and case collapsed."""
    text = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", text)  # reference-style links, [text][ref] and [text][]
    if re.search(r"[*_`#\[<]", text):
        text = " ".join(b.text for b in markdown_blocks(text, 1))
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(text.lower().split())


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def holds_quote(passage_text: str, quote: str) -> bool:
    passage, quote = normalise(passage_text), normalise(quote)
    if quote in passage:
        return True
    # A quote cut by a passage boundary: the longest run of its words found in order in the passage.
    q, p = _words(quote), " ".join(_words(passage))
    if not q:
        return False
    best = 0
    for i in range(len(q)):
        for j in range(len(q), i + best, -1):
            if " ".join(q[i:j]) in p:
                best = j - i
                break
    return best / len(q) >= QUOTE_COVERAGE


def is_answer(hit, question: Question) -> bool:
    return any(hit.path == file and holds_quote(hit.text, quote) for file, quote in question.evidence)


@dataclass
class Scores:
    n: int = 0
    hit1: float = 0.0
    recall5: float = 0.0
    recall10: float = 0.0
    mrr10: float = 0.0
    words: float = 0.0

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass
class Report:
    mode: str
    overall: Scores
    by_type: dict[str, Scores] = field(default_factory=dict)
    per_question: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "overall": self.overall.as_dict(),
            "by_type": {t: s.as_dict() for t, s in sorted(self.by_type.items())},
        }


def _summarise(rows: list[dict]) -> Scores:
    if not rows:
        return Scores()
    return Scores(
        n=len(rows),
        hit1=statistics.fmean(r["rank"] == 1 for r in rows),
        recall5=statistics.fmean(r["rank"] is not None and r["rank"] <= 5 for r in rows),
        recall10=statistics.fmean(r["rank"] is not None and r["rank"] <= 10 for r in rows),
        mrr10=statistics.fmean(1 / r["rank"] if r["rank"] else 0.0 for r in rows),
        words=statistics.fmean(r["words"] for r in rows),
    )


def evaluate(index, questions: list[Question], mode: str = "hybrid", k: int = 10) -> Report:
    """Retrieval scores over the answerable questions (unanswerable ones are for abstention).

    ``mode`` is a search mode, or "rerank": the passage order of ``Index.ask``, after its second stage.
    """
    rows = []
    for q in questions:
        if not q.answerable or not q.evidence:
            continue
        hits = list(index.ask(q.question, k=k).hits) if mode == "rerank" else index.search(q.question, k=k, mode=mode)
        rank = next((i for i, h in enumerate(hits, start=1) if is_answer(h, q)), None)
        rows.append(
            {
                "id": q.id,
                "type": q.type,
                "rank": rank,
                "words": statistics.fmean(len(h.text.split()) for h in hits) if hits else 0.0,
            }
        )
    by_type = defaultdict(list)
    for r in rows:
        by_type[r["type"]].append(r)
    return Report(mode, _summarise(rows), {t: _summarise(rs) for t, rs in by_type.items()}, rows)


def _run_overlap(a: list[str], b: list[str]) -> int:
    """Length of the longest run of words shared by ``a`` and ``b``."""
    best = 0
    for i in range(len(a)):
        for j in range(len(b)):
            n = 0
            while i + n < len(a) and j + n < len(b) and a[i + n] == b[j + n]:
                n += 1
            best = max(best, n)
    return best


def sentence_matches_quote(sentence: str, quote: str) -> bool:
    """An answer sentence overlaps an evidence quote: half of the shorter one is a shared run of words."""
    a, b = _words(normalise(sentence)), _words(normalise(quote))
    if not a or not b:
        return False
    return _run_overlap(a, b) >= max(3, 0.5 * min(len(a), len(b)))


@dataclass
class AnswerReport:
    answerable: int = 0
    unanswerable: int = 0
    top_sentence_correct: float = 0.0  # share of answerable questions whose top answer sentence overlaps a quote
    abstained_answerable: int = 0
    abstained_unanswerable: int = 0
    rows: list[dict] = field(default_factory=list)  # per question: confidence, abstained, correct

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "rows"}

    def threshold_curve(self, thresholds) -> list[tuple[float, int, int]]:
        """(threshold, answerable abstained, unanswerable abstained) if we abstained below each threshold."""
        return [
            (
                t,
                sum(r["answerable"] and r["confidence"] < t for r in self.rows),
                sum(not r["answerable"] and r["confidence"] < t for r in self.rows),
            )
            for t in thresholds
        ]


def evaluate_answers(index, questions: list[Question], k: int = 5) -> AnswerReport:
    report = AnswerReport()
    correct = 0
    for q in questions:
        answer = index.ask(q.question, k=k)
        top = answer.sentences[0] if answer.sentences else None
        if top is None and answer.hits and answer.hits[0].highlights:  # abstained: still judge its best guess
            hit = answer.hits[0]
            start, end = hit.highlights[0]
            top_text, top_path = hit.text[start:end], hit.path
        else:
            top_text, top_path = (top.text, top.citation.path) if top else ("", "")
        ok = any(top_path == f and sentence_matches_quote(top_text, quote) for f, quote in q.evidence)
        report.rows.append(
            {
                "id": q.id,
                "answerable": q.answerable,
                "confidence": answer.confidence,
                "abstained": answer.abstained,
                "correct": ok,
            }
        )
        if q.answerable:
            report.answerable += 1
            report.abstained_answerable += answer.abstained
            correct += ok
        else:
            report.unanswerable += 1
            report.abstained_unanswerable += answer.abstained
    report.top_sentence_correct = correct / report.answerable if report.answerable else 0.0
    return report
