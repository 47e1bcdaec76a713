"""Cut a group of sections into windows that fit the model, at sentence boundaries, with a little overlap.

Sizes are tokens of the model's tokenizer (``tokens``). A group that fits stays whole. A longer one is cut
where a paragraph or sub-heading begins when it can, else between sentences; the last sentence of one
window opens the next so a fact that straddles the cut is still found whole in one of them. A window's
text is made of slices of the blocks' own text (gaps kept as they are): nothing is re-joined or re-spaced.
Every unit remembers the section ("part") it comes from, so a sentence is cited to its own talk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from tripsearch.passages.clean import Block
from tripsearch.passages.sentences import sentence_spans
from tripsearch.passages.sessions import MIN_SECTION_TOKENS, Section
from tripsearch.passages.tokens import MODEL_MAX_TOKENS, TokenMap
from tripsearch.records import PassagePart, SentenceSpan

# The whole encoder input (specials + "post title › headings" + text) must fit MODEL_MAX_TOKENS (256).
# A long talk is cut into windows of about TARGET_TOKENS of input, as close to the cap as leaves a little
# room to close a window at a paragraph. Why so close: the word-sized windows before (target 170 words,
# ~225 tokens of text) held more of a talk together, and answers lean on a passage's sentences and BM25
# over all its text. Measured on the real corpus (dev questions, hybrid hit@1 / R@5): a target of 192
# tokens cost 0.814/0.932 -> 0.780/0.881; windows this size keep what the old windows held together.
TARGET_TOKENS = 240
OVERLAP_TOKENS = 48  # the repeated sentence, at most: was 35 words x ~1.33 tokens per word
CODE_UNIT_TOKENS = 80  # code is cut into runs of whole lines of about this size: was 60 words
MIN_BUDGET = 64  # a context (title + headings) longer than 256 - 64 tokens is pathological: text still gets 64


@dataclass(frozen=True)
class Unit:
    """A sentence, table row, run of code lines or heading: what windows are made of."""

    text: str  # a slice of its block's text
    gap: str  # the block's own text between the previous unit of the block and this one
    block: int  # the block it comes from (numbered within the group)
    seq: int  # its position among its block's units
    start_line: int
    end_line: int
    tokens: int
    kind: str  # the block's kind, or "header" for a table's header row
    part: int  # index of its section within the group
    overlap: bool = False  # repeated from the previous window
    repeated: bool = False  # a table header repeated in a later window: context, not new content

    @property
    def new_block(self) -> bool:  # first unit of a block: a good place to cut
        return self.seq == 0


@dataclass(frozen=True)
class Window:
    text: str
    start_line: int
    end_line: int
    main: int  # the part (index into ``parts``) that names the window: its main talk
    sentences: tuple[SentenceSpan, ...] = ()
    parts: tuple[tuple[int, int, int], ...] = ()  # (section index in the group, first line, last line)


def _cut(text: str, start: int, end: int, tokens: TokenMap, limit: int) -> list[tuple[int, int]]:
    """``text[start:end]`` in pieces of at most ``limit`` tokens, cut between words (spans, spaces trimmed)."""
    pieces = []
    while start < end:
        cut = min(tokens.cut_before(start, limit), end)
        if cut <= start:
            cut = end
        lo, hi = start, cut
        while lo < hi and text[lo].isspace():
            lo += 1
        while hi > lo and text[hi - 1].isspace():
            hi -= 1
        if hi > lo:
            pieces.append((lo, hi))
        start = cut
    return pieces


def _spans(block: Block, tokens: TokenMap, language: str, limit: int) -> list[tuple[int, int, str]]:
    """(start, end, kind) of the units of a block, as spans of its text."""
    text = block.text
    if block.kind == "heading":
        return [(0, len(text), "heading")]
    if block.kind == "code":
        spans, first, offset = [], 0, 0
        for line in text.split("\n"):  # runs of whole lines of at least CODE_UNIT_TOKENS
            offset += len(line) + 1
            if tokens.count(first, offset) >= CODE_UNIT_TOKENS:
                spans.append((first, offset - 1))
                first = offset
        if first < len(text):
            spans.append((first, len(text)))
        spans = [(a, b, "code") for a, b in spans]
    elif block.kind == "table":
        spans, offset = [], 0
        for n, row in enumerate(text.split("\n")):  # a row is a line of the table's text
            spans.append((offset, offset + len(row), "header" if n < block.header_rows else "table"))
            offset += len(row) + 1
    else:
        spans = [(a, b, block.kind) for a, b in sentence_spans(text, language)]
    out = []
    for a, b, kind in spans:
        # A "sentence" longer than a window (a run-on list, a table without stops) is cut between words.
        pieces = _cut(text, a, b, tokens, limit) if tokens.count(a, b) > limit else [(a, b)]
        out.extend((x, y, kind) for x, y in pieces if text[x:y].strip())
    return out


def section_units(
    blocks: list[Block], tokens: list[TokenMap], language: str, part: int, first_block: int, limit: int
) -> list[Unit]:
    """The units of one section's blocks; ``limit`` is the most tokens one unit may hold."""
    units: list[Unit] = []
    for n, (block, token_map) in enumerate(zip(blocks, tokens)):
        previous_end = 0
        for seq, (start, end, kind) in enumerate(_spans(block, token_map, language, limit)):
            units.append(
                Unit(
                    text=block.text[start:end],
                    gap=block.text[previous_end:start] if seq else "",
                    block=first_block + n,
                    seq=seq,
                    start_line=block.line_at(start),
                    end_line=block.line_at(max(end - 1, start)),
                    tokens=token_map.count(start, end),
                    kind=kind,
                    part=part,
                )
            )
            previous_end = end
    return units


