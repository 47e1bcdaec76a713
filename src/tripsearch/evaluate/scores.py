"""Figures over one question set, without folds: hit@1, recall@5, recall@10, MRR@10, words per passage, by type;
and the answer figures of ``evaluate_answers`` (used by ``notebooks/evaluate.ipynb``).

A returned passage answers a question when it holds one of the question's evidence quotes (``matching.is_answer``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from tripsearch.evaluate.crossval import QuestionResult, figures_of, score
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


def _summarise(results: list[QuestionResult]) -> Scores:
    """The search figures of ``crossval.figures_of``, in the shape the notebook reads."""
    if not results:
        return Scores()
    f = figures_of(results)
    return Scores(n=f.retrieved, hit1=f.hit1, recall5=f.recall5, recall10=f.recall10, mrr10=f.mrr10, words=f.words)


def evaluate(index, questions: list[Question], mode: str = "hybrid", k: int = 10) -> Report:
    """Retrieval scores over the answerable questions (unanswerable ones are for abstention).

    ``mode`` is a search mode, or "rerank": the passage order of ``Index.ask``, after its second stage.
    """
    results = []
    for q in questions:
        if not q.answerable or not q.evidence:
            continue
        hits = list(index.ask(q.question, k=k).hits) if mode == "rerank" else index.search(q.question, k=k, mode=mode)
        results.append(score(q, hits))
    by_type = defaultdict(list)
    for r in results:
        by_type[r.type].append(r)
    rows = [{"id": r.id, "type": r.type, "rank": r.rank, "words": r.words} for r in results]
    return Report(mode, _summarise(results), {t: _summarise(rs) for t, rs in by_type.items()}, rows)


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
        ok = score(q, answer.hits, answer).top_overlaps  # an abstention's best guess is judged too
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
