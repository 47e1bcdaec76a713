"""Figures over one question set, without folds: hit@1, recall@5, recall@10, MRR@10, words per passage, by type;
and the answer figures of ``evaluate_answers`` (used by ``notebooks/evaluate.ipynb``).

A returned passage answers a question when it holds one of the question's evidence quotes (``matching.is_answer``).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from tripsearch.evaluate.matching import is_answer, sentence_matches_quote
from tripsearch.evaluate.questions import Question


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
