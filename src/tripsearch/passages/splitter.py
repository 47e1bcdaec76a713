"""A post → its passages: clean the markdown, find the talks, group short ones, cut long ones into windows."""

from __future__ import annotations

import hashlib
import json

from tripsearch.passages.clean import markdown_blocks
from tripsearch.passages.sessions import Section, group_sections, split_sections
from tripsearch.passages.tokens import MODEL_MAX_TOKENS, SPECIAL_TOKENS, count_tokens, token_maps
from tripsearch.passages.windows import (
    MIN_BUDGET,
    OVERLAP_TOKENS,
    Unit,
    heading_unit,
    main_part,
    section_units,
    to_parts,
    windows,
)
from tripsearch.records import Passage, PassagePart, Post

# Bump when splitting changes what passages come out: an index built by another version is rebuilt.
# 4: an unclosed {% … tag no longer swallows the prose up to the next tag's %} (2 posts of the real corpus
# got ~30 lines back), text straight inside <ul> is kept, HTML nested over 200 deep is read as flat text.
# 5: sizes in model tokens (every passage fits the 256-token window), short talks grouped but each sentence
# keeps its own talk (``Passage.parts``), text sliced from the post (no re-joining at "ASP.NET"), table
# windows keep their header row.
CHUNKER_VERSION = "5"


def passage_id(post_path: str, ordinal: int) -> str:
    return hashlib.sha1(f"{post_path}\0{ordinal}".encode()).hexdigest()[:16]


def content_hash(passage: Passage) -> str:
    """sha1 of exactly what the encoder sees: the passage's input, and the span of each sentence it embeds.

    Vectors of passages and of their sentences are reused by this hash, so the same text cut into other
    sentences (by another chunker version, or as a table instead of a code block) must not match.
    """
    spans = json.dumps([[s.start, s.end] for s in passage.sentences])
    return hashlib.sha1(f"{passage.embedding_text()}\0{spans}".encode()).hexdigest()


def _context(title: str, heading_path: tuple[str, ...]) -> str:
    """The context line ``Passage.embedding_text`` puts before the text (kept equal to it)."""
    return " › ".join(p for p in (title, *heading_path) if p)


def split_post(post: Post) -> list[Passage]:
    """The passages of a post, in order. Each one's ``embedding_text()`` fits the model's 256 tokens."""
    blocks = markdown_blocks(post.body, post.body_start_line)
    sections = split_sections(blocks, post.meta.title)
    all_blocks = [b for s in sections for b in s.blocks]
    maps = token_maps([b.text for b in all_blocks])
    contexts = count_tokens([_context(post.meta.title, s.heading_path) for s in sections])
    titles = count_tokens([s.session_title for s in sections])
    units: list[list[Unit]] = []
    first = 0
    # The most one unit (a sentence, a row) may hold: a window's room left by the longest context line in
    # the post (sections grouped together share a window), less the overlap sentence it may open with.
    budget = max(MODEL_MAX_TOKENS - SPECIAL_TOKENS - max(contexts, default=0), MIN_BUDGET)
    limit = max(budget - OVERLAP_TOKENS, MIN_BUDGET // 2)
    for n, section in enumerate(sections):
        count = len(section.blocks)
        units.append(section_units(section.blocks, maps[first : first + count], post.meta.language, n, first, limit))
        first += count
    sizes = [titles[n] + sum(u.tokens for u in us) for n, us in enumerate(units)]
    passages: list[Passage] = []
    for group in group_sections(sections, sizes):
        passages.extend(_group_passages(post, sections, group, units, sizes, contexts, titles, len(passages)))
    return passages


def _group_passages(
    post: Post,
    sections: list[Section],
    group: list[int],
    units: list[list[Unit]],
    sizes: list[int],
    contexts: list[int],
    titles: list[int],
    ordinal: int,
) -> list[Passage]:
    """The passages of sections embedded together (``group``: indices into ``sections``)."""
    titled = {i for i in group if sections[i].heading_line is not None}
    main = main_part(group, {i: sizes[i] for i in group}, titled)
    shown = set(sections[main].heading_path)
    members: list[Unit] = []
    heading_lines: dict[int, int] = {}
    leading, pending_line = True, None  # leading: no text yet; pending_line: a bare parent heading's line
    for i in group:
        section = sections[i]
        line = section.heading_line
        if pending_line is not None and line is not None:
            line = min(line, pending_line)
        if not units[i] and leading and section.session_title in shown:
            pending_line = line  # "## Day one" over the talk: in the context line already, and its line opens
            continue
        pending_line = None
        if line is not None:
            heading_lines[i] = line
            # Headings stay in the text, in order, except those the context line already shows right before it.
            if not (leading and section.session_title in shown):
                members.append(heading_unit(section, -1 - i, i, titles[i]))
        members.extend(units[i])
        leading = leading and not units[i]
    budget = max(MODEL_MAX_TOKENS - SPECIAL_TOKENS - max(contexts[i] for i in group), MIN_BUDGET)
    out = []
    if not members:  # a heading with nothing under it at all (the post's last line, say) is still a findable talk
        section = sections[main]
        line = section.heading_line or 0
        drafts = [(section, section.session_title, line, line, (), (PassagePart(section.heading_path, line, line),))]
    else:
        drafts = []
        for window in windows(members, budget, main, heading_lines):
            parts = to_parts(window, sections)
            section = sections[window.parts[window.main][0]]
            drafts.append((section, window.text, window.start_line, window.end_line, window.sentences, parts))
    for section, text, start_line, end_line, sentences, parts in drafts:
        draft = Passage(
            id=passage_id(post.path, ordinal + len(out)),
            post=post.meta,
            session_title=section.session_title,
            heading_path=section.heading_path,
            ordinal=ordinal + len(out),
            start_line=start_line,
            end_line=end_line,
            text=text,
            content_hash="",
            sentences=sentences,
            parts=parts,
        )
        digest = content_hash(draft)
        out.append(Passage(**{**draft.__dict__, "content_hash": digest}))
    return out
