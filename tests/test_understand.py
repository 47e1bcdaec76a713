"""Query understanding against an index's own metadata: events with their variants, years, authors, talks,
days and keynotes, and the gaps no indexed post covers. Small fixture metadata, no model."""

from __future__ import annotations

import datetime as dt

import pytest

from tripsearch.answer.understand import Understander
from tripsearch.answer.vocabulary import IndexMetadata, SessionRef, Vocabulary, canonical, squash
from tripsearch.records import PostMeta


def post(path, title, date, authors=(), tags=()):
    return PostMeta(path=path, title=title, date=dt.date.fromisoformat(date), authors=authors, tags=tags)


POSTS = (
    post("kubecon-eu-2024.md", "KubeCon EU 2024 recap", "2024-03-22", ("Priya Raman",), ("kubecon", "kubernetes")),
    post("kubecon-na-2023.md", "KubeCon + CloudNativeCon North America 2023", "2023-11-10", ("Tom Baker",), ("cncf",)),
    post("kubecon-cph-2018.md", "KubeCon Copenhagen 2018 - Day 2", "2018-05-03", ("Alex Trost",), ("kubecon",)),
    post("reinvent-2023-day-1.md", "re:Invent 2023 Day 1", "2023-11-28", ("Sam Lee",), ("aws", "reinvent")),
    post("reinvent-2023-day-2.md", "AWS re:Invent 2023 — Day 2", "2023-11-29", ("Sam Lee",), ("aws",)),
    post(
        "coalesce-2022.md", "Coalesce 2022 - The Analytics Engineering Conference (A Recap)", "2022-10-31", ("Pooja K",)
    ),
    post("mwrc-2010.md", "MountainWest RubyConf 2010 — Notes", "2010-03-16", ("Steph S",), ("ruby", "conference")),
    post("mwrc-2012.md", "MWRC Highlights Part 1 of 2", "2012-03-22", ("Brian G",), ("ruby", "conference")),
    post("rust-tips.md", "Rust tips for beginners", "2021-01-01", ("Priya Raman",), ("rust",)),
    post("kafka-intro.md", "Kafka, Spark and Avro - Part 1", "2016-03-15", (), ("kafka", "big-data")),
    post("kafka-rewind.md", "Rewinding Kafka consumer offsets", "2017-01-31", (), ("kafka",)),
    # An event report whose title says a topic it is tagged with: the tag names the topic, not the event.
    post("kcd-2022.md", "Kubernetes Community Days Oslo 2022 - Day 1", "2022-05-10", (), ("kubernetes",)),
    post("k8s-upgrade.md", "Upgrading our clusters", "2022-06-01", (), ("kubernetes",)),
)
SESSIONS = (
    SessionRef("kubecon-eu-2024.md", ("Day 2", "Scaling Prometheus with Thanos - Jane Doe, Acme Corp")),
    SessionRef("kubecon-eu-2024.md", ("Keynotes", "Opening keynote: The future of platforms")),
    SessionRef("reinvent-2023-day-1.md", ("Serverless at scale by Werner Vogels",)),
    SessionRef("rust-tips.md", ("Ownership",)),
)
REINVENT = {"reinvent-2023-day-1.md", "reinvent-2023-day-2.md"}
KUBECON = {"kubecon-eu-2024.md", "kubecon-na-2023.md", "kubecon-cph-2018.md"}


@pytest.fixture(scope="module")
def understander():
    return Understander.from_metadata(IndexMetadata(POSTS, SESSIONS))


def events(u):
    return u.of_kind("event")


@pytest.mark.parametrize("written", ["re:Invent", "reinvent", "re invent", "Re-Invent", "AWS re:Invent"])
def test_an_event_is_found_however_its_name_is_written(understander, written):
    u = understander.understand(f"What did they announce at {written} 2023?")
    assert [set(e.posts) for e in events(u)] == [REINVENT]
    assert u.restriction() == REINVENT
    assert not u.gaps


