"""Typed records passed between the pipeline's stages.

read posts (``Post``) → split into passages (``Passage``) → embed/store → search (``Hit``) → answer.
Every stage takes and returns these; nothing else crosses a module boundary.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


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
    session_title: str
    heading_path: tuple[str, ...]
    ordinal: int  # 0-based position within the post
    start_line: int  # 1-based, inclusive, in the original file
    end_line: int
    text: str  # cleaned, readable text shown to users
    content_hash: str  # changes whenever what we embed changes
    # Each prose sentence: (start, end) character offsets in ``text``, and its first and last line in the file.
    sentences: tuple[tuple[int, int, int, int], ...] = ()

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


@dataclass(frozen=True)
class Citation:
    """Where an answer came from, precisely enough to open the file at the line."""

    post_title: str
    session_title: str
    date: dt.date | None
    path: str
    start_line: int
    end_line: int
    url: str | None


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
