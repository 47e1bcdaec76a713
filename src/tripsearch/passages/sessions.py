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

# A section smaller than this, heading and text together, is "a heading with a line under it": it is
# embedded with a neighbour. It was 30 words of text; English prose in the real corpus runs 1.31-1.33
# tokens per word (the model's tokenizer on its 8,506 paragraphs and items, and on those of 20-40 words),
# so 30 words ~ 40 tokens. The heading now counts too: a section stands as a passage with its title, and a
# talk whose title and sentence say something (one dense CJK sentence is ~40 tokens) is not a scrap.
MIN_SECTION_TOKENS = 40
# A parent heading ("## Sessions", "## Day one") with a short intro over its own sub-sections joins its
# first child below twice that: nothing is mislabelled (the child's heading path names the parent, and each
# sentence keeps its own part), and such an intro (a list of session codes, a line on the venue) is context
# for the talks under it. Tokens overcount such lists (“CON5107:” is 4 tokens, 1 word): under the old
# 30-word rule these intros joined their first talk, and a 20-word list of session codes standing alone
# outranked the talk it introduced.
MIN_PARENT_TOKENS = 2 * MIN_SECTION_TOKENS


@dataclass
class Section:
    heading_path: tuple[str, ...]
    heading_line: int | None  # file line of the heading that starts it; None for an intro
    blocks: list[Block] = field(default_factory=list)
    level: int = 0

    @property
    def session_title(self) -> str:
        return self.heading_path[-1] if self.heading_path else ""


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
    """Group blocks under the headings at or above the talk level: one ``Section`` per talk (or intro), in order."""
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
    return [s for s in sections if s.blocks or s.heading_line is not None]


def group_sections(sections: list[Section], tokens: list[int]) -> list[list[int]]:
    """Which sections are embedded together: indices into ``sections``, in order, each group one or more.

    ``tokens[i]`` is the size of section i: its heading and its text. A section under
    ``MIN_SECTION_TOKENS`` ("a line or two") joins a neighbour: the next one when it is a parent heading
    ("## Day one", below ``MIN_PARENT_TOKENS``), a headingless intro, or the post's first section; else
    the one before. Grouping only
    decides what is embedded together: every sentence still knows its own section (see ``windows``).
    """
    groups: list[list[int]] = []
    carry: list[int] = []  # a parent heading or intro waiting to join the section after it
    for i, section in enumerate(sections):
        group, carry = [*carry, i], []
        following = sections[i + 1].heading_path if i + 1 < len(sections) else ()
        parent = bool(section.heading_path) and following[: len(section.heading_path)] == section.heading_path
        if sum(tokens[j] for j in group) >= (MIN_PARENT_TOKENS if parent else MIN_SECTION_TOKENS):
            groups.append(group)
            continue
        if not section.blocks or section.heading_line is None or parent or not groups:
            carry = group
        else:
            groups[-1].extend(group)
    if carry:
        if groups:
            groups[-1].extend(carry)
        else:
            groups.append(carry)
    return groups
