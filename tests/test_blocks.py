"""Windows of one talk returned by a search come back as one block (search.blocks), on hand-made hits and on
the sample corpus with the real model."""

from __future__ import annotations

from tripsearch.records import Hit
from tripsearch.search.blocks import GAP, group_windows, mark_sentences, merge_windows


def _hit(pid: str, text: str, score: float, lines: tuple[int, int], highlights=()) -> Hit:
    return Hit(
        pid, text, "post.md", "Post", "Talk", ("Talk",), *lines, None, (), (), None, score, highlights=highlights
    )


# Three windows of one talk: consecutive windows share a sentence ("Second sentence.").
W0 = _hit("p0", "First sentence. Second sentence.", 0.5, (3, 6))
W1 = _hit("p1", "Second sentence. Third sentence.", 0.9, (5, 8), highlights=((17, 32),))
W2 = _hit("p2", "Fourth sentence.", 0.4, (9, 9))
OTHER = _hit("q0", "Another talk.", 0.7, (20, 21))
TALKS = {"p0": (("post.md", 0), 0), "p1": (("post.md", 0), 1), "p2": (("post.md", 0), 2), "q0": (("post.md", 3), 3)}


def test_windows_of_one_talk_become_one_block_in_post_order_without_the_repeated_sentence():
    block = merge_windows([(1, W1), (0, W0)])
    assert block.text == "First sentence. Second sentence. Third sentence."
    assert block.passage_id == "p1" and block.score == 0.9  # the best window's rank and id
    assert block.passage_ids == ("p0", "p1")
    assert (block.start_line, block.end_line) == (3, 8)
    a, b = block.highlights[0]
    assert block.text[a:b] == "Third sentence."  # highlights follow their window into the block


def test_windows_that_are_not_next_to_each_other_are_joined_with_a_gap():
    block = merge_windows([(0, W0), (2, W2)])
    assert block.text == "First sentence. Second sentence." + GAP + "Fourth sentence."


def test_group_keeps_rank_order_and_returns_k_blocks():
    ranked = [W1, OTHER, W0, W2]
    blocks = group_windows(ranked, 2, TALKS.__getitem__)
    assert [b.passage_id for b in blocks] == ["p1", "q0"]
    assert blocks[0].passage_ids == ("p0", "p1", "p2")
    one = group_windows(ranked, 1, TALKS.__getitem__)
    assert len(one) == 1 and "Fourth sentence." in one[0].text  # a returned window joins even past k
    single = group_windows([OTHER], 5, TALKS.__getitem__)[0]
    assert single.passage_ids == ("q0",) and single.text == OTHER.text


def test_mark_sentences_finds_an_answer_sentence_in_a_block():
    class Sentence:
        passage_id, text = "p2", "Fourth sentence."

    block = merge_windows([(0, W0), (2, W2)])
    a, b = mark_sentences(block, [Sentence()]).highlights[0]
    assert block.text[a:b] == "Fourth sentence."


def test_sample_search_shows_a_long_talk_once(sample_index):
    """The sample's Lambda talk is cut into several windows; a search about it returns the talk once."""
    hits = sample_index.search("How did the payments company cut Lambda cold starts?", k=5)
    talks = [(h.path, h.heading_path) for h in hits]
    assert len(talks) == len(set(talks))
    top = hits[0]
    assert top.session_title.startswith("SVC301") and len(top.passage_ids) >= 2
    for pid in top.passage_ids:
        window = sample_index.passage(pid).text
        assert window[-40:] in top.text or window[:40] in top.text
