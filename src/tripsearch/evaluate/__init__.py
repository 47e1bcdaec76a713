"""Evaluate search and answers on question files, with or without cross-validation.

- ``questions``: the question-file format, ``load_questions`` / ``load_question_files``.
- ``matching``: when a passage or an answer sentence counts as right (``is_answer``, ``answer_sentence_right``).
- ``scores``: figures over one question set without folds (``evaluate``, ``evaluate_answers``).
- ``folds``: k folds grouped by post; ``crossval``: per-question results, per-fold figures, ``cross_validate``.
- ``tables``: the text and JSON the ``tripsearch eval`` command prints.
"""

from tripsearch.evaluate.matching import (
    QUOTE_COVERAGE,
    SENTENCE_RUN,
    answer_sentence_right,
    holds_quote,
    is_answer,
    normalise,
    sentence_matches_quote,
    sentence_right,
)
from tripsearch.evaluate.questions import Question, load_question_files, load_questions
from tripsearch.evaluate.scores import AnswerReport, Report, Scores, evaluate, evaluate_answers

__all__ = [
    "QUOTE_COVERAGE",
    "SENTENCE_RUN",
    "AnswerReport",
    "Question",
    "Report",
    "Scores",
    "answer_sentence_right",
    "evaluate",
    "evaluate_answers",
    "holds_quote",
    "is_answer",
    "load_question_files",
    "load_questions",
    "normalise",
    "sentence_matches_quote",
    "sentence_right",
]
