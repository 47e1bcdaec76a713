"""One calibrated confidence: a logistic regression over the answer's signals, and the abstention threshold.

``ConfidenceModel.probability(signals)`` is the probability that the question is one the reports answer, from
the flat signals the pipeline computes (``FEATURES``: today's evidence — sentence cosine, word coverage, unknown
words, score margins — plus question understanding, answer types and constraint coverage). Below
``threshold`` the answer abstains; ``rules`` name hard rules that abstain whatever the probability ("gap": the
question names an event, year, author or combination no indexed post covers; "type", "unknown", "outside":
``rule_fired``).

The shipped model is ``confidence.json`` next to this file: feature names, the standardisation (mean, scale),
coefficients, intercept, threshold and rules — plain numbers, no pickle. It is written by
``benchmarks/fit_confidence.py``, which chooses the setting (regularisation C, rules) and the threshold by
cross-validation grouped by post (``evaluate.confidence_cv``) and only then refits on all dev questions (the
standard final refit). Applying it is a dot product: no scikit-learn at run time.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from tripsearch.answer.linear import read_linear
from tripsearch.answer.sentence_ranker import shipped_ranker
from tripsearch.answer.sentences import AnswerSettings
from tripsearch.errors import TripsearchError

MODEL_FILE = Path(__file__).with_name("confidence.json")

# The signals the model reads, in order. Each is documented where it is computed (pipeline._add_signals,
# mentions.QuestionUnderstanding.signals, answer_types.type_signals, constraints.Coverage.signals). Left out on
# purpose: signals whose scale depends on the corpus (title/post word coverage, raw search-score margins) — fitted
# on the real corpus they extrapolate wildly on a small one — and near-duplicates of those kept.
FEATURES = (
    # today's evidence
    "s_cosine",  # the first answer sentence's cosine to the question
    "s_coverage",  # share of the question's content words in that sentence
    "s_unknown_share",  # share of the question's content words no report contains
    "s_unknown_named",  # the question names a thing no report mentions (Strimzi)
    "s_unknown_any",  # some content word of the question is in no report ("autovacuum", written in lower case)
    "s_rerank_margin",  # second-stage score of the top passage minus the runner-up's (z-scored inputs)
    # question understanding
    "q_gap",  # names an event, year, author or combination no post covers
    "q_gap_soft",
    "q_names_unknown_person",
    "r_top_in_restriction",  # the top passage's post satisfies what the question pins down
    # answer types
    "t_wants_span",
    "t_missing_first",  # the question wants a span (a number, a date, a name...) and the first sentence has none
    "t_missing_any",  # ... and none of the best sentences has one
    # constraint coverage of the first answer sentence
    "c_share_sentence",
    "c_share_any",
    "c_uncovered_event",
    "c_uncovered_year",
    "c_uncovered_person",
    "c_uncovered_name",
    "c_uncovered_number",
    "c_uncovered_answer_type",
    "c_uncovered_total",  # constraints (not the answer type) that neither the sentence, its passage nor its post covers
)
Z_CLIP = 3.0  # standardised values are clipped: a question far outside the training range must not dominate
RULES = ("gap", "type", "unknown", "outside")  # hard rules a setting may switch on


def rule_fired(rules: tuple[str, ...], signals: dict[str, float]) -> str | None:
    """The first of ``rules`` that fires on ``signals``, else None: "gap" (the question names an event, year,
    author or combination no post covers), "type" (it asks for a number, date, name... and none of the best
    sentences holds one), "unknown" (a word of it that no report contains is not an English word either:
    ``features.not_english``), "outside" (the question pins down an event, year or author that some posts
    match, and the best passage comes from none of them: ``r_top_outside_restriction``)."""
    if "gap" in rules and signals.get("q_gap", 0.0) > 0:
        return "gap"
    if "type" in rules and signals.get("t_missing_any", 0.0) > 0:
        return "type"
    if "unknown" in rules and signals.get("s_unknown_not_english", 0.0) > 0:
        return "unknown"
    if "outside" in rules and signals.get("r_top_outside_restriction", 0.0) > 0:
        return "outside"
    return None


class ConfidenceModelProblem(TripsearchError):
    """The confidence model file is missing or unreadable (a broken installation, not the user's input)."""


@dataclass(frozen=True)
class ConfidenceModel:
    """A fitted logistic regression over standardised ``features`` and the abstention rule (see module doc)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    rules: tuple[str, ...] = ()
    setting: str = ""
    answer: dict = field(default_factory=dict, compare=False)  # AnswerSettings chosen with it (sentences.py)
    notes: dict = field(default_factory=dict, compare=False)  # how it was fitted, its cross-validated figures

    def vector(self, signals: dict[str, float]) -> np.ndarray:
        return np.array([float(signals.get(name, 0.0)) for name in self.features])

    def _z(self, signals: dict[str, float]) -> np.ndarray:
        z = (self.vector(signals) - np.array(self.mean)) / np.array(self.scale)
        return np.clip(z, -Z_CLIP, Z_CLIP)

    def probability(self, signals: dict[str, float]) -> float:
        """P(the reports answer this) from ``signals``; missing signals count as 0."""
        z = self._z(signals)
        logit = float(z @ np.array(self.coef) + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))

    def rule_fired(self, signals: dict[str, float]) -> str | None:
        """The first hard rule of the model that fires on ``signals`` (``rule_fired``), else None."""
        return rule_fired(self.rules, signals)

    def abstains(self, signals: dict[str, float]) -> bool:
        return self.rule_fired(signals) is not None or self.probability(signals) < self.threshold

    def contributions(self, signals: dict[str, float]) -> list[tuple[str, float]]:
        """Each feature's share of the logit (coefficient × standardised value), largest magnitude first."""
        z = self._z(signals)
        parts = [(name, float(c * v)) for name, c, v in zip(self.features, self.coef, z)]
        return sorted(parts, key=lambda p: -abs(p[1]))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ConfidenceModel:
        data = json.loads(text)
        return cls(
            *read_linear(data),
            float(data["intercept"]),
            float(data["threshold"]),
            tuple(data.get("rules", ())),
            data.get("setting", ""),
            data.get("answer", {}),
            data.get("notes", {}),
        )


_shipped: ConfidenceModel | None = None


def shipped_model() -> ConfidenceModel:
    """The model in ``confidence.json`` (loaded once). Raises ``ConfidenceModelProblem`` when it is missing
    or unreadable."""
    global _shipped
    if _shipped is None:
        try:
            _shipped = ConfidenceModel.from_json(MODEL_FILE.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfidenceModelProblem(f"{MODEL_FILE}: cannot read the confidence model ({exc})") from None
    return _shipped


def shipped_settings() -> AnswerSettings:
    """How answer sentences are chosen, as shipped with the model (``answer`` in ``confidence.json``; with
    ``"ranker": true``, the sentence ranker in ``sentence_ranker.json``)."""
    answer = shipped_model().answer
    settings = AnswerSettings.from_dict(answer)
    if answer.get("ranker"):
        settings = replace(settings, ranker=shipped_ranker())
    return settings


# -- fitting (scikit-learn, imported only here) -------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """What cross-validation chooses among: the inverse regularisation strength ``c`` and the hard rules
    (``rule_fired``: "gap", "type", "unknown", "outside")."""

    c: float
    rules: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"C={self.c:g}" + (f" +{'+'.join(self.rules)}" if self.rules else "")


# The rule sets compared; "unknown" (added 1 Dec 2026) caught 22 rather than 20 of 33 unanswerable dev questions
# under 5-fold CV at the same 5 of 89 answerable; "outside" (1 Dec 2026, one more set, not crossed with every other)
# 24 rather than 22 of 33, at 4 rather than 6 of 89 answerable (docs/answer-signals.md).
RULE_SETS = (
    (),
    ("gap",),
    ("type",),
    ("gap", "type"),
    ("unknown",),
    ("gap", "unknown"),
    ("gap", "type", "unknown"),
    ("gap", "type", "unknown", "outside"),
)
SETTINGS = tuple(Setting(c, rules) for rules in RULE_SETS for c in (0.03, 0.1, 0.3, 1.0, 3.0))
MAX_ANSWERABLE_ABSTAINED = 0.05  # issue 11's bound: abstain on at most 5 % of answerable questions


def fit(
    x: np.ndarray, y: np.ndarray, setting: Setting, threshold: float = 0.5, answer=None, notes=None
) -> ConfidenceModel:
    """Logistic regression (scikit-learn, L2, balanced class weights) of ``y`` (1 = answerable) on ``x``
    (rows × ``FEATURES``), standardised with the training rows' mean and standard deviation."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=setting.c, class_weight="balanced", max_iter=2000)
    model.fit(np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP), y)
    return ConfidenceModel(
        FEATURES,
        tuple(map(float, mean)),
        tuple(map(float, scale)),
        tuple(map(float, model.coef_[0])),
        float(model.intercept_[0]),
        threshold,
        setting.rules,
        setting.name,
        answer or {},
        notes or {},
    )


def choose_threshold(p: np.ndarray, y: np.ndarray, ruled: np.ndarray) -> tuple[float, float]:
    """The threshold that abstains on the most unanswerable questions (``y`` = 0) while abstaining on at most
    ``MAX_ANSWERABLE_ABSTAINED`` of the answerable ones; ``p`` are out-of-fold probabilities, ``ruled`` marks
    questions a hard rule abstains on anyway. Returns (threshold, share of unanswerable abstained). Among
    thresholds that abstain on the same questions, the midpoint between neighbouring probabilities."""
    answerable, unanswerable = y == 1, y == 0
    points = np.unique(np.concatenate([[0.0], p, [1.0]]))
    cuts = (points[:-1] + points[1:]) / 2
    best, best_value = 0.0, (-1.0, 0.0)
    for t in np.concatenate([[0.0], cuts]):
        abstain = ruled | (p < t)
        share_ans = abstain[answerable].mean() if answerable.any() else 0.0
        if share_ans > MAX_ANSWERABLE_ABSTAINED + 1e-9:
            continue
        share_unans = abstain[unanswerable].mean() if unanswerable.any() else 0.0
        value = (share_unans, -share_ans)  # more unanswerable caught; then fewer answerable lost
        if value > best_value:
            best, best_value = float(t), value
    return best, best_value[0]
