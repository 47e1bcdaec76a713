"""Search modes: one Enum and one table (``search.modes``) behind ``Index.search``, the CLI and the app."""

from __future__ import annotations

import pytest

from tripsearch.cli import main
from tripsearch.errors import BadInput
from tripsearch.search.modes import MODE_TABLE, SearchMode


def test_every_mode_has_one_rule_and_the_cli_offers_exactly_those():
    assert set(MODE_TABLE) == set(SearchMode)
    query_mode = next(p for p in main.commands["query"].params if p.name == "mode")
    assert list(query_mode.type.choices) == [m.value for m in SearchMode]
    eval_mode = next(p for p in main.commands["eval"].params if p.name == "modes")
    assert list(eval_mode.type.choices) == [*(m.value for m in SearchMode), "rerank", "all"]


@pytest.mark.parametrize("mode", list(SearchMode))
def test_a_mode_by_name_or_member_gives_the_same_hits(sample_index, mode):
    query = "how did they cut Lambda cold starts?"
    by_member = sample_index.search(query, k=4, mode=mode)
    assert by_member, mode
    assert sample_index.search(query, k=4, mode=mode.value) == by_member
    rule = mode.rule
    assert all(h.dense_rank is None for h in by_member) == (not rule.dense)
    assert all(h.keyword_rank is None for h in by_member) == (not rule.keyword)


def test_an_unknown_mode_is_bad_input_naming_the_modes(sample_index):
    with pytest.raises(BadInput, match="mode must be one of hybrid, dense, keyword, hybrid-rrf, not 'fuzzy'"):
        sample_index.search("cold starts", mode="fuzzy")
