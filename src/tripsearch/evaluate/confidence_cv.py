"""The confidence model and its abstention threshold, fitted only inside cross-validation training folds.

Each question is drafted once (``pipeline.draft_answer``: the would-be answer and its signals, no decision),
and scored as if answered. Then, per outer fold (grouped by post, ``folds.folds``): on the other folds, each
candidate ``Setting`` (regularisation C, hard rules) gets out-of-fold probabilities from an inner grouped k-fold,
the threshold that abstains on the most unanswerable questions while abstaining on at most 5 % of answerable ones
(``confidence.choose_threshold``), and the share of unanswerable questions that catches; the best setting (ties:
the earlier, simpler one) is fitted on all the training folds with that threshold and applied to the held-out
fold. The figures reported are the held-out ones (``crossval.CVResult``), never in-sample.

Before that, per outer fold, how the first answer sentence is chosen (``choose_answer``): the hand-set answer
settings (``ANSWER_CANDIDATES``, which fit nothing) are compared on the training folds with the learned sentence
ranker (``answer.sentence_ranker``, each ``RANKER_SETTINGS``), whose figure there is itself out of fold (an inner
grouped k-fold); a chosen ranker is fitted on the training folds and chooses the held-out fold's sentences.

``final_model`` is the standard final refit for shipping: the setting chosen the same way on all questions,
then fitted on all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from tripsearch.answer.confidence import (
    FEATURES,
    SETTINGS,
    ConfidenceModel,
    Setting,
    choose_threshold,
    fit,
    rule_fired,
    shipped_model,
)
from tripsearch.answer.sentence_ranker import (
    DEPTH,
    RANKER_SETTINGS,
    Pool,
    RankerSetting,
    SentenceRanker,
    fit_ranker,
    pool_of,
)
from tripsearch.answer.sentences import SPANS, AnswerSettings
from tripsearch.errors import BadInput
from tripsearch.evaluate.crossval import EVAL_K, CVResult, FoldResult, QuestionResult, figures_by_type, figures_of
from tripsearch.evaluate.crossval import score as score_answer
from tripsearch.evaluate.folds import apart_from, folds
from tripsearch.evaluate.matching import sentence_right
from tripsearch.evaluate.questions import Question

INNER_FOLDS = 4
# Answer-sentence settings compared by cross-validation; today's (no type bonus, one sentence) first.
# A restriction bonus (``AnswerSettings.restrict_bonus``) of 1 or 2 was compared too (30 Nov 2026) and lost under
# CV: in 11 of the 12 filtered dev questions the top passage already comes from a matching post; the misses are
# other passages of the right post. It is left out of the grid (every setting costs a draft per question).
ANSWER_CANDIDATES = tuple(AnswerSettings(b, span) for span in SPANS for b in (0.0, 0.15, 0.3))


@dataclass(frozen=True)
class Drafted:
    """One question's draft: scored as if answered (``result``), with its signals; ``fixed``: abstains anyway."""

    result: QuestionResult
    signals: dict
    fixed: bool
    # The units a sentence ranker chooses among (``sentence_ranker.Pool``) and, per unit, whether it is right
    # (issue 11's ``sentence_right`` against the question's evidence); the same for every answer setting.
    pool: Pool | None = field(default=None, repr=False, compare=False)
    labels: np.ndarray | None = field(default=None, repr=False, compare=False)


def draft_questions(
    index, questions: Sequence[Question], k: int = EVAL_K, settings: Sequence[AnswerSettings] = (), progress=None
) -> dict[str, dict[str, Drafted]]:
    """``{answer setting name: {question id: Drafted}}``: each question searched once and drafted under each
    answer setting (default: ``ANSWER_CANDIDATES``), without abstaining."""
    from tripsearch.answer.pipeline import draft_answers
    from tripsearch.records import Answer
    from tripsearch.search.filters import Filters

    settings = list(settings or ANSWER_CANDIDATES)
    out: dict[str, dict[str, Drafted]] = {s.name: {} for s in settings}
    for n, q in enumerate(questions, start=1):
        drafts = draft_answers(index, q.question, k, Filters(), None, settings)
        pool = labels = None
        if drafts[0].ranked:
            pool = pool_of(q.question, drafts[0].kind, list(drafts[0].ranked), DEPTH)
            labels = unit_labels(pool, q)
        for s, d in zip(settings, drafts):
            answer = Answer(q.question, d.sentences, d.hits, 0.0, d.fixed is not None, d.fixed or "")
            out[s.name][q.id] = Drafted(score_answer(q, d.hits, answer), d.signals, d.fixed is not None, pool, labels)
        if progress:
            progress(n, len(questions))
    return out


def unit_labels(pool: Pool, question: Question) -> np.ndarray:
    """Per unit of ``pool``: would it, as the first answer, be right for ``question`` (``answer_sentence_right``:
    cited from an evidence post, ``sentence_right`` against that evidence's quote)."""
    return np.array(
        [
            any(pool.path(n) == file and sentence_right(pool.text(n), quote) for file, quote in question.evidence)
            for n in range(len(pool.units))
        ],
        dtype=bool,
    )


