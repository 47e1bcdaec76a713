"""Show the windows of one talk that a search returns as one block.

A long talk is cut into windows that fit the model (``passages.windows``), and consecutive windows share a
sentence. When a search returns two windows of one talk, a reader wants the talk once, not the same talk
twice with the answer in whichever window ranked second (issue 11, item 7). Measured on the real corpus when
windows went from word-sized to token-sized (issue 12): hybrid hit@1 on dev 0.814 -> 0.763, mostly because
the window of the right talk that ranked first was the one without the answer.

``group_windows`` walks a ranked list of passage hits and folds each hit into the block of an earlier hit of
the same talk run (``TalkKey``: same post, same heading path, consecutive passages); a block takes the rank
of its best window. Only returned windows are joined: a window the search did not return is not added.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace

from tripsearch.records import Hit

TalkKey = Hashable  # equal for windows of one talk run; see ``Index.talk_of``
GAP = "\n\n…\n\n"  # between two windows of a talk that are not next to each other


def group_windows(hits: Sequence[Hit], k: int, talk_of: Callable[[str], tuple[TalkKey, int]]) -> list[Hit]:
    """Up to ``k`` blocks from ``hits`` (best first): each hit joins the block of a better-ranked hit of the
    same talk, else starts a block while fewer than ``k`` exist. ``talk_of(passage_id)`` gives (talk key,
    ordinal of the passage in its post). A block's windows are put in the post's order, overlaps removed."""
    blocks: dict[TalkKey, list[tuple[int, Hit]]] = {}
    for hit in hits:
        key, ordinal = talk_of(hit.passage_id)
        if key in blocks:
            blocks[key].append((ordinal, hit))
        elif len(blocks) < k:
            blocks[key] = [(ordinal, hit)]
    return [merge_windows(windows) for windows in blocks.values()]


def merge_windows(windows: list[tuple[int, Hit]]) -> Hit:
    """One hit for a talk's windows ((ordinal, hit) pairs, the first being the best-ranked): its score, ranks
    and id are the best window's; text, lines and highlights cover all windows in the post's order."""
    best = windows[0][1]
    if len(windows) == 1:
        return replace(best, passage_ids=(best.passage_id,))
    ordered = sorted(windows, key=lambda pair: pair[0])
    text, highlights = "", []
    previous = None
    for ordinal, hit in ordered:
        if previous is None:
            start = 0
        elif ordinal == previous + 1:
            start = _overlap(text, hit.text)
            text = text if start else text + "\n\n"
        else:
            start = 0
            text += GAP
        shift = len(text) - start
        highlights.extend((a + shift, b + shift) for a, b in hit.highlights)  # the shared sentence too
        text += hit.text[start:]
        previous = ordinal
    return replace(
        best,
        text=text,
        start_line=min(hit.start_line for _, hit in ordered),
        end_line=max(hit.end_line for _, hit in ordered),
        highlights=tuple(sorted(set(highlights))),
        passage_ids=tuple(hit.passage_id for _, hit in ordered),
        talks=_talks([part for _, hit in ordered for part in hit.talks]),
    )


def _talks(parts: list) -> tuple:
    """``PassagePart``s of consecutive windows as one list: a talk cut across windows appears once, its lines
    spanning them."""
    out: list = []
    for part in parts:
        if out and out[-1].heading_path == part.heading_path:
            out[-1] = replace(out[-1], end_line=max(out[-1].end_line, part.end_line))
        else:
            out.append(part)
    return tuple(out)


def _overlap(before: str, after: str) -> int:
    """Length of the longest prefix of ``after`` that ``before`` ends with (the sentence consecutive windows
    share), 0 when none is at least a few characters long."""
    probe = after[:16]
    if len(probe) < 4:
        return 0
    at = before.find(probe)
    while at != -1:
        tail = before[at:]
        if after.startswith(tail):
            return len(tail)
        at = before.find(probe, at + 1)
    return 0


def mark_sentences(hit: Hit, sentences) -> Hit:
    """``hit`` with ``highlights`` on those of ``sentences`` (``AnswerSentence``s) taken from its passages: how
    an answer's sentences are marked on hits of another search, whose blocks may hold other windows."""
    ids = set(hit.passage_ids or (hit.passage_id,))
    spans = set()
    for sentence in sentences:
        at = hit.text.find(sentence.text) if sentence.passage_id in ids else -1
        if at >= 0:
            spans.add((at, at + len(sentence.text)))
    return replace(hit, highlights=tuple(sorted(spans)))
