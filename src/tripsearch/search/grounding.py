"""Ground a question in the index's own metadata: favour the posts of the event, year or author it names.

"What was said about GDPR at Craft Conf 2018?" names an event and a year; the index knows from post titles,
tags and dates which posts cover them (``answer.understand``: learnt from the index, no list of conference
names). Hybrid search adds ``BOOST`` to the fused score of those posts' passages, so a passage from the right
report outranks a similar one from another year, while a much better passage elsewhere can still win.

Measured (issue 11, 5-fold CV grouped by post over dev.jsonl + dev2.jsonl, real corpus, two-pass vectors,
windows grouped into blocks; /work/tmp-main/restrict_exp.py): 40 of the 89 answerable questions name an event,
year or author that the index resolves, and for all 40 the evidence post is among the posts found. Hybrid
hit@1 0.821 -> 0.855, recall@5 0.944 -> 0.955, MRR@10 0.876 -> 0.897; the grid was 0, 0.25, 0.5, 1, 2 and a
hard restriction (100), and every fold chose 2 on its training folds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tripsearch.records import PostMeta

BOOST = 2.0  # added to the fused (z-scored) score; see the module docstring for how it was chosen


def grounding_boost(
    posts: frozenset[str] | None, ordered: Sequence[PostMeta], post_of_row: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """``BOOST`` for the ``rows`` whose post is in ``posts``, else 0; all 0 when the question names nothing the
    index resolves (``posts`` None). ``ordered``: every post, numbered as ``post_of_row`` (each row's post number)
    counts them; only the posts of ``rows`` are looked at (a million-passage index has 120k posts, and listing
    every path cost 23 ms a query, benchmarks/scale.py). Shape: (len(rows),), float."""
    if not posts:
        return np.zeros(len(rows), dtype=np.float64)
    numbers = post_of_row[rows]
    named = np.fromiter((ordered[n].path in posts for n in numbers.tolist()), dtype=bool, count=len(numbers))
    return np.where(named, BOOST, 0.0)