def with_ranker(drafted: Drafted, ranker: SentenceRanker) -> Drafted:
    """``drafted`` with its first answer chosen by ``ranker`` instead: only "sentence right" can change (the
    passages, their order and the confidence signals do not depend on the answer setting)."""
    if drafted.fixed or drafted.pool is None or not len(drafted.pool.units):
        return drafted
    best = ranker.best(drafted.pool)
    return replace(drafted, result=replace(drafted.result, sentence_right=bool(drafted.labels[best])))


def fit_on(ids: Sequence[str], drafted: dict[str, Drafted], setting: RankerSetting) -> SentenceRanker:
    """The sentence ranker ``setting`` fitted on the answerable questions among ``ids``."""
    rows = [drafted[i] for i in ids if drafted[i].result.answerable and drafted[i].pool is not None]
    return fit_ranker([d.pool for d in rows], [d.labels for d in rows], setting, DEPTH)


def ranker_objective(questions: Sequence[Question], drafted: dict[str, Drafted], setting, k: int = INNER_FOLDS):
    """``_sentence_objective`` of the ranker ``setting`` on ``questions``, each question's first answer chosen by
    a ranker fitted on the other (inner, grouped by post) folds: out of fold, so comparable with the hand-set
    answer settings, which fit nothing."""
    questions = list(questions)
    k = min(k, _groups(questions))
    if k < 2:
        return -1.0
    chosen = {}
    for held in folds(questions, k):
        held_ids = {q.id for q in held}
        ranker = fit_on([q.id for q in questions if q.id not in held_ids], drafted, setting)
        chosen.update({i: with_ranker(drafted[i], ranker) for i in held_ids})
    return _sentence_objective(list(chosen), chosen)


def choose_answer(
    questions: Sequence[Question],
    drafted_by: dict[str, dict[str, Drafted]],
    rankers: Sequence[RankerSetting] = RANKER_SETTINGS,
) -> tuple[str, RankerSetting | None]:
    """The hand-set answer setting with the most right first answers on ``questions`` (``choose_answer_setting``),
    unless a sentence ranker setting does better out of fold (``ranker_objective``); then (that hand setting's
    name, the ranker setting). Ties go to the hand-set one."""
    ids = [q.id for q in questions]
    name = choose_answer_setting(ids, drafted_by)
    value, best = _sentence_objective(ids, drafted_by[name]), None
    for setting in rankers:
        v = ranker_objective(questions, drafted_by[name], setting)
        if v > value + 1e-12:
            value, best = v, setting
    return name, best


def _sentence_objective(ids: Sequence[str], drafted: dict[str, Drafted]) -> float:
    """Over the answerable questions among ``ids``, before abstaining: the share whose first answer sentence is
    right plus the share whose top passage holds the evidence (ask hit@1) — both figures the setting moves."""
    rows = [drafted[i].result for i in ids if drafted[i].result.answerable]
    return sum(r.sentence_right + r.ask_hit for r in rows) / len(rows) if rows else 0.0


def choose_answer_setting(ids: Sequence[str], drafted_by: dict[str, dict[str, Drafted]]) -> str:
    """The answer setting with the most right first answers on ``ids``; ties go to the earlier (today's first)."""
    best, value = None, -1.0
    for name, drafted in drafted_by.items():
        v = _sentence_objective(ids, drafted)
        if v > value + 1e-12:
            best, value = name, v
    return best


