"""Typed records passed between the pipeline's stages.

read posts (``Post``) → split into passages (``Passage``) → embed/store → search (``Hit``) → answer.
Every stage takes and returns these; nothing else crosses a module boundary.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # only for annotations: importing the records costs no numpy
    import numpy as np


@dataclass(frozen=True)
class PostMeta:
    """What we know about a post, without its body."""

    path: str  # relative to the posts folder, with forward slashes
    title: str
    date: dt.date | None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # tags and categories, merged and normalised
    description: str = ""
    url: str | None = None
    slug: str | None = None
    language: str = "en"
    draft: bool = False


@dataclass(frozen=True)
class Post:
    meta: PostMeta
    body: str  # the markdown after the front matter, as in the file
    body_start_line: int  # 1-based line of the file on which ``body`` starts
    source_hash: str  # sha1 of the file's bytes: the unit of incremental updates
    # What could not be read and became unknown, one line each, naming the field: "field 'date': unreadable
    # date '2023-13-45' (…); using 2023-05-04 from the file name". The post is still indexed.
    warnings: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return self.meta.path


@dataclass(frozen=True)
class SkippedFile:
    """A file that could not be read, and why. Reported, never fatal."""

    path: str
    reason: str


class SentenceSpan(NamedTuple):
    """One prose sentence of a passage: a slice of its text, where it is in the file, and its section."""

    start: int  # character offsets in ``Passage.text``
    end: int
    first_line: int  # 1-based file lines
    last_line: int
    part: int = 0  # index into ``Passage.parts``: the talk (section) the sentence sits in


@dataclass(frozen=True)
class PassagePart:
    """A talk (section of the post) that a passage holds all or some of: short talks are embedded together."""

    heading_path: tuple[str, ...]  # () for text before the first talk heading
    start_line: int  # 1-based, inclusive: this part's lines within the passage
    end_line: int

    @property
    def session_title(self) -> str:
        return self.heading_path[-1] if self.heading_path else ""


@dataclass(frozen=True)
class PostWarning:
    """A post that was indexed, but with a field (or its front matter) unknown; ``message`` says which and why."""

    path: str
    message: str


@dataclass(frozen=True)
class Passage:
    """One retrievable unit: a talk, or a window of a long talk."""

    id: str  # stable: derived from post path and ordinal
    post: PostMeta
    session_title: str  # the passage's main talk; each sentence's own talk is in ``parts``
    heading_path: tuple[str, ...]
    ordinal: int  # 0-based position within the post
    start_line: int  # 1-based, inclusive, in the original file
    end_line: int
    text: str  # cleaned, readable text shown to users
    content_hash: str  # changes whenever what we embed changes
    sentences: tuple[SentenceSpan, ...] = ()  # the prose sentences (not headings, code or table headers)
    parts: tuple[PassagePart, ...] = ()  # the talks in the passage, in order; () from an index of before parts

    def part_of(self, sentence: int) -> PassagePart:
        """The talk that sentence number ``sentence`` sits in (the passage's own, for an index of before parts)."""
        part = self.sentences[sentence].part
        if part < len(self.parts):
            return self.parts[part]
        return PassagePart(self.heading_path, self.start_line, self.end_line)

    @property
    def post_path(self) -> str:
        return self.post.path

    @property
    def word_count(self) -> int:
        return len(self.text.split())

    def embedding_text(self) -> str:
        """What the encoder sees: the text with the context a reader would have."""
        context = " › ".join(p for p in (self.post.title, *self.heading_path) if p)
        return f"{context}\n{self.text}" if context else self.text


@dataclass(frozen=True)
class Hit:
    """A passage returned by a search, with the ranks that produced it."""

    passage_id: str
    text: str
    path: str
    post_title: str
    session_title: str
    heading_path: tuple[str, ...]
    start_line: int
    end_line: int
    date: dt.date | None
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    url: str | None
    score: float
    dense_rank: int | None = None  # 1-based rank in the dense list, None when not in it
    keyword_rank: int | None = None
    highlights: tuple[tuple[int, int], ...] = field(default=())  # char spans in ``text``
    # The passages whose text the hit shows, in the post's order: windows of one talk returned together are
    # shown as one block (``search.blocks``); () for a hit that was not grouped.
    passage_ids: tuple[str, ...] = ()
    # The talks whose text the hit holds, in order, each with its own lines: short talks are embedded together,
    # so one hit can hold several, and each is named (field case C19); () from an index of before parts.
    talks: tuple[PassagePart, ...] = ()


@dataclass(frozen=True, eq=False)
class ScoredPassage:
    """One search result as the answer stage reads it (``Index.scored_passages``): the hit, its whole passage,
    and how close each of the passage's sentences is to the question.

    ``sentence_sims``: shape (len(passage.sentences),), float32, the cosine of each prose sentence's stored vector
    with the question's (both unit vectors), in the passage's sentence order; a view of the search's own scores
    (no vector is read twice; do not write to it). None for a keyword search (no question vector). Compared by
    identity (it holds an array)."""

    hit: Hit
    passage: Passage
    sentence_sims: np.ndarray | None


@dataclass(frozen=True)
class Citation:
    """Where an answer came from, precisely enough to open the file at the line."""

    post_title: str
    session_title: str  # the talk the cited sentence sits in
    date: dt.date | None
    path: str
    start_line: int
    end_line: int
    url: str | None
    heading_path: tuple[str, ...] = ()  # of that talk


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    passage_id: str
    start: int  # character offsets of the sentence in its passage's text
    end: int
    score: float
    citation: Citation


@dataclass(frozen=True)
class Answer:
    question: str
    sentences: tuple[AnswerSentence, ...]  # best first; empty when abstained
    hits: tuple[Hit, ...]  # supporting passages; ``highlights`` mark the answer sentences
    confidence: float  # 0–1
    abstained: bool
    reason: str = ""  # why it abstained
    # What the confidence was computed from (``answer.confidence.FEATURES`` and more: name → value) and why it
    # answered or abstained, one line each: for ``ask --explain``, ``--json`` and the app's "Why this answer?".
    signals: dict[str, float] = field(default_factory=dict, compare=False)
    explanation: tuple[str, ...] = ()
