"""The splitter on the 361 real posts: every post read, passages the right size, every talk its own passage."""

from __future__ import annotations

import re
import statistics
from collections import Counter

FENCE = re.compile(r"^\s*(```|~~~)")
ATX = re.compile(r"^(#{1,4})\s+(.+?)\s*#*\s*$")


def _norm(text: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links → their text
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def atx_headings(path) -> list[tuple[int, int, str, int]]:
    """(line, level, text, words under it) of a file's markdown headings, found without the splitter's code."""
    headings, in_fence = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (m := ATX.match(line)):
            headings.append([number, len(m[1]), m[2], 0])
        elif headings:
            headings[-1][3] += len(re.findall(r"[A-Za-z0-9]{2,}", line))
    return [tuple(h) for h in headings]


def test_every_post_is_read_or_reported(real_corpus, real_posts):
    files = sorted(p for p in real_corpus.rglob("*") if p.suffix in (".md", ".markdown"))
    assert len(files) == 361
    assert len(real_posts.posts) + len(real_posts.skipped) == len(files)
    for skipped in real_posts.skipped:
        assert skipped.reason, skipped
    assert len(real_posts.posts) >= 355  # the corpus is real blogs: all but a broken few must read


def test_passage_sizes(real_passages):
    words = [p.word_count for passages in real_passages.values() for p in passages]
    assert max(words) <= 300
    assert 80 <= statistics.median(words) <= 220


def test_every_talk_heading_starts_a_passage(real_corpus, real_passages):
    """In posts with 3+ headings at their most used level, each such heading begins a passage of its own.

    A heading with only a line or two under it (fewer than 30 words before the next heading) is meant to
    merge with a neighbour instead, so it is counted apart.
    """
    checked = started = scraps = 0
    misses = []
    for rel, passages in real_passages.items():
        headings = atx_headings(real_corpus / rel)
        levels = Counter(level for _, level, _, _ in headings)
        if not levels:
            continue
        level, count = max(levels.items(), key=lambda kv: (kv[1], -kv[0]))
        if count < 3:
            continue
        for line, lvl, text, words_under in headings:
            if lvl != level or not _norm(text):
                continue
            if words_under < 30:
                scraps += 1
                continue
            checked += 1
            if any(
                p.start_line <= line <= p.end_line
                and _norm(text) in (_norm(p.session_title), *map(_norm, p.heading_path))
                for p in passages
            ):
                started += 1
            else:
                misses.append(f"{rel}:{line} {text} ({words_under} words)")
    share = started / checked
    print(f"\ntalk headings that start a passage: {started}/{checked} = {share:.1%} ({scraps} scraps merged)")
    assert checked > 500
    assert share >= 0.95, "\n".join(misses[:40])
