"""Hybrid search favours the posts of the event, year or author a question names (search.grounding), learnt
from the index's own metadata, with the real model on three small posts."""

from __future__ import annotations

import pytest

import tripsearch.search.grounding as grounding
from tripsearch import Index

POSTS = {
    # The report of the named event says less, in other words...
    "pgconf-2021.md": """---
title: "PGConf 2021 notes"
date: 2021-06-10
tags: [postgres]
---
## Pooling at scale

Our notes from this talk: the speaker showed how they put a pooler in front of the primary and cut idle
server processes. Transaction mode pooling broke prepared statements, so they moved to session mode for
the reporting jobs.
""",
    # ...than a report of another event that repeats the question's words.
    "pycon-2019.md": """---
title: "PyCon 2019 recap"
date: 2019-05-04
tags: [python]
---
## Connection pooling for Django

What did they say about connection pooling? The talk explained connection pooling with PgBouncer for
Django apps: connection pooling keeps database connections open and reuses them, and connection pooling in
transaction mode needs care with prepared statements.
""",
    "kubecon-2020.md": """---
title: "KubeCon 2020 recap"
date: 2020-11-20
tags: [kubernetes]
---
## Autoscaling

The talk covered the cluster autoscaler and how node pools scale with pending pods.
""",
}
QUESTION = "What did they say about connection pooling at PGConf 2021?"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("grounding")
    for name, text in POSTS.items():
        (root / "posts").mkdir(exist_ok=True)
        (root / "posts" / name).write_text(text, encoding="utf-8")
    return Index.build(root / "posts", root / "index")


def test_the_named_event_is_found_in_the_index_metadata(index):
    assert index.grounded_posts(QUESTION) == {"pgconf-2021.md"}
    assert index.grounded_posts("Which talk in 2020 covered autoscaling?") == {"kubecon-2020.md"}
    assert index.grounded_posts("How do I make connection pooling work?") is None  # names nothing


def test_hybrid_search_favours_the_named_event(index, monkeypatch):
    for mode in ("hybrid", "hybrid-rrf"):
        assert index.search(QUESTION, k=3, mode=mode)[0].path == "pgconf-2021.md", mode
    monkeypatch.setattr(grounding, "BOOST", 0.0)  # without grounding the wordier report of another event wins
    assert index.search(QUESTION, k=3)[0].path == "pycon-2019.md"
