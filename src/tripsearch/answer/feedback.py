"""Relevance-model feedback terms for the answer-sentence ranker (its ``prf`` feature).

The words the candidate passages of a question share, weighted by how well the search scored each passage, that
English at large rarely uses and the question lacks: the topic's own vocabulary ("aurora", "postgres", "migrat" for
a question about moving off Cassandra). A sentence holding them is more likely an answer than one that only
restates the question.

Method: RM1 (Lavrenko & Croft 2001, "Relevance-based language models"), P(w|R) = Σ over the candidates of
P(passage) · P(w|passage), with P(passage) a softmax of the z-scored search scores and P(w|passage) the stemmed
term's share of the passage's content words. Each term the question lacks is weighted by its contribution to the
KL divergence from English at large, P(w|R) · log(P(w|R) / P(w|English)) (after Zhai & Lafferty 2001,
"Model-based feedback in the language modeling approach to information retrieval"), with P(w|English) wordfreq's
frequency of the term's first surface form (floored at 1e-7, below any listed word). The top
``FEEDBACK_TERMS`` = 10 terms are kept: Anserini's RM3 default (``fbTerms`` 10), not tuned on our questions.
Measured in docs/answer-signals.md (nested CV of the ranker, last section).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tripsearch.answer.features import _stem
from tripsearch.search.keyword import STOPWORDS
from tripsearch.search.terms import tokens

FEEDBACK_TERMS = 10  # Anserini's RM3 default fbTerms; not chosen on dev questions
BACKGROUND_FLOOR = 1e-7  # P(w|English) of a word wordfreq does not list (its lists stop near 1e-8)


def _content(text: str) -> list[str]:
    """The content words of ``text``: alphabetic keyword-index tokens of 3+ letters that are not stopwords."""
    return [w for w in tokens(text) if w.isalpha() and len(w) > 2 and w not in STOPWORDS]


@dataclass(frozen=True)
class PassageTerms:
    """A passage's stemmed content terms: ``shares`` term → share of its content words; ``forms`` term → the
    first surface word that stems to it (for the English-frequency look-up)."""

    shares: dict[str, float]
    forms: dict[str, str]


@lru_cache(maxsize=1024)  # ~50 questions of candidates, ~7 KB each; they come back question after question
def passage_terms(text: str) -> PassageTerms:
    """The stemmed content terms of a passage's ``text`` (cached: stemming 20 passages is most of the cost)."""
    words = _content(text)
    forms: dict[str, str] = {}
    counts: dict[str, int] = {}
    for w, n in Counter(words).items():  # each surface word stemmed once, in order of first use
        t = _stem(w)
        forms.setdefault(t, w)
        counts[t] = counts.get(t, 0) + n
    return PassageTerms({t: n / len(words) for t, n in counts.items()}, forms)


@lru_cache(maxsize=65536)
def content_stems(text: str) -> frozenset[str]:
    """The stemmed content terms of a unit's ``text`` (a sentence or a span), as ``passage_terms`` counts them."""
    return frozenset(_stem(w) for w in _content(text))


@lru_cache(maxsize=65536)
def _background(word: str) -> float:
    from wordfreq import word_frequency  # its English list loads on first use (~0.15 s)

    return max(word_frequency(word, "en"), BACKGROUND_FLOOR)


def feedback_terms(
    question_terms: Iterable[str], candidates: Sequence[tuple[float, str]], k: int = FEEDBACK_TERMS
) -> dict[str, float]:
    """The ``k`` feedback terms of a question and their weights (≥ 0), best first.

    ``question_terms``: the question's stemmed content words (``QuestionTerms.terms``), left out of the result.
    ``candidates``: (search score, passage text) of the search's candidate passages, best first. Returns stemmed
    term → P(w|R) · log(P(w|R) / P(w|English)) floored at 0; empty with no candidates or no content words.
    """
    if not candidates:
        return {}
    z = np.array([score for score, _ in candidates], dtype=float)
    z = (z - z.mean()) / (z.std() or 1.0)
    prior = np.exp(z - z.max())
    prior /= prior.sum()
    relevance: dict[str, float] = {}
    forms: dict[str, str] = {}
    for (_, text), p in zip(candidates, prior):
        terms = passage_terms(text)
        for t, share in terms.shares.items():
            relevance[t] = relevance.get(t, 0.0) + float(p) * share
        for t, w in terms.forms.items():
            forms.setdefault(t, w)
    asked = set(question_terms)
    # Most terms are rare in the candidates and cannot reach the top k whatever English's frequency: a term's
    # weight is at most P(w|R) · log(P(w|R) / BACKGROUND_FLOOR), which grows with P(w|R). Going down P(w|R), stop
    # once that bound falls below the k-th best weight: ~650 wordfreq look-ups a question become a few dozen,
    # and the result is exactly that of weighing every term.
    order = {t: n for n, t in enumerate(relevance)}  # ties keep first-seen order (a stable sort of all terms)
    weight: dict[str, float] = {}
    best: list[float] = []  # the k largest weights so far, descending
    for t, p in sorted(relevance.items(), key=lambda item: -item[1]):
        if t in asked:
            continue
        if len(best) == k and p * math.log(p / BACKGROUND_FLOOR) < best[-1]:
            break
        weight[t] = p * math.log(p / _background(forms[t]))
        best = sorted([*best, weight[t]], reverse=True)[:k]
    top = sorted(weight, key=lambda t: (-weight[t], order[t]))[:k]
    return {t: max(weight[t], 0.0) for t in top}


def feedback_share(terms: dict[str, float], text: str) -> float:
    """Share (0-1) of the feedback ``terms``' total weight whose terms ``text`` holds; 0 when they weigh nothing."""
    total = sum(terms.values())
    if not total:
        return 0.0
    found = content_stems(text)
    return sum(w for t, w in terms.items() if t in found) / total
