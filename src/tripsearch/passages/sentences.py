"""Sentence boundaries from sentencex (Wikimedia's segmenter: abbreviations, URLs, numbers, ~300 languages).

pysbd was tried first; it is about 100 times slower here and cuts German ordinals ("am 3. Mai") apart.
"""

from __future__ import annotations

from sentencex import segment


def sentence_spans(text: str, language: str = "en") -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the sentences in ``text``, surrounding spaces excluded."""
    spans: list[tuple[int, int]] = []
    base = 0
    for piece in text.split("\n"):  # a line break inside a block (list, table, code) always ends a sentence
        if piece.strip():
            cursor = 0
            for sentence in segment(language or "en", piece):
                sentence = sentence.strip()
                found = piece.find(sentence, cursor) if sentence else -1
                if found < 0:
                    continue
                cursor = found + len(sentence)
                spans.append((base + found, base + cursor))
        base += len(piece) + 1
    return spans
