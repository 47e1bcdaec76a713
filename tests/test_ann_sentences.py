"""Issue 13: past ``ANN_MIN_ROWS`` a second index, over the SENTENCE vectors (``store.ann``, IVF-SQ8), adds the
passages of the nearest sentences to the candidates: the dense score is 0.7 best-sentence cosine, so a passage
lifted by one strong sentence must be found even when its own vector is far from the question.

The sample corpus is built with ``ANN_MIN_ROWS`` lowered to 0 and the passage-graph pool shrunk to one passage,
so that what is found beyond it can only come from the sentence index.
"""

from __future__ import annotations

import numpy as np
from conftest import SAMPLE_POSTS, post_with_most_passages

from tripsearch import Index
from tripsearch.search import candidates
from tripsearch.search.filters import Filters
from tripsearch.store import ann


def _hits(idx: Index, k: int, mode: str, vector: np.ndarray, filters: Filters | None = None) -> list:
    return [scored.hit for scored in idx.scored_passages("a question", k, filters, mode, vector)]


def _lifted_by_a_sentence(idx: Index) -> tuple[int, np.ndarray]:
    """(a passage row, one of its sentence vectors) such that, asked with that sentence's vector, the passage
    is the exact dense winner but not the passage graph's nearest passage."""
    store = idx._opened.store
    matrix = store.matrix
    vectors = np.asarray(store.vectors)
    sentences = np.asarray(matrix.vectors)
    for sentence in range(len(sentences)):
        row = int(np.searchsorted(matrix.starts, sentence, side="right") - 1)
        query = sentences[sentence]
        exact = _exact_dense(vectors, matrix, sentences, query)
        if int(np.argmax(exact)) == row and int(np.argmax(vectors @ query)) != row:
            return row, query
    raise AssertionError("the sample has no passage won by one sentence alone")


def _exact_dense(vectors, matrix, sentences, query) -> np.ndarray:
    from tripsearch.search.fusion import dense_scores

    passage = vectors @ query
    return dense_scores(passage, matrix.best_per_passage(sentences @ query, passage))


def test_both_indexes_are_written_and_used_past_the_switch_over(ann_sample_index_dir, sample_index_dir):
    idx = Index.open(ann_sample_index_dir)
    assert {ann.ANN_FILE, ann.SENTENCE_ANN_FILE} <= set(idx.manifest.files)
    store = idx._opened.store
    assert store.sentence_ann is not None and store.sentence_ann.ntotal == len(store.matrix.vectors)
    small = Index.open(sample_index_dir)  # below the switch-over: neither file, the exact path
    assert ann.SENTENCE_ANN_FILE not in small.manifest.files and small._candidates() is None
    idx.close()
    small.close()


def test_a_passage_found_only_through_a_strong_sentence_is_returned(ann_sample_index_dir, monkeypatch):
    monkeypatch.setattr(candidates, "DENSE_CANDIDATES", 1)  # the passage graph gives its single nearest passage
    idx = Index.open(ann_sample_index_dir)
    row, query = _lifted_by_a_sentence(idx)
    store = idx._opened.store
    assert row not in store.dense_candidates(query, 1, None)
    want = idx.passages[row].id
    assert _hits(idx, 1, "dense", query)[0].passage_id == want

    monkeypatch.setattr(store, "sentence_ann", None)  # without the sentence source it is missed
    assert _hits(idx, 1, "dense", query)[0].passage_id != want
    idx.close()


def test_filtered_search_through_the_sentence_index_returns_k(ann_sample_index_dir, monkeypatch):
    monkeypatch.setattr(candidates, "DENSE_CANDIDATES", 1)
    monkeypatch.setattr(candidates, "EXACT_SUBSET", 0)  # through both indexes with ID selectors
    idx = Index.open(ann_sample_index_dir)
    post, count = post_with_most_passages(idx)
    k = min(5, count)
    assert k >= 3
    for query in idx.encoder.encode(["tail-based sampling", "python packaging", "kubernetes operators"]):
        hits = _hits(idx, k, "dense", query, Filters.of(post=post))
        assert len(hits) == k and all(h.path == post for h in hits)
    idx.close()


def test_segmented_store_masks_tombstones_in_the_sentence_index(tmp_path, monkeypatch):
    """A delta update links the base's sentence index and masks tombstoned rows inside its scan; the delta's
    sentences are scored exactly, so an edited passage's new sentence finds it."""
    import shutil

    from tripsearch.store.segmented_opened import SegmentedGeneration

    monkeypatch.setenv("TRIPSEARCH_SEGMENT_MIN_ROWS", "0")
    monkeypatch.setenv("TRIPSEARCH_MERGE_SHARE", "0.6")
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 0)
    monkeypatch.setattr(candidates, "DENSE_CANDIDATES", 1)
    posts = shutil.copytree(SAMPLE_POSTS, tmp_path / "posts")
    target = posts / "kubecon-eu-2024.md"
    old, new = "Edge devices ship quokka telemetry.", "The wombat pipeline was rewritten in Rust."
    target.write_text(target.read_text(encoding="utf-8") + f"\n\n## Corner\n\n{old}\n", encoding="utf-8")
    idx = Index.build(posts, tmp_path / "index")
    old_vector, new_vector = idx.encoder.encode([old, new])
    before = idx._opened.store
    assert any("quokka" in p.text for p in before.fetch(before.sentence_candidates(old_vector, 50, None)))
    target.write_text(target.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    idx.update()
    assert isinstance(idx._opened, SegmentedGeneration)
    store = idx._opened.store
    assert store.base.sentence_ann is not None and ann.SENTENCE_ANN_FILE in idx.manifest.files
    for filters in (None, Filters.of(post="kubecon-eu-2024.md")):
        found = store.sentence_candidates(old_vector, 50, None if filters is None else _mask(idx, filters))
        assert all("quokka" not in p.text for p in store.fetch(found))
        assert "wombat" in _hits(idx, 1, "dense", new_vector, filters)[0].text
    idx.close()


def _mask(idx: Index, filters: Filters) -> np.ndarray:
    return np.array([filters.accepts_post(p.post) for p in idx.passages])
