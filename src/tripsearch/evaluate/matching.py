"""When a returned passage or an answer sentence counts as right, judged against a question's evidence quotes.

Texts are compared after ``normalise``: markdown and HTML removed, curly quotes straightened, whitespace and
case folded. Words are ``\\w+`` runs of the normalised text.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from functools import lru_cache

from tripsearch.passages.clean import markdown_blocks

QUOTE_COVERAGE = 0.6  # share of a quote's words, in order, that must be in the passage
# The issue 11 rule for "answer sentence right": the longest run of words the sentence and a quote share is at
# least this share of the shorter of the two (a sentence inside a quote, or holding one, shares all of the shorter).
SENTENCE_RUN = 0.6


@lru_cache(maxsize=65536)  # the same passages come back question after question
def normalise(text: str) -> str:
    """Text as a reader sees it, folded: markdown and HTML removed, whitespace and case collapsed."""
    text = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", text)  # reference-style links, [text][ref] and [text][]
    if re.search(r"[*_`#\[<]", text):
        text = " ".join(b.text for b in markdown_blocks(text, 1))
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(text.lower().split())


def words(text: str) -> list[str]:
    """The words of ``text`` after ``normalise``."""
    return re.findall(r"\w+", normalise(text))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def holds_quote(passage_text: str, quote: str) -> bool:
    """The passage holds the quote, or (a quote cut by a passage boundary) a run of at least ``QUOTE_COVERAGE``
    of its words in order."""
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


def is_answer(hit, question) -> bool:
    """``hit`` (a ``Hit``) is from a post of the question's evidence and holds that evidence's quote."""
    return any(hit.path == file and holds_quote(hit.text, quote) for file, quote in question.evidence)


def longest_run(a: list[str], b: list[str]) -> int:
    """Length of the longest contiguous run of words shared by ``a`` and ``b`` (difflib's longest match)."""
    if not a or not b:
        return 0
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def sentence_matches_quote(sentence: str, quote: str) -> bool:
    """The older, looser rule (``evaluate_answers``): a shared run of half the shorter one, and at least 3 words."""
    a, b = words(sentence), words(quote)
    if not a or not b:
        return False
    return longest_run(a, b) >= max(3, 0.5 * min(len(a), len(b)))


def sentence_right(sentence: str, quote: str) -> bool:
    """Issue 11's "answer sentence right" for one quote: the sentence lies inside the quote, holds it, or the two
    share a contiguous run of words at least ``SENTENCE_RUN`` (60 %) of the shorter one's words."""
    a, b = words(sentence), words(quote)
    if not a or not b:
        return False
    return longest_run(a, b) >= SENTENCE_RUN * min(len(a), len(b))


def answer_sentence_right(answer, question) -> bool:
    """The first answer sentence of ``answer`` (an ``Answer``) is right for ``question``: it is cited from a post
    of the question's evidence and ``sentence_right`` holds for that evidence's quote. An abstention (no sentence)
    is never right."""
    if answer.abstained or not answer.sentences:
        return False
    first = answer.sentences[0]
    return any(first.citation.path == file and sentence_right(first.text, quote) for file, quote in question.evidence)