def heading_unit(section: Section, block: int, part: int, tokens: int) -> Unit:
    """The section's heading as the first line of its text (for talks after the first in a passage)."""
    line = section.heading_line or 0
    return Unit(section.session_title, "", block, 0, line, line, tokens, "heading", part)


def _separator(prev: Unit, unit: Unit) -> str:
    if prev.block == unit.block and unit.seq == prev.seq + 1 and not prev.repeated:
        return unit.gap  # the block's own text between them: "ASP.NET" stays whole, "。" gets no space
    if prev.kind in ("heading", "header") or (unit.new_block and unit.kind == prev.kind == "item"):
        return "\n"
    if prev.block == unit.block:  # a table row after its repeated header, rows after an overlap row
        return "\n"
    return "\n\n"


def _window(units: list[Unit], main_of_group: int, heading_lines: dict[int, int], titled: set[int]) -> Window:
    """Join units into a window; ``heading_lines`` gives the first line of parts whose start is in it."""
    out: list[str] = []
    length = 0
    spans: list[tuple[int, int, int, int, int]] = []
    part_lines: dict[int, list[int]] = {}
    part_tokens: dict[int, int] = {}
    for i, unit in enumerate(units):
        if i:
            sep = _separator(units[i - 1], unit)
            out.append(sep)
            length += len(sep)
        if unit.kind in ("text", "item", "table") and not unit.repeated:
            spans.append((length, length + len(unit.text), unit.start_line, unit.end_line, unit.part))
        out.append(unit.text)
        length += len(unit.text)
        if not unit.repeated:  # a repeated table header is context: its line is not the window's
            lines = part_lines.setdefault(unit.part, [unit.start_line, unit.end_line])
            lines[0], lines[1] = min(lines[0], unit.start_line), max(lines[1], unit.end_line)
            part_tokens[unit.part] = part_tokens.get(unit.part, 0) + unit.tokens
    for part, line in heading_lines.items():
        if part in part_lines:
            part_lines[part][0] = min(part_lines[part][0], line)
    order = sorted(part_lines)
    local = {part: n for n, part in enumerate(order)}
    sentences = tuple(SentenceSpan(a, b, first, last, local[p]) for a, b, first, last, p in spans)
    main = main_of_group if main_of_group in part_tokens else main_part(order, part_tokens, titled)
    return Window(
        text="".join(out),
        start_line=min(lines[0] for lines in part_lines.values()),
        end_line=max(lines[1] for lines in part_lines.values()),
        main=local[main],
        sentences=sentences,
        parts=tuple((part, *part_lines[part]) for part in order),
    )


