"""Answer types: what a question asks for, and recognisers that say whether a sentence holds it."""

from __future__ import annotations

import pytest

from tripsearch.answer.answer_types import answers_type, expected_type, recognise, type_reason, type_signals


@pytest.mark.parametrize(
    "question, kind",
    [
        ("How many attendees came to the summit?", "quantity"),
        ("How long did the migration take?", "quantity"),
        ("How much did a conference ticket cost?", "money"),
        ("What was the price of the workshop?", "money"),
        ("What percentage of the traffic came from search?", "percentage"),
        ("What share of requests hit the cache?", "percentage"),
        ("When did the team switch to Postgres?", "date"),
        ("In what year was the first edition held?", "date"),
        ("Who gave the closing keynote?", "person"),
        ("Which speaker demoed the drones?", "person"),
        ("Which company moved its database to the cloud?", "organisation"),
        ("Which company moved to Aurora, and how much did it save?", "organisation"),  # the first wh-phrase wins
        ("Which talk covered the garbage collector?", "talk"),
        ("What session explained sharding?", "talk"),
        ("Why was the network so slow?", "reason"),
        ("How did they cut cold starts?", "procedure"),
        ("How should a library let callers choose a timeout?", "procedure"),
        ("What did they say about multi-account strategy?", "none"),
        ("What did the opening keynote introduce?", "none"),  # about a keynote, not asking which one
        ("Should I assume my metrics are normally distributed when analysing them?", "none"),  # "when" mid-clause
        ("When the shop runs training jobs, do they bake the data into the images?", "none"),  # a "when" clause
        ("When scaling out, how did they shard the queue?", "procedure"),
        ("When's the next edition?", "date"),
        ("", "none"),
    ],
)
def test_expected_type(question, kind):
    assert expected_type(question).kind == kind


@pytest.mark.parametrize(
    "sentence, kind, value",
    [
        ("Tickets were only $175 for early birds.", "money", "$175"),
        ("The team saved 2 million euros a year.", "money", "2 million euros"),
        ("They saw cost savings of 10–15% against Cassandra.", "percentage", "10–15%"),
        ("Latinos are projected to be 43 percent of the population.", "percentage", "43 percent"),
        ("The conference took place between August 15 and August 17.", "date", "August 15"),
        ("We met again in December 2018 in Austin.", "date", "December 2018"),
        ("About 2000 attendees and 28 technical sessions.", "quantity", "2000 attendees"),
        ("They have 70Tb of data across 25,000 files.", "quantity", "70Tb"),
        ("Median cold starts dropped to 800ms.", "quantity", "800ms"),
        ("It was over 40 °C outside all week.", "quantity", "40 °C"),
        ("Arrive 20-30 minutes before the session.", "quantity", "20-30 minutes"),
        ("Kevin Goldsmith spoke about becoming a manager.", "person", "Kevin Goldsmith"),
        ("Next, Sarah talked about two methods.", "person", "Sarah"),
        ("The closing keynote was given by Dr. Werner Vogels himself.", "person", "Werner Vogels"),
        ("Amazon Web Services is looking forward to growing communities.", "organisation", "Amazon Web Services"),
        ("The story was how StockX scaled ahead of launches.", "organisation", "StockX"),
        ("My favourite was “Scaling Prometheus with Thanos” on day two.", "talk", "Scaling Prometheus with Thanos"),
    ],
)
def test_recognisers_find_things(sentence, kind, value):
    assert any(value in found for found in recognise(sentence).values(kind)), recognise(sentence).values(kind)


@pytest.mark.parametrize(
    "sentence, kind",
    [
        ("He outlined the new features in Ruby 2.0 as follows.", "quantity"),  # a version
        ("The RFC 7234 compliant brains do caching right.", "quantity"),  # an identifier
        ("We are already on day 2 of the conference.", "quantity"),  # a label
        ("It was held in 2019, again.", "quantity"),  # a year is a date, not a count
        ("aRel supports fuzzy matching like matches('%test%').", "percentage"),
        ("He used Perl6 and go1.7 in the demo.", "quantity"),
        ("V3 also offers some integration with Fusion Tables.", "person"),  # capitalised, not a name
        ("He wanted a way to diff the changes.", "person"),
        ("The monitoring talk was excellent.", "money"),
        ("The monitoring talk was excellent.", "date"),
    ],
)
def test_recognisers_do_not_find_what_is_not_there(sentence, kind):
    assert not recognise(sentence).has(kind), recognise(sentence).values(kind)


def test_a_sentence_answers_the_type_it_holds():
    count = expected_type("How many people attended?")
    assert answers_type(count, recognise("Over 400 attendees came."))
    assert not answers_type(count, recognise("It was very crowded this year."))
    assert answers_type(expected_type("Why did it fail?"), recognise("Anything.")) is None
    talk = expected_type("Which talk covered caching?")
    assert answers_type(talk, recognise("It covered caching."), session_title="Caching at scale")
    assert not answers_type(talk, recognise("it covered caching."))


def test_type_signals_and_reason():
    question = expected_type("How many drones were there?")
    found = [recognise("The drones flew well."), recognise("They brought 30 drones for attendees.")]
    signals = type_signals(question, found)
    assert signals["t_is_quantity"] == 1.0 and signals["t_first_has"] == 0.0 and signals["t_any_has"] == 1.0
    assert signals["t_share_has"] == 0.5
    assert "none of the best sentences" in type_reason(question, found[:1])
    neutral = type_signals(expected_type("Why did it fail?"), found)
    assert neutral["t_first_has"] == 0.5 and neutral["t_is_reason"] == 1.0
