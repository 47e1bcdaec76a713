"""Ask with its signals wired in: event/year grounding, abstention on an unknown event, answer types, constraint
coverage, answer spans, the fitted confidence model, and ``ask --explain`` / ``--json``. On the sample index (the
real model, a small corpus) and on small hand-made inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from tripsearch.answer.answer_types import AnswerType
from tripsearch.answer.confidence import (
    FEATURES,
    MODEL_FILE,
    ConfidenceModel,
    Setting,
    choose_threshold,
    fit,
    rule_fired,
    shipped_model,
)
from tripsearch.answer.features import not_english
from tripsearch.answer.sentences import AnswerSettings, choose
from tripsearch.records import SentenceSpan

# ---------------------------------------------------------------- on the sample index


def test_an_event_in_a_year_no_report_covers_abstains_and_says_so(sample_index):
    answer = sample_index.ask("What did Priya Raman say at KubeCon 2019?")
    assert answer.abstained and not answer.sentences
    assert "no report covers KubeCon 2019" in answer.reason, answer.reason
    assert answer.signals["q_gap"] == 1 and answer.signals["q_names_event"] == 1
    assert any("the reports on KubeCon are from 2024" in line for line in answer.explanation)


def test_a_question_grounded_in_an_indexed_event_and_year_answers_from_that_post(sample_index):
    answer = sample_index.ask("What did they say about tail sampling at KubeCon 2024?")
    assert not answer.abstained and answer.sentences
    assert answer.sentences[0].citation.path == "kubecon-eu-2024.md"
    assert answer.signals["q_gap"] == 0 and answer.signals["r_top_in_restriction"] == 1
    assert any("the question names event “KubeCon”" in line for line in answer.explanation)


def test_an_event_no_report_names_abstains_naming_it(sample_index):
    answer = sample_index.ask("What did speakers at NordicWasm Summit 2021 say about WebAssembly?")
    assert answer.abstained
    assert "NordicWasm Summit" in answer.reason, answer.reason
    assert answer.signals["q_gap"] == 1


def test_answer_type_signals_and_explanation(sample_index):
    quantity = sample_index.ask("How many people attended GopherCon 2022?")
    assert quantity.signals["t_wants_span"] == 1 and quantity.signals["t_missing_first"] == 1
    assert any("asks for a quantity" in line for line in quantity.explanation)
    # "how much did costs go down" wants an amount; the report's "22 percent" holds one.
    saved = sample_index.ask("How much did storage costs go down with tail-based sampling at KubeCon?")
    assert saved.signals["t_wants_span"] == 1 and saved.signals["t_missing_any"] == 0
    topic = sample_index.ask("What did they say about testing?")
    assert topic.signals["t_wants_span"] == 0 and topic.signals["t_missing_any"] == 0


def test_constraint_coverage_names_what_the_answer_does_not_cover(sample_index):
    answer = sample_index.ask("What did Priya Raman say at KubeCon 2019?")
    assert answer.signals["c_uncovered_year"] == 1
    assert "the question names 2019; the post is from 2024" in answer.explanation
    covered = sample_index.ask("What did they say about tail sampling at KubeCon 2024?")
    assert covered.signals["c_uncovered_total"] == 0 and covered.signals["c_share_any"] == 1


def test_readme_examples_still_hold(sample_index):
    answered = sample_index.ask("How many steps did the TLA+ model checker need to trigger the replication bug?")
    assert not answered.abstained and "nine steps" in answered.sentences[0].text
    abstained = sample_index.ask("Which company moved from Cassandra to Aurora?")
    assert abstained.abstained and abstained.reason == "the reports never mention Cassandra, Aurora"


def test_cli_explain_and_json_carry_the_signals(sample_index_dir):
    base = [sys.executable, "-m", "tripsearch", "ask", "--index", str(sample_index_dir)]
    question = "What did Priya Raman say at KubeCon 2019?"
    out = subprocess.run(base + ["--explain", question], capture_output=True, text=True, check=True).stdout
    assert "Why this answer?" in out
    assert "abstained: no report covers KubeCon 2019" in out
    assert "q_gap=1" in out and "confidence=" in out
    plain = subprocess.run(base + [question], capture_output=True, text=True, check=True).stdout
    assert "Why this answer?" not in plain
    data = json.loads(subprocess.run(base + ["--json", question], capture_output=True, text=True, check=True).stdout)
    assert data["abstained"] and data["signals"]["q_gap"] == 1
    assert data["explanation"][0].startswith("abstained: no report covers KubeCon 2019")


# ---------------------------------------------------------------- answer spans, by hand


def _candidate(sentences: list[str], scores: list[float], paragraph_breaks=()):
    text, spans = "", []
    for i, s in enumerate(sentences):
        if i:
            text += "\n\n" if i in paragraph_breaks else " "
        spans.append(SentenceSpan(len(text), len(text) + len(s), 1, 1, 0))
        text += s
    return SimpleNamespace(passage=SimpleNamespace(text=text, sentences=spans), sentence_scores=np.array(scores))


def test_type_bonus_prefers_the_sentence_holding_what_the_question_asks_for():
    c = _candidate(["Attendance was large this year.", "About 1,200 people came to the venue."], [0.62, 0.55])
    quantity = AnswerType("quantity", "How many")
    assert choose([c], quantity, AnswerSettings(0.0, "one"))[0].first == 0
    best = choose([c], quantity, AnswerSettings(0.15, "one"))[0]
    assert (best.first, best.last) == (1, 1)
    assert choose([c], AnswerType("none"), AnswerSettings(0.15, "one"))[0].first == 0  # no span wanted: no bonus


def test_spans_take_an_adjacent_sentence_of_the_same_paragraph_only():
    c = _candidate(["They had slow cold starts.", "They fixed it with SnapStart.", "Lunch was good."], [0.7, 0.5, 0.1])
    assert [(x.first, x.last) for x in choose([c], AnswerType("none"), AnswerSettings(0, "next"))][:1] == [(0, 1)]
    assert choose([c], AnswerType("none"), AnswerSettings(0, "neighbour"))[0].last == 1
    apart = _candidate(
        ["They had slow cold starts.", "They fixed it with SnapStart."], [0.7, 0.5], paragraph_breaks={1}
    )
    first = choose([apart], AnswerType("none"), AnswerSettings(0, "next"))[0]
    assert (first.first, first.last) == (0, 0)


def test_a_never_mentioned_word_english_lacks_too_is_a_thing_the_reports_never_mention(sample_index):
    from tripsearch.answer.pipeline import draft_answer
    from tripsearch.search.filters import Filters

    # Lower case, so not a name by its shape (s_unknown_named), but no English word either.
    draft = draft_answer(sample_index, "How did they tune autovacuum for the payments database?", 5, Filters())
    assert draft.signals["s_unknown_not_english"] == 1 and draft.signals["s_unknown_named"] == 0
    assert "the reports never mention autovacuum" in draft.abstain_reasons, draft.abstain_reasons
    # An English word the reports never use is more likely a paraphrase: no signal.
    draft = draft_answer(sample_index, "Did the payments team serve goulash at the conference?", 5, Filters())
    assert draft.signals["s_unknown_any"] == 1 and draft.signals["s_unknown_not_english"] == 0


def test_a_topic_put_at_the_wrong_event_is_found_in_another_post_and_says_so(sample_index):
    from tripsearch.answer.pipeline import decide, draft_answer
    from tripsearch.search.filters import Filters

    # GopherCon 2022 has a report, but the TLA+ bug is in the Strange Loop 2018 one: the best passage comes from
    # a post outside what the question pins down.
    question = "At GopherCon 2022, how many steps did the bug the TLA+ model checker found need?"
    draft = draft_answer(sample_index, question, 5, Filters())
    assert draft.ranked[0].passage.post.path == "strangeloop-2018.md"
    assert draft.signals["r_top_outside_restriction"] == 1 and draft.signals["q_gap"] == 0
    reason = "the best passage is from “Strange Loop 2018: notes from St. Louis”, not a report of GopherCon 2022"
    assert reason in draft.abstain_reasons, draft.abstain_reasons
    model = replace(shipped_model(), rules=("outside",), threshold=0.0)
    answer = decide(draft, model)
    assert answer.abstained and answer.reason == reason
    assert "rule: the best passage is from none of the reports" in answer.explanation[0]
    # The best passage from a post the question pins down: no signal.
    draft = draft_answer(sample_index, "What did they say about tail sampling at KubeCon 2024?", 5, Filters())
    assert draft.signals["r_top_outside_restriction"] == 0 and draft.signals["r_top_in_restriction"] == 1
    assert not decide(draft, model).abstained
    # A question that pins nothing down is never "outside".
    draft = draft_answer(
        sample_index, "How did the checkout team reduce the JavaScript on their booking page?", 5, Filters()
    )
    assert draft.signals["r_top_outside_restriction"] == 0


def test_not_english_knows_english_words_and_leaves_numbers_and_cjk_alone():
    assert not_english("autovacuum") and not_english("webauthn") and not_english("pyproject.toml")
    assert not any(map(not_english, ("hauled", "pushback", "Kubernetes", "2019", "10,000", "東京", "")))


# ---------------------------------------------------------------- the confidence model


def test_shipped_model_is_plain_data_over_the_features():
    model = shipped_model()
    assert model.features == FEATURES and len(model.coef) == len(FEATURES)
    assert 0 < model.threshold < 1
    assert ConfidenceModel.from_json(MODEL_FILE.read_text(encoding="utf-8")) == model
    assert AnswerSettings.from_dict(model.answer).span in ("one", "next", "neighbour")


def test_fit_learns_the_direction_and_the_gap_rule_abstains():
    rng = np.random.default_rng(0)
    y = np.array([1] * 40 + [0] * 20)
    x = rng.normal(size=(60, len(FEATURES))) * 0.1
    x[:, FEATURES.index("s_cosine")] += np.where(y == 1, 0.7, 0.3)
    model = fit(x, y, Setting(1.0, ("gap",)), threshold=0.5)
    assert model.probability({"s_cosine": 0.75}) > 0.5 > model.probability({"s_cosine": 0.25})
    assert model.abstains({"s_cosine": 0.75, "q_gap": 1.0})
    assert ConfidenceModel.from_json(model.to_json()) == model


def test_the_unknown_rule_abstains_and_the_threshold_counts_what_rules_abstain_on():
    from tripsearch.evaluate.confidence_cv import Drafted, apply, select
    from tripsearch.evaluate.crossval import QuestionResult
    from tripsearch.evaluate.questions import Question

    assert rule_fired(("unknown",), {"s_unknown_not_english": 1.0}) == "unknown"
    assert rule_fired(("gap", "type"), {"s_unknown_not_english": 1.0}) is None
    assert rule_fired(("outside",), {"r_top_outside_restriction": 1.0}) == "outside"
    assert rule_fired(("gap", "type", "unknown"), {"r_top_outside_restriction": 1.0}) is None
    # 40 answerable: 36 clear, 2 clear that the rule abstains on (5 % of 40: the bound, used up), 2 weak;
    # 12 unanswerable: 6 the rule catches, 6 just above the weak answerable ones.
    rows = [(1, 0.8, 0)] * 36 + [(1, 0.8, 1)] * 2 + [(1, 0.35, 0)] * 2 + [(0, 0.3, 1)] * 6 + [(0, 0.4, 0)] * 6
    questions, drafted = [], {}
    for n, (answerable, cosine, unknown) in enumerate(rows):
        q = Question(f"q{n}", "?", bool(answerable), "topic", "", ((f"post{n}.md", "quote"),))
        result = QuestionResult(q.id, "topic", bool(answerable), bool(answerable), asked=True)
        questions.append(q)
        drafted[q.id] = Drafted(result, {"s_cosine": cosine, "s_unknown_not_english": float(unknown)}, False)
    model, _ = select(questions, drafted, [Setting(1.0, ("unknown",))])
    results = [apply(drafted[q.id], model) for q in questions]
    assert sum(r.abstained for r in results if not r.answerable) >= 6
    # Catching the other 6 would cost the 2 weak answerable ones: over the bound once the rule's 2 count.
    assert sum(r.abstained for r in results if r.answerable) <= 2


def test_threshold_catches_most_unanswerable_within_the_bound_on_answerable():
    p = np.array([0.9] * 38 + [0.2, 0.1] + [0.15] * 10 + [0.8] * 2)
    y = np.array([1] * 40 + [0] * 12)
    t, share = choose_threshold(p, y, np.zeros(len(p), dtype=bool))
    abstain = p < t
    # Abstaining below 0.85 loses 2 of 40 answerable (5 %, the bound) and catches all 12 unanswerable.
    assert 0.8 < t < 0.9 and abstain[y == 1].sum() == 2 and share == pytest.approx(1.0)
    t, share = choose_threshold(p[2:], y[2:], np.zeros(len(p) - 2, dtype=bool))  # 38 answerable: 1 may be lost
    assert 0.15 < t <= 0.2 and share == pytest.approx(10 / 12)


# ---------------------------------------------------------------- real corpus: cross-validated floors


def cv_figures(index):
    """The cross-validated ask figures on dev.jsonl + dev2.jsonl (5 folds grouped by post), with the project's own
    training questions (benchmarks/data/) in every training fold but for those about a held-out post."""
    from conftest import DEV_QUESTIONS, ROOT, SHARED

    from tripsearch.evaluate import load_question_files
    from tripsearch.evaluate.confidence_cv import cross_validate_confidence, draft_questions
    from tripsearch.evaluate.folds import folds

    questions = load_question_files([DEV_QUESTIONS, DEV_QUESTIONS.with_name("dev2.jsonl")])
    extra = load_question_files(
        [ROOT / "benchmarks" / "data" / "train_questions.jsonl"], SHARED / "corpus" / "trip-reports"
    )
    drafted = draft_questions(index, [*questions, *extra])
    return cross_validate_confidence(folds(questions, 5), drafted, extra=extra).pooled()


# Floors a little below what was reached. 1 Dec 2026, without training questions: ask hit@1 0.820, sentence right
# 0.663, abstained on 24/33 unanswerable and 4/89 answerable (pooled over the held-out folds). With the 363
# training questions of benchmarks/data/: ask hit@1 0.831, sentence right 0.685, 26/33 and 2/89. Below the floors
# is a regression.
FLOORS = {"ask_hit1": 0.8, "sentence_right": 0.64, "abstain_unanswerable": 0.72}
CEILING_ABSTAIN_ANSWERABLE = 0.06


def test_cross_validated_ask_figures_stay_above_floors(real_index):
    figures = cv_figures(real_index)
    for name, floor in FLOORS.items():
        assert getattr(figures, name) >= floor, (name, figures)
    assert figures.abstain_answerable <= CEILING_ABSTAIN_ANSWERABLE, figures
