"""Find the talks in a post: decide which heading level marks them, and group blocks into ``Section``s.

Posts disagree on how they mark talks (``#`` to ``####``, bold lines, ``## Day one`` over ``### Talk``),
so the level is chosen per post: the level used most often, unless its headings mostly repeat
("Takeaways", "Slides") — then they are sub-headings of the talks one level up.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from tripsearch.passages.clean import PSEUDO_LEVEL, Block

MIN_SECTION_WORDS = 30  # fewer words than this under a heading is "a line or two": merge it


@dataclass
class Section:
    heading_path: tuple[str, ...]
    heading_line: int | None  # file line of the heading that starts it; None for an intro
    blocks: list[Block] = field(default_factory=list)
    level: int = 0

    @property
    def session_title(self) -> str:
        return self.heading_path[-1] if self.heading_path else ""

    @property
    def words(self) -> int:
        return sum(b.words for b in self.blocks if b.kind != "heading")


def _norm(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def _is_title_heading(block: Block, index: int, first_heading: int, level_ones: int, post_title: str) -> bool:
    """The post title repeated as a heading: not a talk.

    ``first_heading`` (index of the post's first heading) and ``level_ones`` (how many level-1 blocks) are
    counted once per post by the caller: counting them here, per heading, was quadratic (10,000 headings
    took seconds).
    """
    if block.kind != "heading" or block.level > 2:
        return False
    same = _norm(block.text) == _norm(post_title) or (
        len(_norm(block.text)) > 8 and _norm(block.text) in _norm(post_title)
    )
    first = index == first_heading  # no heading before this one
    return same or (first and block.level == 1 and level_ones == 1 and index <= 1)


def talk_level(headings: list[Block]) -> int | None:
    """The heading level that marks talks in a post, or None when the post has no headings."""
    counts = Counter(h.level for h in headings)
    if not counts:
        return None
    real = {lvl: n for lvl, n in counts.items() if lvl != PSEUDO_LEVEL}
    if PSEUDO_LEVEL in counts and sum(real.values()) >= 3:
        counts.pop(PSEUDO_LEVEL)  # bold lines in a post with real headings are emphasis, not talks
    level = max(counts, key=lambda lvl: (counts[lvl], -lvl))
    texts = [_norm(h.text) for h in headings if h.level == level]
    shallower = [lvl for lvl in counts if lvl < level and counts[lvl] >= 2]
    if shallower and len(set(texts)) < 0.6 * len(texts):
        level = max(shallower)
    return level


def split_sections(blocks: list[Block], post_title: str) -> list[Section]:
    """Group blocks under the headings at or above the talk level."""
    first_heading = next((i for i, b in enumerate(blocks) if b.kind == "heading"), len(blocks))
    level_ones = sum(b.level == 1 for b in blocks)
    blocks = [b for i, b in enumerate(blocks) if not _is_title_heading(b, i, first_heading, level_ones, post_title)]
    level = talk_level([b for b in blocks if b.kind == "heading"])
    sections = [Section((), None)]
    stack: list[tuple[int, str]] = []
    for block in blocks:
        if block.kind == "heading" and level is not None and block.level <= level:
            stack = [(lvl, text) for lvl, text in stack if lvl < block.level] + [(block.level, block.text)]
            sections.append(Section(tuple(t for _, t in stack), block.start_line, [], block.level))
        else:
            sections[-1].blocks.append(block)
    return _merge_scraps([s for s in sections if s.blocks or s.heading_line is not None])


def _merge_scraps(sections: list[Section]) -> list[Section]:
    """A heading with a line or two under it joins a neighbour instead of standing as a scrap."""
    merged: list[Section] = []
    carry: Section | None = None  # a parent heading or intro waiting to join the section after it
    for section in sections:
        if carry is not None:
            if carry.heading_line is not None and carry.session_title not in section.heading_path:
                title = Block("heading", carry.session_title, ((0, carry.heading_line),), carry.level)
                carry.blocks.insert(0, title)
            section.blocks[:0] = carry.blocks
            if carry.heading_line is not None and (
                section.heading_line is None or carry.heading_line < section.heading_line
            ):
                section.heading_line = carry.heading_line
            carry = None
        if section.words >= MIN_SECTION_WORDS:
            merged.append(section)
            continue
        parent_of_next = not section.blocks or section.heading_line is None
        if parent_of_next:
            carry = section  # "## Day one" or a short intro: it belongs with what follows
        elif merged:
            previous = merged[-1]
            title = Block("heading", section.session_title, ((0, section.heading_line),), section.level)
            previous.blocks.extend([title, *section.blocks])
        else:
            carry = section
    if carry is not None:
        if merged:
            merged[-1].blocks.extend(carry.blocks)
        else:
            merged.append(carry)
    return merged