def main_part(parts: list[int], tokens: dict[int, int], has_heading: set[int] | None = None) -> int:
    """The part that names a passage: the largest real talk (``MIN_SECTION_TOKENS`` or more) if there is
    one, else the first part with a heading (so three short talks are named by the first, in reading order)."""
    titled = [p for p in parts if has_heading is None or p in has_heading] or parts
    real = [p for p in titled if tokens.get(p, 0) >= MIN_SECTION_TOKENS]
    if real:
        return max(real, key=lambda p: (tokens[p], -p))
    return titled[0]


def windows(units: list[Unit], budget: int, main_of_group: int, heading_lines: dict[int, int]) -> list[Window]:
    """Cut a group's units into windows of at most ``budget`` tokens of text.

    ``budget`` is what the encoder's window leaves after the specials and the context line. Windows
    aim at ``TARGET_TOKENS`` of input, evened out over the group, and never leave a tail too small to
    stand alone. ``heading_lines``: the heading line of each part that has a heading (a part without one
    is text before the first talk), for the window that holds its start.
    """
    titled = set(heading_lines)
    heading_lines = dict(heading_lines)  # claimed part by part as windows are made
    total = sum(u.tokens for u in units)
    if total <= budget:
        return [_window(units, main_of_group, heading_lines, titled)]
    target_size = max(min(TARGET_TOKENS - (MODEL_MAX_TOKENS - budget), budget), budget // 2)
    target = total / math.ceil(total / target_size)
    remaining = total
    out: list[Window] = []
    current: list[Unit] = []
    headers = {u.block: u for u in units if u.kind == "header"}
    block_tokens: dict[int, int] = {}
    for u in units:
        block_tokens[u.block] = block_tokens.get(u.block, 0) + u.tokens
    for unit in units:
        size = sum(u.tokens for u in current)
        # Cut before a unit that would overflow, or once the window is full and a paragraph or heading
        # begins, or before a paragraph that would not fit whole in what is left (a paragraph is one
        # thought: it should not straddle two windows), or once well over target; never leave a tail too
        # small to stand alone.
        full = size + unit.tokens > budget
        straddles = unit.new_block and size >= 0.5 * target and size + block_tokens[unit.block] > budget
        good_place = (size >= target and (unit.new_block or size >= 1.25 * target)) or straddles
        tail_fits = size + remaining <= budget and remaining < 0.5 * target
        fresh = size - sum(u.tokens for u in current if u.overlap or u.repeated)
        if current and fresh > 0 and (full or (good_place and not tail_fits)):
            out.append(_window(current, main_of_group, _starts_in(current, heading_lines), titled))
            current = _overlap(current) if unit.kind != "heading" else []
            if current and current[0].kind == "table" and current[0].block != unit.block:
                current = []  # a table's last row does not open the paragraph after the table
            header = headers.get(unit.block)
            if unit.kind == "table" and header is not None:  # every window of a table opens with its header
                current.insert(0, replace(header, repeated=True))
            if sum(u.tokens for u in current) + unit.tokens > budget:
                current = current[:1] if current and current[0].repeated else []
                if sum(u.tokens for u in current) + unit.tokens > budget:
                    current = []
        current.append(unit)
        remaining -= unit.tokens
    if current:
        out.append(_window(current, main_of_group, _starts_in(current, heading_lines), titled))
    return out


def _starts_in(units: list[Unit], heading_lines: dict[int, int]) -> dict[int, int]:
    """Heading lines of the parts whose first unit is in ``units`` (each part's start is in one window)."""
    first_units = {}
    for unit in units:
        if not unit.overlap and not unit.repeated:
            first_units.setdefault(unit.part, unit)
    found = {}
    for part, line in list(heading_lines.items()):
        if part in first_units:
            found[part] = line
            del heading_lines[part]  # claimed: later windows of the same part start at their own text
    return found


def _overlap(units: list[Unit]) -> list[Unit]:
    last = units[-1]
    if last.kind in ("heading", "code", "header") or last.tokens > OVERLAP_TOKENS or last.repeated:
        return []
    return [replace(last, overlap=True)]


def to_parts(window: Window, sections: list[Section]) -> tuple[PassagePart, ...]:
    """The window's parts as records: each section's heading path and its lines in the window."""
    return tuple(PassagePart(sections[part].heading_path, first, last) for part, first, last in window.parts)
