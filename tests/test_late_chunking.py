"""Passage and sentence vectors (tripsearch.embed.late), with the real model's ONNX export.

The build's default (TWO_PASS) must reproduce embedding each passage and each sentence on its own. For late
chunking (METHOD, one pass over each passage), what is measured against what:
* a passage that fits the window gets exactly the vector of embedding its text on its own (cosine > 0.9999);
* each sentence is pooled over exactly the tokens the tokenizer gives that sentence alone (the context prefix
  and the specials belong to no sentence);
* a late-chunked sentence vector is not the separately embedded sentence's vector (it carries its passage's
  context): on the sample corpus the cosine between the two is 0.67 on average (measured), and within a
  passage the late vector of a sentence is closest to its own separate vector for most sentences;
* a passage longer than the window loses no sentence: each piece fits the window and every sentence has a
  vector.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE_POSTS
from reliability_support import fast_encoder  # noqa: F401  (fixture)

from tripsearch.embed.late import METHOD, TWO_PASS, PassageInput, _pieces, plan_windows


@pytest.fixture(scope="module")
def encoder(fast_encoder):
    """The default model's ONNX encoder (reliability_support exports it once per session)."""
    return fast_encoder


@pytest.fixture(scope="module")
def passages():
    from tripsearch.passages import split_post
    from tripsearch.posts import read_folder

    return [p for post in read_folder(SAMPLE_POSTS).posts for p in split_post(post)]


@pytest.fixture(scope="module")
def embedded(encoder, passages):
    vectors, sentences, method = encoder.embed_passages([PassageInput.of(p) for p in passages], method=METHOD)
    assert method == METHOD
    return vectors, sentences


def test_two_pass_gives_exactly_the_separately_embedded_vectors(encoder, passages):
    """The build's default: the same vectors as embedding each passage and each sentence on its own, made in
    shared token-sized batches."""
    vectors, blocks, method = encoder.embed_passages([PassageInput.of(p) for p in passages], method=TWO_PASS)
    assert method == TWO_PASS
    alone = encoder.encode([p.embedding_text() for p in passages])
    assert (vectors * alone).sum(axis=1).min() > 0.9999
    sentences = encoder.encode([p.text[s[0] : s[1]] for p in passages for s in p.sentences])
    assert (np.concatenate(blocks) * sentences).sum(axis=1).min() > 0.9999


def test_a_passage_that_fits_gets_its_usual_vector(encoder, passages, embedded):
    vectors, _ = embedded
    fits = [i for i, p in enumerate(passages) if len(encoder.runtime.tokenizer.encode(p.embedding_text()).ids) < 256]
    assert len(fits) > 20
    alone = encoder.encode([passages[i].embedding_text() for i in fits])
    cosines = (vectors[fits] * alone).sum(axis=1)
    assert cosines.min() > 0.9999, cosines.min()


def test_sentences_are_pooled_over_their_own_tokens(encoder, passages):
    tokenizer = encoder.runtime.raw_tokenizer
    items = [PassageInput.of(p) for p in passages]
    windows = plan_windows(items, tokenizer, encoder.max_seq_length)
    for n, (passage, item) in enumerate(zip(passages, items, strict=True)):
        mine = [w for w in windows if w.item == n]
        ids = np.concatenate([w.ids for w in mine])
        sid = np.concatenate([w.sentence for w in mine])
        for s, (start, end, *_) in enumerate(passage.sentences):
            alone = tokenizer.encode(passage.text[start:end], add_special_tokens=False).ids
            assert ids[sid == s].tolist() == alone, (passage.id, s)
        prefix_tokens = len(tokenizer.encode(item.text[: item.offset], add_special_tokens=False).ids)
        assert (mine[0].sentence[1 : 1 + prefix_tokens] == -1).all()  # the title › headings line is no sentence


def test_late_sentence_vectors_against_separately_embedded_ones(encoder, passages, embedded):
    _, blocks = embedded
    texts = [p.text[s[0] : s[1]] for p in passages for s in p.sentences]
    separate = encoder.encode(texts)
    late = np.concatenate(blocks)
    assert late.shape == separate.shape
    cosines = (late * separate).sum(axis=1)
    assert 0.55 < cosines.mean() < 0.9  # related, but not the same vectors: they carry their passage's context
    own, total, first = 0, 0, 0
    for block in blocks:
        k = len(block)
        if k >= 2:
            sims = block @ separate[first : first + k].T
            own += int((sims.argmax(axis=1) == np.arange(k)).sum())
            total += k
        first += k
    assert own / total > 0.8, own / total  # within its passage, a sentence still looks most like itself


def test_a_long_passage_is_cut_into_windows_and_loses_no_sentence(encoder):
    sentences = [
        f"The speaker measured p99 latency per tenant on cluster number {n}, not per cluster." for n in range(59)
    ]
    sentences.append("Dinner was at a Bavarian beer hall where nobody could hear each other over the brass band.")
    text = " ".join(sentences)  # ~1,300 tokens: five windows or so; the last sentence is unlike the others
    spans, at = [], 0
    for sentence in sentences:
        start = text.index(sentence, at)
        spans.append((start, start + len(sentence)))
        at = start + len(sentence)
    prefix = "A conference › Day two › Observability talk"
    item = PassageInput(f"{prefix}\n{text}", len(prefix) + 1, tuple(spans))
    windows = plan_windows([item], encoder.runtime.raw_tokenizer, encoder.max_seq_length)
    assert len(windows) >= 4 and all(len(w.ids) <= encoder.max_seq_length for w in windows)
    vectors, blocks, _ = encoder.embed_passages([item], method=METHOD)
    assert blocks[0].shape == (60, encoder.dim) and np.isfinite(blocks[0]).all()
    assert np.allclose(np.linalg.norm(blocks[0], axis=1), 1, atol=1e-4)
    dinner, latency = encoder.encode([sentences[-1], sentences[0]])
    late_dinner = blocks[0][-1]
    assert float(late_dinner @ dinner) > float(late_dinner @ latency) + 0.2  # the tail reached the model
    assert float(vectors[0] @ latency) > float(vectors[0] @ dinner)  # and the passage is mostly about latency


def test_pieces_cut_at_sentence_ends_and_repeat_a_short_prefix():
    sid = np.array([-1] * 3 + [0] * 50 + [1] * 50 + [2] * 50, dtype=np.int32)
    ids = np.arange(len(sid), dtype=np.int64)
    pieces = _pieces(ids, sid, prefix_len=3, room=120)
    assert [len(p) for p, _ in pieces] == [3 + 100, 3 + 50]
    assert all((s[:3] == -1).all() and (p[:3] == ids[:3]).all() for p, s in pieces)
    one_sentence = np.zeros(600, dtype=np.int32)  # longer than a window: cut inside it
    pieces = _pieces(np.arange(600), one_sentence, prefix_len=0, room=254)
    assert [len(p) for p, _ in pieces] == [254, 254, 92]
