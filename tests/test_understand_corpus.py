"""Query understanding built from the real corpus's metadata: generic properties that must hold for any corpus.
Skipped when ../shared is absent."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tripsearch.answer.understand import Understander
from tripsearch.answer.vocabulary import REPORT_WORDS, IndexMetadata, squash


@pytest.fixture(scope="module")
def understander(real_passages):
    passages = [p for ps in real_passages.values() for p in ps]
    return Understander.from_metadata(IndexMetadata.from_passages(passages))


@pytest.fixture(scope="module")
def posts(understander):
    return list(understander.vocabulary.post_by_path.values())


def test_every_post_asked_about_by_its_own_title_grounds_to_it(understander, posts):
    wrong = []
    for meta in posts:
        u = understander.understand(f"What did they say at {meta.title}?")
        restriction = u.restriction()
        hard = [g.reason for g in u.gaps if not g.soft]
        if (restriction is not None and meta.path not in restriction) or hard:
            wrong.append((meta.path, meta.title, hard))
    assert not wrong, wrong[:10]


def test_every_post_year_is_known(understander, posts):
    years = Counter(m.date.year for m in posts if m.date)
    for year in years:
        u = understander.understand(f"What happened at conferences in {year}?")
        (mention,) = u.of_kind("year")
        assert not u.gaps
        assert {m.path for m in posts if m.date and m.date.year == year} <= mention.posts


def test_every_author_grounds_to_their_posts(understander, posts):
    for meta in posts:
        for author in meta.authors:
            if len(author.split()) < 2 or not re.fullmatch(r"[A-Z][\w'’-]+( [A-Z][\w'’-]+){1,2}", author):
                continue  # handles and one-word names are not asked for by name
            u = understander.understand(f"What did {author} write about the talks?")
            assert any(meta.path in m.posts for m in u.of_kind("author")), (author, u.mentions)


def test_events_are_names_not_topics_or_report_words(understander, posts):
    events = understander.vocabulary.events
    assert len(events) >= 50  # the corpus reports on dozens of events
    assert not set(REPORT_WORDS) & set(events)
    # A tag that many posts carry but few titles say is a topic, not an event.
    tagged = Counter(squash(t) for m in posts for t in m.tags)
    for tag, n in tagged.items():
        titled = sum(tag in understander.vocabulary.title_phrases.get(tag, ()) or False for _ in [0])
        share = len(understander.vocabulary.title_phrases.get(tag, set())) / n
        if n >= 10 and share < 0.3:
            assert tag not in events, (tag, n, share, titled)


def test_a_year_no_post_covers_for_a_known_event_is_a_gap(understander, posts):
    # For every event with years on record, a year well outside them is a gap; a year on record is not.
    checked = 0
    for key, event in understander.vocabulary.events.items():
        if not event.evidence & {"noun", "year"} or len(event.posts) < 2:
            continue
        form = sorted(event.forms, key=len)[-1]
        years = understander.vocabulary.years_of(event.posts)
        absent = max(years) + 3
        u = understander.understand(f"What did speakers say at {form} {absent}?")
        if not any(e.key == key for e in u.of_kind("event")):
            continue  # a form that reads as another name first (longest match)
        assert any(g.kind == "event-year" for g in u.gaps), (form, absent, u.reasons())
        present = understander.understand(f"What did speakers say at {form} {min(years)}?")
        assert not [g for g in present.gaps if g.kind == "event-year"], (form, present.reasons())
        checked += 1
    assert checked >= 10