def test_a_series_and_its_qualifier_are_read_apart(understander):
    u = understander.understand("What was said about platforms at KubeCon EU 2024?")
    (event,) = events(u)
    assert event.key == "kubecon" and set(event.posts) == KUBECON
    (qualifier,) = u.of_kind("qualifier")
    assert qualifier.text == "EU" and set(qualifier.posts) == {"kubecon-eu-2024.md"}
    assert u.restriction() == {"kubecon-eu-2024.md"}
    # "Europe" is the same region as "EU": generic geography, not an event list.
    europe = understander.understand("What was said at KubeCon Europe 2024?")
    assert set(europe.of_kind("qualifier")[0].posts) == {"kubecon-eu-2024.md"}


def test_a_city_in_a_title_names_the_event(understander):
    u = understander.understand("Which talks stood out at KubeCon Copenhagen?")
    assert set(events(u)[0].posts) == KUBECON
    assert set(u.of_kind("qualifier")[0].posts) == {"kubecon-cph-2018.md"}


def test_an_event_in_a_year_no_report_covers_is_a_gap(understander):
    u = understander.understand("What did speakers say about dbt at Coalesce 2021?")
    (gap,) = u.gaps
    assert gap.kind == "event-year" and not gap.soft
    assert "Coalesce 2021" in gap.reason and "2022" in gap.reason
    assert u.restriction() == frozenset()
    assert u.signals()["q_gap_year"] == 1.0 and u.signals()["q_restricted_empty"] == 1.0


def test_an_event_no_report_names_is_a_gap(understander):
    u = understander.understand("What was announced at HashiConf 2023?")
    assert [g.kind for g in u.gaps] == ["event"]
    assert "HashiConf" in u.gaps[0].reason
    assert u.signals()["q_gap_event"] == 1.0


def test_an_event_named_in_no_title_is_a_gap_though_its_words_occur(understander):
    # "Kafka" is in titles, but no event's name has it: "Kafka Summit" is an event the index does not have.
    u = understander.understand("What did they announce at Kafka Summit 2023?")
    assert [(g.kind, g.soft) for g in u.gaps] == [("event", False)]
    # With the index's text at hand, a name the text has (in passing) is a soft gap.
    text = {"kafka", "summit"}
    with_text = Understander(understander.vocabulary, lambda words: [w for w in words if w.lower() not in text])
    assert [(g.kind, g.soft) for g in with_text.understand("What did they announce at Kafka Summit 2023?").gaps] == [
        ("event", True)
    ]
    described = understander.understand("What did speakers at a Rust conference recommend?")
    assert [(g.kind, g.soft) for g in described.gaps] == [("event", True)]  # "a Rust conference" describes


def test_constraints_that_no_post_meets_together_are_a_gap(understander):
    u = understander.understand("What did Priya Raman write about re:Invent 2023?")
    assert u.restriction() == frozenset()
    (gap,) = u.gaps
    assert gap.kind == "combination" and "Priya Raman" in gap.reason and not gap.soft
    assert u.signals()["q_gap_combination"] == 1.0


def test_an_event_shaped_phrase_with_known_words_is_not_a_gap(understander):
    # "Analytics Engineering" is in a title: the question describes a known event, it does not invent one.
    u = understander.understand("What happened at the Analytics Engineering Conference?")
    assert not u.gaps
    assert "coalesce-2022.md" in set().union(*(e.posts for e in events(u)))


def test_an_event_written_as_a_description_does_not_restrict(understander):
    # "the analytics engineering conference" (lower case) describes; "Coalesce 2022" names.
    u = understander.understand("How many people came to the 2022 analytics engineering conference?")
    (event,) = events(u)
    assert not event.firm and u.signals()["q_event_not_firm"] == 1.0
    assert "coalesce-2022.md" in u.restriction()  # restricted by the year alone
    assert not [g for g in u.gaps if not g.soft]


def test_a_year_no_report_is_from_is_a_gap(understander):
    u = understander.understand("What did people say about Kubernetes in 1995?")
    assert [g.kind for g in u.gaps] == ["year"]


@pytest.mark.parametrize(
    "question",
    [
        "How do I rewind Kafka consumer offsets?",  # a tag and a title word, but a topic: not an event
        "What are good Rust tips?",
        "What did Priya think of the hallway track?",
        "Is Spark faster than Avro?",
    ],
)
def test_a_capitalised_word_is_not_an_event(understander, question):
    u = understander.understand(question)
    assert events(u) == []
    assert not [g for g in u.gaps if g.kind in ("event", "event-year")]


