"""Cut a section into windows of about 120–250 words at sentence boundaries, with a little overlap.

A talk that fits stays whole. A long one is cut where a paragraph or sub-heading begins when it can,
else between sentences; the last sentence of one window opens the next so a fact that straddles the
cut is still found whole in one of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from tripsearch.passages.clean import Block
from tripsearch.passages.sentences import sentence_spans
from tripsearch.passages.sessions import Section

MAX_WORDS = 250
TARGET_WORDS = 170
OVERLAP_WORDS = 35
_CODE_UNIT_WORDS = 60


@dataclass(frozen=True)
class Unit:
    text: str
    start_line: int
    end_line: int
    words: int
    new_block: bool  # first unit of a block: a good place to cut
    kind: str  # the block's kind
    overlap: bool = False  # repeated from the previous window


@dataclass(frozen=True)
class Window:
    text: str
    start_line: int
    end_line: int
    sentences: tuple[tuple[int, int, int, int], ...] = ()  # (start, end, first line, last line) of each sentence

    @property
    def words(self) -> int:
        return len(self.text.split())


def _word_chunks(text: str, size: int) -> list[str]:
    words = text.split()
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


def _block_units(block: Block, language: str) -> list[Unit]:
    if block.kind == "heading":
        return [Unit(block.text, block.start_line, block.end_line, block.words, True, block.kind)]
    if block.kind == "code":
        units, lines, first = [], [], 0
        for n, line in enumerate(block.text.split("\n")):
            lines.append(line)
            if sum(len(x.split()) for x in lines) >= _CODE_UNIT_WORDS:
                text = "\n".join(lines)
                units.append(Unit(text, block.marks[first][1], block.marks[n][1], len(text.split()), not units, "code"))
                lines, first = [], n + 1
        if lines:
            text = "\n".join(lines)
            units.append(Unit(text, block.marks[first][1], block.end_line, len(text.split()), not units, "code"))
        return [u for u in units if u.words] or units[:1]
    units = []
    for start, end in sentence_spans(block.text, language):
        sentence = block.text[start:end]
        first_line, last_line = block.line_at(start), block.line_at(end - 1)
        # A "sentence" longer than a window (a run-on list, a table without stops) is cut by words.
        for piece in (
            _word_chunks(sentence, MAX_WORDS - OVERLAP_WORDS)
            if len(sentence.split()) > MAX_WORDS - OVERLAP_WORDS
            else [sentence]
        ):
            units.append(Unit(piece, first_line, last_line, len(piece.split()), not units, block.kind))
    return units


def _join(units: list[Unit]) -> tuple[str, tuple[tuple[int, int, int, int], ...]]:
    """The window's text, and its prose sentences (not code, not sub-headings): (start, end, first line, last line)."""
    out: list[str] = []
    spans: list[tuple[int, int, int, int]] = []
    length = 0
    for i, unit in enumerate(units):
        if i:
            prev = units[i - 1]
            if prev.kind == "heading" or (unit.new_block and unit.kind == prev.kind == "item"):
                sep = "\n"
            elif unit.new_block or unit.kind == "heading":
                sep = "\n\n"
            elif unit.kind in ("code", "table"):  # rows and code lines were lines in the post too
                sep = "\n"
            else:
                sep = " "
            out.append(sep)
            length += len(sep)
        if unit.kind in ("text", "item", "table"):
            spans.append((length, length + len(unit.text), unit.start_line, unit.end_line))
        out.append(unit.text)
        length += len(unit.text)
    return "".join(out), tuple(spans)


def _window(units: list[Unit], start_line: int | None = None) -> Window:
    first = min(u.start_line for u in units)
    if start_line is not None:
        first = min(first, start_line)
    text, sentences = _join(units)
    return Window(text, first, max(u.end_line for u in units), sentences)


def section_windows(section: Section, language: str = "en") -> list[Window]:
    units = [u for block in section.blocks for u in _block_units(block, language)]
    if not units:
        if section.heading_line is None:
            return []
        # A heading with nothing under it at all (the post's last line, say) is still a findable talk.
        return [Window(section.session_title, section.heading_line, section.heading_line)]
    total = sum(u.words for u in units)
    if total <= MAX_WORDS:
        return [_window(units, section.heading_line)]
    target = total / math.ceil(total / TARGET_WORDS)
    remaining = total
    windows: list[Window] = []
    current: list[Unit] = []
    for unit in units:
        size = sum(u.words for u in current)
        # Cut before a unit that would overflow, or once the window is full and a paragraph or heading
        # begins, or once it is well over target; never leave a tail too small to stand alone.
        full = size + unit.words > MAX_WORDS
        good_place = size >= target and (unit.new_block or size >= 1.25 * target)
        tail_fits = size + remaining <= MAX_WORDS and remaining < 0.5 * target
        fresh = size - sum(u.words for u in current if u.overlap)
        if current and fresh > 0 and (full or (good_place and not tail_fits)):
            windows.append(_window(current, section.heading_line if not windows else None))
            current = _overlap(current) if unit.kind != "heading" else []
            if sum(u.words for u in current) + unit.words > MAX_WORDS:
                current = []
        current.append(unit)
        remaining -= unit.words
    if current:
        windows.append(_window(current, section.heading_line if not windows else None))
    return windows


def _overlap(units: list[Unit]) -> list[Unit]:
    last = units[-1]
    if last.kind in ("heading", "code") or last.words > OVERLAP_WORDS:
        return []
    return [replace(last, overlap=True, new_block=False)]
