"""Sentence boundaries from pysbd, a rule-based splitter that knows abbreviations, URLs and numbers."""

from __future__ import annotations

from functools import lru_cache

import pysbd

_LANGUAGES = {"en", "de", "fr", "es", "it", "nl", "da", "pl", "ru"}


@lru_cache(maxsize=None)
def _segmenter(language: str) -> pysbd.Segmenter:
    return pysbd.Segmenter(language=language if language in _LANGUAGES else "en", clean=False)


def sentence_spans(text: str, language: str = "en") -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the sentences in ``text``, trailing spaces excluded."""
    spans: list[tuple[int, int]] = []
    base = 0
    for piece in text.split("\n"):  # a line break inside a block (list, table, code) always ends a sentence
        if piece.strip():
            cursor = 0
            # pysbd's own char_span mode compiles one regex per sentence; finding them in order is exact.
            for sentence in _segmenter(language).segment(piece):
                found = piece.find(sentence.strip(), cursor)
                if found < 0:
                    continue
                start, end = base + found, base + found + len(sentence.strip())
                cursor = found + len(sentence.strip())
                if end > start:
                    spans.append((start, end))
        base += len(piece) + 1
    return spans
