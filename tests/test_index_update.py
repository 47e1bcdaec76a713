"""One opened generation's state (``store.opened.OpenedGeneration``): ``Index.update`` replaces it whole, and
what is learnt from its metadata is read from it without loading every passage."""

from __future__ import annotations

import shutil

from conftest import SAMPLE_POSTS

from tripsearch import Index
from tripsearch.answer.vocabulary import IndexMetadata, SessionRef

NEW_POST = """---
title: "Zephyrconf 2025: notes from the quokka track"
date: 2025-06-02
authors: ["Mira Solberg"]
tags: ["observability"]
---

## Quokka telemetry at scale - Ada Lindqvist

Ada Lindqvist showed how her team ships quokka telemetry from 900 edge devices through one collector per site.
The collectors batch every ten seconds, and the central store keeps thirty days of raw points.
"""


def test_update_swaps_in_the_new_generation_and_what_is_learnt_from_it(tmp_path):
    posts = shutil.copytree(SAMPLE_POSTS, tmp_path / "posts")
    idx = Index.build(posts, tmp_path / "index")
    question = "What did they say about telemetry at Zephyrconf 2025?"
    assert idx.grounded_posts(question) == frozenset()  # the first generation's metadata: no post of 2025
    first, encoder = idx.generation, idx.encoder
    pinned = idx._pinned()  # what ask answers from: one generation for the whole question
    (posts / "zephyrconf-2025.md").write_text(NEW_POST, encoding="utf-8")

    report = idx.update()

    assert not report.nothing_changed and report.added == 1, report.summary()
    assert idx.generation != first and idx.encoder is encoder  # a new generation, the same loaded model
    assert idx.grounded_posts(question) == frozenset({"zephyrconf-2025.md"})  # not the first generation's
    assert idx.search("quokka telemetry from edge devices", k=1)[0].path == "zephyrconf-2025.md"
    assert len(idx.passages) == len(Index.open(tmp_path / "index").passages)
    # A question that started before the update keeps reading the first generation, whole (its folder may be
    # gone: what is open stays readable), with the same model.
    assert pinned.generation == first and pinned.encoder is encoder
    assert all(h.path != "zephyrconf-2025.md" for h in pinned.search("quokka telemetry from edge devices", k=3))
    assert pinned.grounded_posts(question) == frozenset()
    assert pinned.ask("How did they cut Lambda cold starts?").hits

    state = idx._opened
    assert idx.update().nothing_changed and idx._opened is state  # nothing changed: nothing reopened
    idx.close()


def test_the_metadata_read_from_the_columns_is_what_every_passage_says(sample_index):
    """``OpenedGeneration.talks`` (two columns) gives the ``IndexMetadata`` that reading every passage gives."""
    posts, talks = sample_index._opened.talks()
    from_columns = IndexMetadata(tuple(posts), tuple(SessionRef(path, heading) for path, heading in talks))
    assert len(from_columns.posts) == len(sample_index.posts.ordered()) and from_columns.sessions
    assert from_columns == IndexMetadata.from_passages(sample_index.passages)
