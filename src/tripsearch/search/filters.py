"""Filters on post metadata, applied before ranking is cut to k, so a filtered search still returns k hits."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np

from tripsearch.errors import BadInput
from tripsearch.records import Passage, PostMeta
from tripsearch.unicode import nfc


def _date(value: dt.date | str | None) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    from tripsearch.posts.dates import parse_date

    return parse_date(value)


def _norm(text: str) -> str:
    """A name or tag folded for comparison: NFC, case-folded (Straße = STRASSE), spaces as hyphens, no #/@."""
    return re.sub(r"\s+", "-", nfc(nfc(text).strip().casefold()).lstrip("#@"))


@dataclass(frozen=True)
class Filters:
    author: str | None = None  # case-insensitive part of any author's name
    tag: str | None = None  # a tag or category, compared normalised
    since: dt.date | None = None  # inclusive
    until: dt.date | None = None  # inclusive
    post: str | None = None  # a post's path, or part of it

    @classmethod
    def of(cls, author=None, tag=None, since=None, until=None, post=None) -> Filters:
        """Filters from user input (dates as ``date`` or text). Raises ``BadInput`` when ``since`` is after
        ``until``: that range holds no post, and an empty answer would look like "the reports don't say"."""
        since, until = _date(since), _date(until)
        if since and until and since > until:
            raise BadInput(f"since {since.isoformat()} is after until {until.isoformat()}: no date is in that range")
        return cls(author or None, tag or None, since, until, post or None)

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.author, self.tag, self.since, self.until, self.post))

    def accepts(self, passage: Passage) -> bool:
        return self.accepts_post(passage.post)

    def accepts_post(self, meta: PostMeta) -> bool:
        """Filters look at the post only: whether its passages pass."""
        if self.author and not any(_norm(self.author) in _norm(a) for a in meta.authors):
            return False
        if self.tag and _norm(self.tag) not in {_norm(t) for t in meta.tags}:
            return False
        if self.since and (meta.date is None or meta.date < self.since):
            return False
        if self.until and (meta.date is None or meta.date > self.until):
            return False
        if self.post and not (nfc(meta.path) == nfc(self.post) or nfc(self.post) in nfc(meta.path)):
            return False
        return True

    def mask(self, passages: list[Passage]) -> np.ndarray:
        """Boolean row mask of the passages these filters let through."""
        if not self.active:
            return np.ones(len(passages), dtype=bool)
        verdict: dict[str, bool] = {}  # filters look at the post only: decide once per post
        return np.array([verdict.setdefault(p.post.path, self.accepts(p)) for p in passages], dtype=bool)

    def post_mask(self, posts: list[PostMeta], post_of_row: np.ndarray) -> np.ndarray:
        """Boolean row mask from the posts (in the order ``post_of_row`` counts in) and each row's post:
        decides once per post and never builds a ``Passage``."""
        if not self.active:
            return np.ones(len(post_of_row), dtype=bool)
        accepted = np.array([self.accepts_post(meta) for meta in posts], dtype=bool)
        return accepted[post_of_row] if len(post_of_row) else np.zeros(0, dtype=bool)
