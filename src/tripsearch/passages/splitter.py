"""A post → its passages: clean the markdown, find the talks, cut long talks into windows."""

from __future__ import annotations

import hashlib

from tripsearch.passages.clean import markdown_blocks
from tripsearch.passages.sessions import split_sections
from tripsearch.passages.windows import section_windows
from tripsearch.records import Passage, Post

# Bump when splitting changes what passages come out: an index built by another version is rebuilt.
# 4: an unclosed {% … tag no longer swallows the prose up to the next tag's %} (2 posts of the real corpus
# got ~30 lines back), text straight inside <ul> is kept, HTML nested over 200 deep is read as flat text.
CHUNKER_VERSION = "4"


def passage_id(post_path: str, ordinal: int) -> str:
    return hashlib.sha1(f"{post_path}\0{ordinal}".encode()).hexdigest()[:16]


def split_post(post: Post) -> list[Passage]:
    blocks = markdown_blocks(post.body, post.body_start_line)
    passages: list[Passage] = []
    for section in split_sections(blocks, post.meta.title):
        for window in section_windows(section, post.meta.language):
            draft = Passage(
                id=passage_id(post.path, len(passages)),
                post=post.meta,
                session_title=section.session_title,
                heading_path=section.heading_path,
                ordinal=len(passages),
                start_line=window.start_line,
                end_line=window.end_line,
                text=window.text,
                content_hash="",
                sentences=window.sentences,
            )
            # The hash covers exactly what the encoder sees: same text, same vector, whatever produced it.
            digest = hashlib.sha1(draft.embedding_text().encode()).hexdigest()
            passages.append(Passage(**{**draft.__dict__, "content_hash": digest}))
    return passages