def matrix(ids: Sequence[str], drafted: dict[str, Drafted]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features rows × ``FEATURES``, 1 = answerable, hard "gap" rule fires) for ``ids``."""
    x = np.array([[float(drafted[i].signals.get(f, 0.0)) for f in FEATURES] for i in ids]).reshape(len(ids), -1)
    y = np.array([int(drafted[i].result.answerable) for i in ids])
    gap = np.array([drafted[i].signals.get("q_gap", 0.0) > 0 for i in ids], dtype=bool)
    return x, y, gap


def _fittable(questions: Sequence[Question], drafted: dict[str, Drafted]) -> list[Question]:
    return [q for q in questions if not drafted[q.id].fixed]


def out_of_fold(questions: Sequence[Question], drafted: dict[str, Drafted], setting: Setting, k: int) -> np.ndarray:
    """Probabilities for ``questions``, each from a model fitted on the other inner folds (grouped by post)."""
    index_of = {q.id: n for n, q in enumerate(questions)}
    p = np.zeros(len(questions))
    for held in folds(list(questions), k):
        train = [q.id for q in questions if q.id not in {h.id for h in held}]
        x, y, _ = matrix(train, drafted)
        if len(set(y)) < 2:
            p[[index_of[h.id] for h in held]] = 1.0 if y.mean() > 0.5 else 0.0
            continue
        model = fit(x, y, setting)
        for h in held:
            p[index_of[h.id]] = model.probability(drafted[h.id].signals)
    return p


def select(
    questions: Sequence[Question], drafted: dict[str, Drafted], settings: Sequence[Setting] = SETTINGS, k=INNER_FOLDS
) -> tuple[ConfidenceModel, float]:
    """The best setting on ``questions`` by inner cross-validation, fitted on all of them, with its threshold;
    and its objective (share of unanswerable questions abstained on, out of fold, at ≤ 5 % answerable)."""
    qs = _fittable(questions, drafted)
    _, y, _ = matrix([q.id for q in qs], drafted)
    if len(set(y)) < 2:
        # Nothing to learn an abstention from (a question file of answerable questions only): the shipped model.
        return shipped_model(), float("nan")
    k = min(k, _groups(qs))
    if k < 2:
        raise BadInput("too few groups of questions to cross-validate the confidence model")
    best = None
    for setting in settings:
        p = out_of_fold(qs, drafted, setting, k)
        ruled = np.array([rule_fired(setting.rules, drafted[q.id].signals) is not None for q in qs], dtype=bool)
        threshold, value = choose_threshold(p, y, ruled)
        if best is None or value > best[2] + 1e-12:
            best = (setting, threshold, value)
    setting, threshold, value = best
    x, y, _ = matrix([q.id for q in qs], drafted)
    return fit(x, y, setting, threshold), value


def _groups(questions: Sequence[Question]) -> int:
    from tripsearch.evaluate.folds import post_groups

    return len(post_groups(list(questions)))


def apply(drafted: Drafted, model: ConfidenceModel) -> QuestionResult:
    """The drafted question's result once ``model`` decides: an abstention is a miss for an answerable one."""
    r = drafted.result
    if drafted.fixed:
        return replace(r, abstained=True, ask_hit=False, sentence_right=False, confidence=0.0)
    p = model.probability(drafted.signals)
    if model.abstains(drafted.signals):
        return replace(r, abstained=True, ask_hit=False, sentence_right=False, confidence=p)
    return replace(r, abstained=False, confidence=p)


def cross_validate_confidence(
    fold_list: Sequence[Sequence[Question]],
    drafted_by: dict[str, dict[str, Drafted]],
    settings: Sequence[Setting] = SETTINGS,
    rankers: Sequence[RankerSetting] = RANKER_SETTINGS,
    extra: Sequence[Question] = (),
) -> CVResult:
    """Per outer fold, on the other folds only: the answer setting or sentence ranker (``choose_answer``; a ranker
    is then fitted on those folds), then the confidence model and threshold (``select``); both applied to the
    held-out fold (see the module doc). ``extra``: training-only questions (drafted in ``drafted_by`` too), added
    to every fold's training questions except those about a post of the held-out fold (``folds.apart_from``);
    they are never scored."""
    out = []
    for i, held in enumerate(fold_list):
        train = [q for j, fold in enumerate(fold_list) if j != i for q in fold]
        train += apart_from(list(held), list(extra))
        answer, ranker_setting = choose_answer(train, drafted_by, rankers)
        drafted = drafted_by[answer]
        model, value = select(train, drafted, settings)
        if ranker_setting is not None:
            ranker = fit_on([q.id for q in train], drafted, ranker_setting)
            drafted = {q.id: with_ranker(drafted[q.id], ranker) for q in held}
            answer = ranker_setting.name
        results = tuple(apply(drafted[q.id], model) for q in held)
        out.append(
            FoldResult(
                i + 1,
                tuple(q.id for q in held),
                f"{answer}; {model.setting} t={model.threshold:.2f}",
                value,
                figures_of(results),
                figures_by_type(results),
                results,
            )
        )
    return CVResult(tuple(out))


def final_model(
    questions: Sequence[Question],
    drafted_by: dict[str, dict[str, Drafted]],
    k: int,
    settings: Sequence[Setting] = SETTINGS,
    answer_settings: Sequence[AnswerSettings] = ANSWER_CANDIDATES,
    rankers: Sequence[RankerSetting] = RANKER_SETTINGS,
) -> tuple[ConfidenceModel, SentenceRanker | None]:
    """The model to ship: the answer setting (or sentence ranker), confidence setting and threshold chosen by
    ``k``-fold CV on all ``questions``, fitted on all of them; the answer setting travels in the model's
    ``answer`` (``"ranker": true`` when the returned ranker, fitted on all questions, chooses the sentences)."""
    name, ranker_setting = choose_answer(questions, drafted_by, rankers)
    model, _ = select(questions, drafted_by[name], settings, k)
    chosen = next(a for a in answer_settings if a.name == name)
    ranker = None
    if ranker_setting is not None:
        ranker = fit_on([q.id for q in questions], drafted_by[name], ranker_setting)
        chosen = replace(chosen, ranker=ranker)
    return replace(model, answer=chosen.as_dict()), ranker
