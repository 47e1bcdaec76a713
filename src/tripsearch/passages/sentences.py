"""Sentence boundaries from sentencex (Wikimedia's segmenter: abbreviations, URLs, numbers, ~300 languages).

pysbd was tried first; it is about 100 times slower here and cuts German ordinals ("am 3. Mai") apart.
Boundaries are offsets into the text as given: a sentence is always a slice of it, never a re-joined copy.
"""

from __future__ import annotations

from sentencex import segment


def _false_end(text: str, end: int, next_start: int) -> bool:
    """A period with a letter straight after it ("ASP.NET", "Vue.js", "the .NET service") ends no sentence.

    sentencex cuts there; a real sentence end has a space (or a line break) after the period. CJK full
    stops ("。") need no space after them and stay boundaries.
    """
    return end == next_start and text[end - 1] == "." and next_start < len(text) and text[next_start].isalpha()


def sentence_spans(text: str, language: str = "en") -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the sentences in ``text``, surrounding spaces excluded."""
    spans: list[tuple[int, int]] = []
    base = 0
    for piece in text.split("\n"):  # a line break inside a block (list, table, code) always ends a sentence
        if piece.strip():
            cursor, line_spans = 0, []
            for sentence in segment(language or "en", piece):
                sentence = sentence.strip()
                found = piece.find(sentence, cursor) if sentence else -1
                if found < 0:
                    continue
                cursor = found + len(sentence)
                if line_spans and _false_end(piece, line_spans[-1][1], found):
                    line_spans[-1] = (line_spans[-1][0], cursor)
                else:
                    line_spans.append((found, cursor))
            spans.extend((base + a, base + b) for a, b in line_spans)
        base += len(piece) + 1
    return spans