def test_initials_used_in_titles_join_the_event(understander):
    # "MWRC" is written in a 2012 title; it is the initials of "MountainWest RubyConf": known from data.
    u = understander.understand("Which book was recommended at MountainWest RubyConf 2012?")
    assert not u.gaps
    assert u.restriction() == {"mwrc-2012.md"}
    assert "mwrc-2012.md" in understander.understand("What did MWRC speakers say?").of_kind("event")[0].posts


def test_conference_and_conf_are_one_name():
    assert canonical(squash("Mountain West Ruby Conference")) == canonical(squash("MountainWest RubyConf"))


def test_authors_ground_and_an_unknown_author_is_a_gap(understander):
    u = understander.understand("What did Priya Raman write about KubeCon?")
    (author,) = u.of_kind("author")
    assert set(author.posts) == {"kubecon-eu-2024.md", "rust-tips.md"}
    assert u.restriction() == {"kubecon-eu-2024.md"}
    missing = understander.understand("What does the report by John Smith say about KubeCon?")
    assert [g.kind for g in missing.gaps] == ["author"]


def test_day_and_keynote_references(understander):
    u = understander.understand("What was announced on day 2 of re:Invent 2023?")
    (day,) = u.of_kind("day")
    assert "reinvent-2023-day-2.md" in day.posts and "reinvent-2023-day-1.md" not in day.posts
    assert {r.heading_path[0] for r in day.sessions} == {"Day 2"}
    k = understander.understand("What did the opening keynote at KubeCon EU 2024 cover?")
    (keynote,) = k.of_kind("keynote")
    assert [r.title for r in keynote.sessions] == ["Opening keynote: The future of platforms"]


def test_speakers_and_talk_titles_named_in_headings(understander):
    u = understander.understand("What did Werner Vogels say about serverless?")
    (speaker,) = u.of_kind("speaker")
    assert [r.post_path for r in speaker.sessions] == ["reinvent-2023-day-1.md"]
    t = understander.understand("What was the scaling Prometheus with Thanos talk about?")
    (session,) = t.of_kind("session")
    assert session.sessions[0].title.startswith("Scaling Prometheus with Thanos") and session.score >= 0.75
    unknown = understander.understand("What did Kelsey Hightower demo?")
    assert [(m.kind, m.evidence) for m in unknown.mentions] == [("person", ("given-name",))]
    assert unknown.signals()["q_names_unknown_person"] == 1.0
    shaped = understander.understand("How did they keep supporting Internet Explorer?")
    assert shaped.signals()["q_names_unknown_person"] == 0.0 and shaped.signals()["q_names_unknown_name"] == 1.0


def test_signals_are_flat_floats_and_reasons_are_readable(understander):
    u = understander.understand("What did they say at Coalesce 2021?")
    signals = u.signals()
    assert all(isinstance(v, float) for v in signals.values())
    assert signals["q_names_event"] == 1.0 and signals["q_names_year"] == 1.0
    assert any("no report covers Coalesce 2021" in line for line in u.reasons())
    empty = understander.understand("")
    assert empty.mentions == () and empty.gaps == () and empty.restriction() is None


def test_tags_that_are_topics_do_not_make_events():
    vocab = Vocabulary.build(IndexMetadata(POSTS, SESSIONS))
    assert {"kubecon", "reinvent", "coalesce"} <= set(vocab.events)
    assert not {"kafka", "rust", "kubernetes", "aws"} & set(vocab.events)


def test_any_text_is_read_without_error(understander):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tripsearch.answer.answer_types import expected_type, recognise
    from tripsearch.answer.constraints import Evidence, check_coverage

    words = st.sampled_from(["KubeCon", "re:Invent", "2023", "EU", "Day", "2", "by", "Sam", "Lee", "$5", "10%", "—"])
    text = st.one_of(st.text(max_size=80), st.lists(words, max_size=12).map(" ".join))

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(text)
    def check(question):
        u = understander.understand(question)
        assert all(isinstance(v, float) for v in u.signals().values())
        expected_type(question)
        recognise(question)
        check_coverage(u, Evidence(question, question, (question,), POSTS[0]), expected_type(question))

    check()
