"""Cross-validated figures: each question scored once per candidate setting, then k folds grouped by post.

Per fold, the candidate with the best objective on the other folds is chosen and scored on the held-out fold;
the figures reported are the held-out ones, per fold, with their mean and spread across folds (issue 11: no
constant is fitted on all dev questions at once). With one candidate this is plain per-fold evaluation of
today's behaviour. A candidate is a name and an opaque ``settings`` object handed to a ``run(index, question,
settings) -> QuestionResult`` callable; the default ``run_question`` takes a search mode name, or "rerank" for
``Index.ask`` (whose answer also gives the ask figures).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tripsearch.errors import BadInput
from tripsearch.evaluate.folds import folds
from tripsearch.evaluate.matching import answer_sentence_right, is_answer, sentence_matches_quote
from tripsearch.evaluate.questions import Question

EVAL_K = 10  # passages each run returns: enough for recall@10 and MRR@10
ASK_MODE = "rerank"  # the run that goes through Index.ask: its passage order, and the answer


@dataclass(frozen=True)
class QuestionResult:
    """How one question fared under one candidate setting."""

    id: str
    type: str
    answerable: bool
    retrieved: bool  # answerable with evidence: counts in the search figures
    rank: int | None = None  # 1-based rank of the first passage holding an evidence quote (top EVAL_K), else None
    words: float = 0.0  # mean words per returned passage
    asked: bool = False  # an ``Answer`` was judged: the fields below mean something
    abstained: bool = False
    ask_hit: bool = False  # answered, and the top supporting passage holds an evidence quote
    sentence_right: bool = False  # matching.answer_sentence_right
    top_overlaps: bool = False  # the older evaluate_answers rule: best sentence, judged even when abstained
    confidence: float = 0.0


def score(question: Question, hits: Sequence, answer=None) -> QuestionResult:
    """Judge ``hits`` (``Hit``s, best first) and, when given, ``answer`` (an ``Answer``) against ``question``."""
    retrieved = question.answerable and bool(question.evidence)
    rank = next((i for i, h in enumerate(hits, start=1) if is_answer(h, question)), None) if retrieved else None
    words = statistics.fmean(len(h.text.split()) for h in hits) if hits else 0.0
    if answer is None:
        return QuestionResult(question.id, question.type, question.answerable, retrieved, rank, words)
    top = answer.sentences[0] if answer.sentences else None
    if top is None and answer.hits and answer.hits[0].highlights:  # abstained: the older rule judges its best guess
        start, end = answer.hits[0].highlights[0]
        top_text, top_path = answer.hits[0].text[start:end], answer.hits[0].path
    else:
        top_text, top_path = (top.text, top.citation.path) if top else ("", "")
    return QuestionResult(
        question.id,
        question.type,
        question.answerable,
        retrieved,
        rank,
        words,
        asked=True,
        abstained=answer.abstained,
        ask_hit=not answer.abstained and bool(answer.hits) and is_answer(answer.hits[0], question),
        sentence_right=answer_sentence_right(answer, question),
        top_overlaps=any(top_path == f and sentence_matches_quote(top_text, quote) for f, quote in question.evidence),
        confidence=answer.confidence,
    )


def run_question(index, question: Question, settings) -> QuestionResult:
    """The default run: ``settings`` is a search mode of ``Index.search``, or "rerank" for ``Index.ask``.
    Search-only runs skip questions that have no evidence to find (their search figures are not defined)."""
    if settings == ASK_MODE:
        answer = index.ask(question.question, k=EVAL_K)
        return score(question, answer.hits, answer)
    if not (question.answerable and question.evidence):
        return score(question, [])
    return score(question, index.search(question.question, k=EVAL_K, mode=settings))


@dataclass(frozen=True)
class Candidate:
    """A named setting to choose among; ``settings`` is opaque here and handed to the run callable."""

    name: str
    settings: object


@dataclass(frozen=True)
class Figures:
    """The figures of a set of question results. Rates are None when the set has nothing to rate."""

    questions: int
    retrieved: int  # questions behind the search figures (answerable, with evidence)
    hit1: float | None
    recall5: float | None
    recall10: float | None
    mrr10: float | None
    words: float | None
    answerable: int  # answerable questions asked: behind ask_hit1, sentence_right, abstain_answerable
    unanswerable: int  # unanswerable questions asked
    ask_hit1: float | None
    sentence_right: float | None
    top_overlaps: float | None
    abstained_answerable: int
    abstained_unanswerable: int
    abstain_answerable: float | None
    abstain_unanswerable: float | None

    def confusion(self) -> dict[str, dict[str, int]]:
        """answerable/unanswerable × answered/abstained counts."""
        return {
            "answerable": {
                "answered": self.answerable - self.abstained_answerable,
                "abstained": self.abstained_answerable,
            },
            "unanswerable": {
                "answered": self.unanswerable - self.abstained_unanswerable,
                "abstained": self.abstained_unanswerable,
            },
        }

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


# The rates of ``Figures``: what gets a mean and spread across folds.
RATES = (
    "hit1",
    "recall5",
    "recall10",
    "mrr10",
    "words",
    "ask_hit1",
    "sentence_right",
    "top_overlaps",
    "abstain_answerable",
    "abstain_unanswerable",
)


def _mean(values) -> float | None:
    values = list(values)
    return statistics.fmean(values) if values else None


def figures_of(results: Sequence[QuestionResult]) -> Figures:
    """Figures over ``results``: search figures over the retrieved ones, ask figures over the asked ones."""
    ret = [r for r in results if r.retrieved]
    ans = [r for r in results if r.asked and r.answerable]
    una = [r for r in results if r.asked and not r.answerable]
    return Figures(
        questions=len(results),
        retrieved=len(ret),
        hit1=_mean(r.rank == 1 for r in ret),
        recall5=_mean(r.rank is not None and r.rank <= 5 for r in ret),
        recall10=_mean(r.rank is not None and r.rank <= 10 for r in ret),
        mrr10=_mean(1 / r.rank if r.rank else 0.0 for r in ret),
        words=_mean(r.words for r in ret),
        answerable=len(ans),
        unanswerable=len(una),
        ask_hit1=_mean(r.ask_hit for r in ans),
        sentence_right=_mean(r.sentence_right for r in ans),
        top_overlaps=_mean(r.top_overlaps for r in ans),
        abstained_answerable=sum(r.abstained for r in ans),
        abstained_unanswerable=sum(r.abstained for r in una),
        abstain_answerable=_mean(r.abstained for r in ans),
        abstain_unanswerable=_mean(r.abstained for r in una),
    )


def figures_by_type(results: Sequence[QuestionResult]) -> dict[str, Figures]:
    types: dict[str, list[QuestionResult]] = {}
    for r in results:
        types.setdefault(r.type, []).append(r)
    return {t: figures_of(rs) for t, rs in sorted(types.items())}


@dataclass(frozen=True)
class Spread:
    """One figure across folds: mean, sample standard deviation (0 with one fold), min and max, over the
    ``folds`` folds that had a value (a fold without a question of a type has no figure for it)."""

    mean: float
    std: float
    min: float
    max: float
    folds: int

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def spread(values) -> Spread | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Spread(statistics.fmean(values), std, min(values), max(values), len(values))


def spreads(per_fold: Sequence[Figures]) -> dict[str, Spread | None]:
    """Each rate of ``Figures`` across folds."""
    return {name: spread(getattr(f, name) for f in per_fold) for name in RATES}


@dataclass(frozen=True)
class FoldResult:
    fold: int  # 1-based
    held_out: tuple[str, ...]  # question ids scored in this fold; the other folds' questions chose the candidate
    chosen: str  # candidate name
    train_objective: float  # the chosen candidate's objective on the other folds
    figures: Figures  # held out
    by_type: dict[str, Figures]
    results: tuple[QuestionResult, ...]  # held out, under the chosen candidate


@dataclass(frozen=True)
class CVResult:
    folds: tuple[FoldResult, ...]

    @property
    def results(self) -> list[QuestionResult]:
        """Every question once, as scored in the fold that held it out."""
        return [r for f in self.folds for r in f.results]

    def pooled(self) -> Figures:
        """All held-out results together (counts add up to the confusion table over all folds)."""
        return figures_of(self.results)

    def spreads(self) -> dict[str, Spread | None]:
        return spreads([f.figures for f in self.folds])

    def types(self) -> list[str]:
        return sorted({t for f in self.folds for t in f.by_type})

    def type_spreads(self) -> dict[str, dict[str, Spread | None]]:
        return {t: spreads([f.by_type[t] for f in self.folds if t in f.by_type]) for t in self.types()}


Objective = Callable[[Sequence[QuestionResult]], float]  # higher is better
Run = Callable[[object, Question, object], QuestionResult]


def mrr_objective(results: Sequence[QuestionResult]) -> float:
    """MRR@10 over the answerable questions with evidence (0 when there are none)."""
    return figures_of(results).mrr10 or 0.0


def score_candidates(
    index, questions: Sequence[Question], candidates: Sequence[Candidate], run: Run = run_question, progress=None
) -> dict[str, dict[str, QuestionResult]]:
    """Each question under each candidate, once: ``{candidate name: {question id: result}}``.
    ``progress(candidate_name, done, total)`` is called after each question when given."""
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise BadInput("question ids must be unique to score questions per candidate")
    names = [c.name for c in candidates]
    if not candidates or len(set(names)) != len(names):
        raise BadInput(f"candidates need distinct names, got {names}")
    out: dict[str, dict[str, QuestionResult]] = {}
    for c in candidates:
        out[c.name] = {}
        for n, q in enumerate(questions, start=1):
            out[c.name][q.id] = run(index, q, c.settings)
            if progress:
                progress(c.name, n, len(questions))
    return out


def cross_validate_scored(
    fold_list: Sequence[Sequence[Question]],
    scored: dict[str, dict[str, QuestionResult]],
    objective: Objective = mrr_objective,
) -> CVResult:
    """Per fold, the candidate (in ``scored``'s order) with the best ``objective`` on the other folds, scored on
    the held-out fold. Ties go to the earlier candidate, so list today's default first: a change has to beat it."""
    out = []
    for i, held in enumerate(fold_list):
        train = [q.id for j, fold in enumerate(fold_list) if j != i for q in fold]
        best_name, best_value = None, float("-inf")
        for name, by_id in scored.items():
            value = objective([by_id[qid] for qid in train])
            if best_name is None or value > best_value:
                best_name, best_value = name, value
        held_results = tuple(scored[best_name][q.id] for q in held)
        out.append(
            FoldResult(
                i + 1,
                tuple(q.id for q in held),
                best_name,
                best_value,
                figures_of(held_results),
                figures_by_type(held_results),
                held_results,
            )
        )
    return CVResult(tuple(out))


def cross_validate(
    index,
    questions: Sequence[Question],
    k: int,
    candidates: Sequence[Candidate],
    objective: Objective = mrr_objective,
    run: Run = run_question,
) -> CVResult:
    """K-fold cross-validation grouped by post (``folds.folds``): one pass over the questions per candidate,
    then the choice and held-out score per fold. Raises ``BadInput`` for bad ``k`` or duplicate ids/names."""
    return cross_validate_scored(
        folds(list(questions), k), score_candidates(index, questions, candidates, run), objective
    )
