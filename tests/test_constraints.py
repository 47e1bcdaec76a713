"""Constraint coverage: each thing a question names, checked against an answer sentence, its passage, its post."""

from __future__ import annotations

import datetime as dt

import pytest

from tripsearch.answer.answer_types import expected_type
from tripsearch.answer.constraints import Evidence, check_coverage, question_names, question_numbers
from tripsearch.answer.understand import Understander
from tripsearch.answer.vocabulary import IndexMetadata, SessionRef
from tripsearch.records import PostMeta

KUBECON_2023 = PostMeta(
    path="kubecon-2023.md", title="KubeCon Europe 2023 recap", date=dt.date(2023, 4, 21), tags=("kubecon",)
)
KUBECON_2019 = PostMeta(
    path="kubecon-2019.md", title="KubeCon Barcelona 2019", date=dt.date(2019, 5, 23), tags=("kubecon",)
)
SEO = PostMeta(path="pubcon.md", title="PubCon Vegas 2009 Day 2", date=dt.date(2009, 11, 12), authors=("Steph S",))
SESSIONS = (SessionRef("kubecon-2023.md", ("Policy as code with OPA",)),)


@pytest.fixture(scope="module")
def understander():
    return Understander.from_metadata(IndexMetadata((KUBECON_2023, KUBECON_2019, SEO), SESSIONS))


def evidence(sentence, post, passage=None, heading=("Policy as code with OPA",)):
    return Evidence(sentence, passage or sentence, heading, post)


def by_kind(coverage, kind):
    return [c for c in coverage.checks if c.kind == kind]


def test_a_year_the_post_is_not_from_is_uncovered_and_says_so(understander):
    u = understander.understand("What did KubeCon 2019 speakers say about policy engines?")
    cov = check_coverage(u, evidence("Gatekeeper enforces policies at admission.", KUBECON_2023))
    (year,) = by_kind(cov, "year")
    assert year.where is None
    assert "the question names 2019; the post is from 2023" in cov.reasons()
    assert cov.signals()["c_uncovered_year"] == 1.0
    right = check_coverage(u, evidence("Gatekeeper enforces policies at admission.", KUBECON_2019))
    assert by_kind(right, "year")[0].where == "post" and right.signals()["c_uncovered_year"] == 0.0


def test_the_event_is_covered_by_the_post_or_by_the_text(understander):
    u = understander.understand("What did KubeCon speakers say about policy engines?")
    on_post = check_coverage(u, evidence("Gatekeeper enforces policies.", KUBECON_2023))
    assert by_kind(on_post, "event")[0].where == "post"
    in_text = check_coverage(u, evidence("At KubeCon they praised Gatekeeper.", SEO, heading=()))
    assert by_kind(in_text, "event")[0].where == "sentence"
    nowhere = check_coverage(u, evidence("Keywords matter.", SEO, heading=()))
    (event,) = by_kind(nowhere, "event")
    assert event.where is None and "PubCon Vegas 2009 Day 2" in event.detail


def test_a_named_tool_is_checked_in_sentence_passage_and_post(understander):
    u = understander.understand("What did speakers recommend for enforcing cluster policies with Kyverno?")
    assert question_names(u) == ["Kyverno"]
    missing = check_coverage(u, evidence("Gatekeeper enforces policies at admission.", KUBECON_2023))
    (name,) = by_kind(missing, "name")
    assert name.where is None and missing.signals()["c_uncovered_name"] == 1.0
    assert any("Kyverno" in line for line in missing.reasons())
    passage = "Gatekeeper enforces policies at admission. Kyverno is the alternative."
    found = check_coverage(u, evidence("Gatekeeper enforces policies at admission.", KUBECON_2023, passage))
    assert by_kind(found, "name")[0].where == "passage"
    assert found.signals()["c_share_passage"] > missing.signals()["c_share_passage"]


def test_names_are_read_whole_and_found_by_their_parts(understander):
    u = understander.understand("Did anyone compare Argo CD with a CouchDB-style sync for the UI?")
    assert question_names(u) == ["Argo CD", "CouchDB-style"]  # "UI" alone is too weak to check
    passage = "Argo CD syncs clusters. CouchDB replicates."
    cov = check_coverage(u, evidence("Argo CD syncs clusters.", KUBECON_2023, passage))
    assert [c.where for c in by_kind(cov, "name")] == ["sentence", "passage"]
    person = understander.understand("What did Armin Ronacher say about WSGI?")
    introduced = check_coverage(person, evidence("Armin thinks WSGI is broken.", KUBECON_2023))
    assert by_kind(introduced, "person")[0].where == "sentence"


def test_numbers_in_the_question_must_reappear(understander):
    u = understander.understand("What share of traffic did the top 10,000 search terms bring at PubCon Vegas 2009?")
    assert question_numbers(u.question) == ["10000"]
    assert question_numbers("Is Ruby 2.0 faster than Ruby 1.9 for 300 users?") == ["300"]  # versions are names
    cov = check_coverage(u, evidence("The top 10,000 terms drove 18% of all search traffic.", SEO, heading=()))
    assert by_kind(cov, "number")[0].where == "sentence"
    assert by_kind(cov, "year")[0].where == "post" and by_kind(cov, "event")[0].where == "post"
    other = check_coverage(u, evidence("The long tail drives most traffic.", SEO, heading=()))
    assert by_kind(other, "number")[0].where is None


def test_the_answer_type_is_a_constraint_too(understander):
    question = "How many attendees came to KubeCon 2019?"
    u = understander.understand(question)
    kind = expected_type(question)
    without = check_coverage(u, evidence("It was very crowded.", KUBECON_2019), kind)
    (check,) = by_kind(without, "answer-type")
    assert check.where is None and without.signals()["c_uncovered_answer_type"] == 1.0
    assert "the question asks for quantity; the passage holds no quantity" in without.reasons()
    with_number = check_coverage(u, evidence("Over 7,700 attendees came.", KUBECON_2019), kind)
    assert by_kind(with_number, "answer-type")[0].where == "sentence"


def test_a_talk_named_by_its_title_is_covered_by_its_heading(understander):
    u = understander.understand("What was the Policy as code with OPA talk about?")
    assert u.of_kind("session")
    inside = check_coverage(u, evidence("They showed Rego.", KUBECON_2023))
    assert by_kind(inside, "session")[0].where in ("passage", "sentence")
    elsewhere = check_coverage(u, evidence("They showed Rego.", KUBECON_2019, heading=("Keynotes",)))
    (session,) = by_kind(elsewhere, "session")
    assert session.where is None and "Keynotes" in session.detail


def test_no_constraints_means_full_coverage(understander):
    u = understander.understand("what did they say about multi-account strategy")
    cov = check_coverage(u, evidence("Use many accounts.", SEO, heading=()))
    assert cov.checks == () and cov.signals()["c_share_any"] == 1.0 and cov.reasons() == []
