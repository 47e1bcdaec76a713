"""Cheap lexical evidence for the answer stage: how much of the question a sentence or a title covers."""

from __future__ import annotations

from functools import lru_cache

import snowballstemmer

from tripsearch.search.keyword import STOPWORDS as STOPWORD_SET
from tripsearch.search.keyword import query_terms
from tripsearch.search.terms import coverage_keys, is_cjk, is_symbolic, tokens, words

_STEMMER = snowballstemmer.stemmer("english")  # Porter2, the stemmer family FTS5's porter tokenizer uses


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    # A real stemmer: "cutting"/"cut", "talks"/"talk", "scaling"/"scale" (a suffix list made "cutting" "cutt").
    return _STEMMER.stemWord(word)


@lru_cache(maxsize=65536)  # the same sentences come back question after question (app, eval)
def term_set(text: str) -> frozenset[str]:
    """The text's tokens as the keyword index sees them (CJK bigrams, symbol-bearing terms whole), folded."""
    return frozenset(_stem(w) for w in tokens(text))


class QuestionTerms:
    """The question's content words, folded, for coverage checks against many sentences."""

    def __init__(self, question: str):
        keys = [key for term in query_terms(question) for key in coverage_keys(term)]
        self.terms = [_stem(t) for t in dict.fromkeys(keys)]

    def coverage(self, text_terms: frozenset[str] | set[str]) -> float:
        """Share of the question's content words found in ``text_terms``."""
        if not self.terms:
            return 0.0
        return sum(t in text_terms for t in self.terms) / len(self.terms)


def named_terms(question: str) -> list[str]:
    """Words of the question that look like names of things: Strimzi, PyScript, EKS, k8s, Graviton3.

    Mixed case, inner capitals, digits, or a capital not at the start of the question; or a term the index
    keeps apart from its plain word (``C++``, ``C#``, ``.NET``). A question that names a thing the reports
    never mention is one they cannot answer, however close the prose is. CJK runs are not names: their case
    says nothing, and their bigrams are checked one by one as content words.
    """
    names = []
    for i, word in enumerate(words(question)):
        if len(word) < 2 or word.lower() in STOPWORD_SET or is_cjk(word):
            continue
        if is_symbolic(word) and (word[0] == "." or word[-1] in "+#"):
            names.append(word)
            continue
        inner_capital = any(c.isupper() for c in word[1:])
        has_digit = any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
        if inner_capital or has_digit or (i > 0 and word[0].isupper()):
            names.append(word)
    return names


@lru_cache(maxsize=8192)
def not_english(word: str) -> bool:
    """Whether ``word`` is absent from wordfreq's English word list (``zipf_frequency`` 0: no source of its
    corpus — Wikipedia, subtitles, news, books, web, Twitter, Reddit — uses it often enough to be listed). A word
    the reports never contain and English does not know either is the name of a thing ("autovacuum", "mypy",
    "webauthn"); one English knows ("hauled", "pushback") is more likely a paraphrase. CJK runs and numbers are
    never "not English" here: their absence from an English list says nothing. wordfreq ships its lists in the
    package (no download); the first call loads the English list (~0.15 s)."""
    if not word or is_cjk(word) or not any(c.isalpha() for c in word):
        return False
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") == 0.0
