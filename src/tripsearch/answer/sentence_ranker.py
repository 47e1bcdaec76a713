"""A learned answer-sentence ranker (issue 11 item 7): which sentence, or short span, of the best passages answers.

The hand-set choice (``sentences.choose``: cosine + coverage + a passage-rank prior, a type bonus, a span rule)
picks a right first sentence for 52 of the 89 answerable dev questions, while for 27 of the rest a right one
sits lower in the same pool (the diagnosis in ``docs/answer-signals.md``). This module scores
every *unit* — one sentence, or two adjacent sentences of one talk on one line (``sentences.span_ok``) — of the
``depth`` best passages by a linear model over per-unit features (``FEATURES``: cosine, plain and rarity-weighted
word coverage, coverage of what the question asks about beyond the event it names, answer-type match, place in
its talk, heading overlap, length, list-item shape, passage rank and score, distance from the pool's best, cues
that a unit answers rather than restates the question — a local peak of similarity, the author's own voice, words
beyond the question's, the topic's own vocabulary the candidate passages share (relevance-model feedback terms,
``answer.feedback``) — and interactions with what the question asks for; ``FEATURE_SETS`` are the subsets
cross-validation chooses among), and answers with the best-scoring unit.

The model is listwise (``listwise_loss``): per training question, a softmax over its units' linear scores, fitted
to put probability on the right ones (ListNet's top-one likelihood, Cao et al. 2007; a conditional logit). Only
the order within one question counts (no intercept, nothing to calibrate across questions), and every question
weighs the same however many units it has. It replaced a pairwise logistic regression (RankSVM-style, Joachims
2002), which sampled at most 400 right/wrong pairs a question and did no better with the new cues (the figures
are in ``docs/answer-signals.md``). Labels are issue 11's ``sentence_right`` against the evidence quotes. It is
fitted only inside cross-validation training folds (``evaluate.confidence_cv``) and, for shipping, by
``benchmarks/fit_confidence.py``, which writes ``sentence_ranker.json`` next to ``confidence.json``: plain
numbers, applied with a dot product (no SciPy at run time).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tripsearch.answer.answer_types import AnswerType, answers_type, recognise
from tripsearch.answer.features import QuestionTerms, term_set
from tripsearch.answer.feedback import feedback_share, feedback_terms
from tripsearch.answer.linear import read_linear
from tripsearch.answer.sentences import MAX_SENTENCES, Chosen, span_ok
from tripsearch.errors import TripsearchError
from tripsearch.search.keyword import STOPWORDS

RANKER_FILE = Path(__file__).with_name("sentence_ranker.json")
DEPTH = 3  # passages whose sentences are ranked (as ``sentences.ANSWER_PASSAGES``)
# A second or third answer sentence scores within this many logits of the first. Not tuned: no figure scores
# the answers after the first; one logit keeps only those the ranker rates nearly as likely.
EXTRA_MARGIN = 1.0
LIST_ITEM = ("- ", "* ", "• ", "+ ")
# The report's author speaking of their own day ("I finally made it to ...", "my favourite talk"): how the event was
# lived, seldom what a talk said. The pronouns of English grammar, not words of any question set.
FIRST_PERSON = re.compile(r"\b(?:I|I['’](?:m|ve|d|ll)|me|my|mine|myself|we|we['’](?:re|ve|d|ll)|us|our|ours)\b")

_BASE = (
    "cos",  # the unit's best sentence cosine to the question
    "cos_gap",  # the pool's best sentence cosine minus the unit's (0 for the best)
    "cov",  # share of the question's content words in the unit
    "cov_gap",  # the pool's best coverage minus the unit's
    "idf_cov",  # the same, each word weighted by its rarity among the candidate passages' sentences
    "idf_gap",
    "topic_cov",  # rarity-weighted coverage of the question words its post's title, tags, year and talk heading lack
    "topic_gap",  #  (what the question asks about, not which event it pins down)
    "title_cov",  # share of the question's words in the unit's talk heading path
    "type_match",  # the question wants a number, date, name... and the unit holds one
    "type_miss",  # ... and the unit holds none
    "rank0",  # the unit's passage is the best one
    "rank1",
    "rank2",
    "search_z",  # its passage's search score, z-scored over the candidates
    "talk_start",  # the unit starts its talk (its first sentence)
    "position",  # where in its talk it starts, 0 (first) to 1 (last)
    "log_words",
    "short",  # fewer than 6 words: a label, a fragment
    "list_item",  # a list item: a line starting "- ", "* ", "• " or "+ "
    "ends_colon",  # ends in ":", a lead-in to what follows
    "span",  # two sentences, not one
    "span_cos2",  # for a span: the cosine of its weaker sentence
    "ctx_cos",  # the best cosine of the sentences just before and after it in its talk (context)
    "cos_rank",  # the unit's place by cosine among its passage's units, 0 = best, capped at 5
    "no_stop",  # does not end like a sentence (. ! ? or a quote): a caption, a heading, a label
    "has_digit",
    "peak",  # the unit's best cosine minus that of its talk neighbours (> 0: a local peak of similarity)
    "first_person",  # the author's own narrative (``FIRST_PERSON``)
    "novel",  # log(1 + content words of the unit the question lacks): what it adds beyond restating the question
    "prf",  # share of the weight of the candidates' relevance-model feedback terms it holds (``feedback``)
)
_ASKS = ("reason", "procedure", "none", "span_type")  # what the question asks for, crossed with a few features
_CROSSED = ("span", "cos", "cov", "talk_start", "list_item", "log_words")
FEATURES = _BASE + tuple(f"{f}*{a}" for a in _ASKS for f in _CROSSED)
# Feature sets cross-validation chooses among (with few training questions, fewer features can generalise better).
_SMALL = ("cos", "cov", "idf_cov", "topic_cov", "type_match", "rank0", "rank1", "search_z", "span")
FEATURE_SETS = {
    "small": _SMALL,
    # small + three cues of an answer rather than a restatement of the question (docs/answer-signals.md, 1 Dec 2026)
    "answer": _SMALL + ("peak", "first_person", "novel"),
    # answer + the topic's own vocabulary: RM1 feedback terms of the 20 candidates (docs/answer-signals.md, last
    # section: nested CV 58/58/59/59 -> 60/60/61/60 sentence right of 89 at 4/5/6/8 outer folds)
    "answer_prf": _SMALL + ("peak", "first_person", "novel", "prf"),
    "plain": _BASE,
    "full": FEATURES,
}


class SentenceRankerProblem(TripsearchError):
    """The sentence ranker file is unreadable (a broken installation, not the user's input)."""


@dataclass(frozen=True)
class Unit:
    """A candidate answer: sentences ``first``..``last`` (inclusive) of the passage ranked ``rank`` (0-based)."""

    rank: int
    first: int
    last: int


@dataclass(frozen=True)
class Pool:
    """The units of one question, their feature rows (``FEATURES`` order) and the candidates they come from."""

    units: tuple[Unit, ...]
    x: np.ndarray
    candidates: tuple = field(default=(), compare=False, repr=False)

    def text(self, n: int) -> str:
        u = self.units[n]
        p = self.candidates[u.rank].passage
        return p.text[p.sentences[u.first].start : p.sentences[u.last].end]

    def path(self, n: int) -> str:
        return self.candidates[self.units[n].rank].hit.path


def _text(c, a: int, b: int) -> str:
    p = c.passage
    return p.text[p.sentences[a].start : p.sentences[b].end]


def units_of(candidates, depth: int = DEPTH) -> list[Unit]:
    """Every sentence of the ``depth`` best candidates, and every two adjacent sentences ``span_ok`` allows."""
    out = []
    for r, c in enumerate(candidates[:depth]):
        n = len(c.passage.sentences)
        for i in range(n):
            out.append(Unit(r, i, i))
            if i + 1 < n and span_ok(c, i, i + 1):
                out.append(Unit(r, i, i + 1))
    return out


def _weights(terms: QuestionTerms, candidates) -> dict[str, float]:
    """Rarity of each question word among the candidate passages' sentences: log(1 + N / (1 + df))."""
    sets = [term_set(_text(c, i, i)) for c in candidates for i in range(len(c.passage.sentences))]
    n = max(len(sets), 1)
    return {t: math.log(1.0 + n / (1.0 + sum(t in s for s in sets))) for t in terms.terms}


# One question word left once the post's title, tags, year and talk heading are set aside is seldom the topic:
# it is the question's subject ("how did the payments company cut Lambda cold starts?" under the talk "Cutting
# Lambda cold starts in a payments API" leaves "company", and the sentence introducing the company won).
TOPIC_MIN_WORDS = 2


def _topic_coverage(weights: dict[str, float], found: frozenset[str], passage, sentence: int) -> float:
    meta = passage.post
    year = str(meta.date.year) if meta.date else ""
    known = term_set(" ".join([meta.title, year, *meta.tags, *passage.part_of(sentence).heading_path]))
    topic = {t: w for t, w in weights.items() if t not in known}
    if len(topic) < TOPIC_MIN_WORDS:
        return 0.0
    total = sum(topic.values())
    return sum(w for t, w in topic.items() if t in found) / total if total else 0.0


def _neighbour_cos(c, u: Unit, same: list[int]) -> float:
    """The best cosine of the sentences just before and after unit ``u`` in its talk (0 with none)."""
    return max([float(c.sims[j]) for j in (u.first - 1, u.last + 1) if 0 <= j < len(c.sims) and j in same] or [0.0])


def pool_of(question: str, kind: AnswerType, candidates, depth: int = DEPTH) -> Pool:
    """The units of ``candidates`` (``pipeline._Candidate``s, best first) and their features for ``question``."""
    terms = QuestionTerms(question)
    units = units_of(candidates, depth)
    if not units:
        return Pool((), np.zeros((0, len(FEATURES))), tuple(candidates[:depth]))
    weights = _weights(terms, candidates)
    total = sum(weights.values()) or 1.0
    # from every candidate the search gave (20 for ask and eval), not only the ``depth`` whose units are ranked
    feedback = feedback_terms(terms.terms, [(c.hit.score, c.passage.text) for c in candidates])
    scores = np.array([c.hit.score for c in candidates], dtype=float)
    search_z = (scores - scores.mean()) / (scores.std() or 1.0)
    asks = {
        "reason": kind.kind == "reason",
        "procedure": kind.kind == "procedure",
        "none": kind.kind == "none",
        "span_type": kind.wants_span,
    }
    rows = []
    for u in units:
        c = candidates[u.rank]
        p = c.passage
        text = _text(c, u.first, u.last)
        found = term_set(text)
        sims = [float(c.sims[i]) for i in range(u.first, u.last + 1)] if len(c.sims) else [0.0]
        part = p.sentences[u.first].part
        same = [i for i, s in enumerate(p.sentences) if s.part == part]
        place = same.index(u.first) if u.first in same else 0
        match = answers_type(kind, recognise(text), p.part_of(u.first).session_title or "")
        stripped = text.strip()
        f = {
            "cos": max(sims),
            "cov": terms.coverage(found),
            "idf_cov": sum(w for t, w in weights.items() if t in found) / total,
            "topic_cov": _topic_coverage(weights, found, p, u.first),
            "title_cov": terms.coverage(term_set(" ".join(p.part_of(u.first).heading_path))),
            "type_match": float(match is True),
            "type_miss": float(match is False),
            "rank0": float(u.rank == 0),
            "rank1": float(u.rank == 1),
            "rank2": float(u.rank == 2),
            "search_z": float(search_z[u.rank]),
            "talk_start": float(place == 0),
            "position": place / max(len(same) - 1, 1),
            "log_words": math.log(1 + len(text.split())),
            "short": float(len(text.split()) < 6),
            "list_item": float(stripped.startswith(LIST_ITEM)),
            "ends_colon": float(stripped.endswith(":")),
            "span": float(u.last > u.first),
            "span_cos2": min(sims) if u.last > u.first else 0.0,
            "ctx_cos": _neighbour_cos(c, u, same),
            "no_stop": float(not stripped.endswith((".", "!", "?", '"', "”", "'", "’", ")", ":"))),
            "has_digit": float(any(ch.isdigit() for ch in text)),
            "peak": max(sims) - _neighbour_cos(c, u, same),
            "first_person": float(bool(FIRST_PERSON.search(text))),
            "novel": math.log1p(len({t for t in found if t not in STOPWORDS} - set(terms.terms))),
            "prf": feedback_share(feedback, text),
        }
        rows.append(f)
    for r, u in zip(rows, units):
        mine = sorted((o["cos"] for o, v in zip(rows, units) if v.rank == u.rank), reverse=True)
        r["cos_rank"] = float(min(mine.index(r["cos"]), 5))
    for key in ("cos", "cov", "idf_cov", "topic_cov"):
        best = max(r[key] for r in rows)
        gap = {"cos": "cos_gap", "cov": "cov_gap", "idf_cov": "idf_gap", "topic_cov": "topic_gap"}[key]
        for r in rows:
            r[gap] = best - r[key]
    for r in rows:
        for a, on in asks.items():
            for f in _CROSSED:
                r[f"{f}*{a}"] = r[f] if on else 0.0
    x = np.array([[r[f] for f in FEATURES] for r in rows], dtype=float)
    return Pool(tuple(units), x, tuple(candidates[:depth]))


@dataclass(frozen=True)
class RankerSetting:
    """What cross-validation chooses among for the ranker: a feature set (``FEATURE_SETS``) and the inverse L2
    strength ``c``."""

    features: str = "small"
    c: float = 0.1

    @property
    def name(self) -> str:
        return f"ranker {self.short}"

    @property
    def short(self) -> str:
        return f"{self.features} C={self.c:g}"


# The grid cross-validation chooses among. A larger one (small, plain, full, answer) measured no better: with ~70
# training questions an inner-CV choice among many settings is mostly noise (docs/answer-signals.md).
RANKER_SETTINGS = tuple(RankerSetting("answer_prf", c) for c in (0.01, 0.1))


@dataclass(frozen=True)
class SentenceRanker:
    """Linear unit scores over standardised ``features`` (see the module doc); ``setting`` names how it was fitted."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    depth: int = DEPTH
    setting: str = ""
    notes: dict = field(default_factory=dict, compare=False)

    def scores(self, pool: Pool) -> np.ndarray:
        """One score per unit of ``pool`` (higher is better); features the model lacks count as 0."""
        if not len(pool.units):
            return np.zeros(0)
        cols = [FEATURES.index(f) for f in self.features if f in FEATURES]
        if len(cols) != len(self.features):
            raise SentenceRankerProblem(f"the sentence ranker reads features this version lacks: {self.features}")
        x = pool.x[:, cols]
        return ((x - np.array(self.mean)) / np.array(self.scale)) @ np.array(self.coef)

    def best(self, pool: Pool) -> int | None:
        """The position of the best unit (ties: the earlier), None for an empty pool."""
        s = self.scores(pool)
        return int(np.argmax(s)) if len(s) else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SentenceRanker:
        d = json.loads(text)
        return cls(
            *read_linear(d),
            int(d.get("depth", DEPTH)),
            d.get("setting", ""),
            d.get("notes", {}),
        )


_shipped: SentenceRanker | None = None


def shipped_ranker() -> SentenceRanker:
    """The ranker in ``sentence_ranker.json`` (loaded once). Raises ``SentenceRankerProblem`` when unreadable."""
    global _shipped
    if _shipped is None:
        try:
            _shipped = SentenceRanker.from_json(RANKER_FILE.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SentenceRankerProblem(f"{RANKER_FILE}: cannot read the sentence ranker ({exc})") from None
    return _shipped


def choose_ranked(pool: Pool, ranker: SentenceRanker) -> list[Chosen]:
    """The answers, best first: the best unit, then up to ``MAX_SENTENCES`` - 1 more units scoring within
    ``EXTRA_MARGIN`` of it that share no sentence with an earlier one. ``Chosen.score`` is the ranker's score;
    ``Chosen.best`` the unit's sentence of highest cosine."""
    s = ranker.scores(pool)
    out: list[Chosen] = []
    # A sentence is known by its post and text, not by its candidate: overlapping windows of one talk are different
    # candidates holding the same sentences, and a unit repeating one already shown is skipped.
    shown: set[tuple[str, str]] = set()
    for n in np.argsort(-s, kind="stable"):
        if len(out) == MAX_SENTENCES or (out and s[n] < out[0].score - EXTRA_MARGIN):
            break
        u = pool.units[n]
        c = pool.candidates[u.rank]
        mine = {(c.hit.path, _text(c, i, i)) for i in range(u.first, u.last + 1)}
        if mine & shown:
            continue
        shown |= mine
        best = max(range(u.first, u.last + 1), key=lambda i: float(c.sims[i]) if len(c.sims) else 0.0)
        out.append(Chosen(c, u.first, u.last, float(s[n]), best))
    return out


# -- fitting (SciPy, imported only here) --------------------------------------------------------------------


def _questions(pools: list[Pool], labels: list[np.ndarray], cols: list[int], mean, scale):
    """(standardised unit rows, right mask) of each question with both a right and a wrong unit."""
    out = []
    for pool, y in zip(pools, labels):
        y = np.asarray(y, dtype=bool)
        if len(pool.units) and y.any() and not y.all():
            out.append(((pool.x[:, cols] - mean) / scale, y))
    return out


def listwise_loss(w: np.ndarray, questions: list, strength: float) -> tuple[float, np.ndarray]:
    """Mean over ``questions`` of −log P(the top unit is right), P a softmax of the unit scores ``x @ w`` over one
    question's units, + ``strength``/2 · ‖w‖²; and its gradient. (The top-one likelihood of ListNet, Cao et al.
    2007, "Learning to rank: from pairwise approach to listwise approach", with every right unit counted: a
    conditional logit.)"""
    loss, grad = 0.0, np.zeros_like(w)
    for x, y in questions:
        s = x @ w
        e = np.exp(s - s.max())
        p_all, p_right = e / e.sum(), e * y / (e * y).sum()
        loss += math.log(e.sum()) - math.log((e * y).sum())
        grad += x.T @ (p_all - p_right)
    n = max(len(questions), 1)
    return loss / n + 0.5 * strength * float(w @ w), grad / n + strength * w


def fit_ranker(
    pools: list[Pool], labels: list[np.ndarray], setting: RankerSetting, depth: int = DEPTH
) -> SentenceRanker:
    """Fit the listwise model (``listwise_loss``, L-BFGS from "rank by cosine") on ``pools`` with boolean
    ``labels`` (one per unit: issue 11's ``sentence_right`` for the unit). Features are standardised by the
    training units' spread. ``setting.c`` is the inverse L2 strength per question, as scikit-learn's C is per
    example: the penalty is 1 / (C · questions). Questions with no right or no wrong unit teach nothing and are
    left out; with none left the ranker ranks by cosine."""
    from scipy.optimize import minimize

    names = FEATURE_SETS[setting.features]
    cols = [FEATURES.index(f) for f in names]
    rows = [p.x[:, cols] for p in pools if len(p.units)]
    allx = np.vstack(rows) if rows else np.zeros((1, len(cols)))
    mean, scale = allx.mean(axis=0), allx.std(axis=0)
    scale[scale == 0] = 1.0
    questions = _questions(pools, labels, cols, mean, scale)
    coef = np.zeros(len(cols))
    coef[names.index("cos")] = 1.0
    if questions:
        strength = 1.0 / (setting.c * len(questions))
        coef = minimize(listwise_loss, coef, args=(questions, strength), jac=True, method="L-BFGS-B").x
    return SentenceRanker(
        tuple(names), tuple(map(float, mean)), tuple(map(float, scale)), tuple(map(float, coef)), depth, setting.short
    )
