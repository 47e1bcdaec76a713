"""The learned answer-sentence ranker (``answer.sentence_ranker``): its features, its listwise fit, its use by the
answer stage (``AnswerSettings.ranker``) and the shipped weights. Small hand-made passages (the scores a real
index would give are set by hand: a deterministic stand-in for the encoder), then the sample index."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest

from tripsearch.answer.answer_types import AnswerType
from tripsearch.answer.confidence import shipped_model, shipped_settings
from tripsearch.answer.features import QuestionTerms
from tripsearch.answer.feedback import FEEDBACK_TERMS, feedback_terms
from tripsearch.answer.pipeline import draft_answer
from tripsearch.answer.sentence_ranker import (
    FEATURE_SETS,
    FEATURES,
    RANKER_FILE,
    RANKER_SETTINGS,
    RankerSetting,
    SentenceRanker,
    choose_ranked,
    fit_ranker,
    listwise_loss,
    pool_of,
    shipped_ranker,
)
from tripsearch.answer.sentences import AnswerSettings, choose
from tripsearch.records import Passage, PassagePart, PostMeta, SentenceSpan
from tripsearch.search.filters import Filters

EVENT = "Confy 2024"


def _candidate(sentences: list[str], sims: list[float], score: float = 1.0, path: str = "confy.md", sep: str = " "):
    """A passage of one talk of a post titled after ``EVENT``, its sentences' cosines ``sims`` set by hand; ``sep``
    between sentences (a line break: no two-sentence spans)."""
    text, spans = "", []
    for s in sentences:
        text += sep if text else ""
        spans.append(SentenceSpan(len(text), len(text) + len(s), 3, 3, 0))
        text += s
    meta = PostMeta(path, f"{EVENT} day one", dt.date(2024, 5, 1))
    passage = Passage(
        "p-" + path, meta, "Keynote", ("Keynote",), 0, 3, 3, text, "h", tuple(spans), (PassagePart(("Keynote",), 3, 3),)
    )
    sims = np.array(sims)
    # What pipeline._Candidate carries for the hand-set choice: cosine + 0.5 × word coverage (here: cosine only).
    return SimpleNamespace(
        hit=SimpleNamespace(path=path, score=score), passage=passage, sims=sims, sentence_scores=sims
    )


def _question(topic: str):
    """A question about ``topic`` at the event: the event's words are in the post title, the topic's only in the
    answer. The sentence naming the event has the higher cosine (as an encoder gives it), the answer the lower."""
    # Two topic words: a single one left beside the title's is taken for the question's subject (TOPIC_MIN_WORDS).
    question = f"What did they say about {topic} tuning at {EVENT}?"
    c = _candidate(
        [
            f"{EVENT} opened with a keynote in the big hall.",
            f"The speaker showed that {topic} tuning cut their latency in half.",
            "Lunch was served outside.",
        ],
        [0.62, 0.50, 0.10],
    )
    return question, [c], 1  # the right sentence


TOPICS = ["zebrafoo", "quuxbar", "flobnar", "wibblecache", "snorkdb", "plinkqueue", "grumblemesh", "twizzlerpc"]


def test_the_pool_holds_sentences_and_same_line_spans_with_their_features():
    question, cands, _ = _question("zebrafoo")
    pool = pool_of(question, AnswerType("none"), cands)
    assert [(u.first, u.last) for u in pool.units] == [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)]
    assert pool.x.shape == (5, len(FEATURES))
    topic = pool.x[:, FEATURES.index("topic_cov")]
    # The topic words are the only question words the post's title and heading lack: only units holding them cover them.
    assert topic[2] == pytest.approx(1.0) and topic[0] == 0.0 and topic[1] == pytest.approx(1.0)
    assert pool.x[0, FEATURES.index("cov")] >= pool.x[2, FEATURES.index("cov")]  # the event words: as many


def test_answer_cues_a_local_peak_the_authors_own_voice_and_words_beyond_the_question():
    question = "How did they speed up the build at Confy 2024?"
    c = _candidate(
        [
            "I finally made it to Confy 2024 and my first talk was about the build.",
            "They sped up the build by caching compiled layers across branches.",
            "Lunch was good.",
        ],
        [0.55, 0.60, 0.10],
    )
    pool = pool_of(question, AnswerType("procedure"), [c])
    single = {u.first: n for n, u in enumerate(pool.units) if u.first == u.last}

    def f(name, sentence):
        return pool.x[single[sentence], FEATURES.index(name)]

    assert f("first_person", 0) == 1.0 and f("first_person", 1) == 0.0  # "I", "my"; "They" is not the author
    # A local peak: above both neighbours (0.60 - 0.55); the first sentence sits below its only neighbour.
    assert f("peak", 1) == pytest.approx(0.05) and f("peak", 0) == pytest.approx(-0.05)
    # Words beyond the question's ("caching compiled layers across branches") against a near restatement.
    assert f("novel", 1) > f("novel", 2) > 0.0
    assert set(FEATURE_SETS["answer"]) > set(FEATURE_SETS["small"]) and set(FEATURE_SETS["answer"]) <= set(FEATURES)


def test_the_listwise_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(7)
    questions = [(rng.normal(size=(n, 4)), np.arange(n) == n - 1) for n in (3, 5, 8)]
    w = rng.normal(size=4)
    loss, grad = listwise_loss(w, questions, 0.3)
    eps = 1e-6
    numeric = [
        (listwise_loss(w + eps * e, questions, 0.3)[0] - listwise_loss(w - eps * e, questions, 0.3)[0]) / (2 * eps)
        for e in np.eye(4)
    ]
    assert grad == pytest.approx(numeric, abs=1e-6)
    # A unit scored far above the rest and right: almost nothing to lose but the penalty.
    x = np.array([[10.0], [0.0], [0.0]])
    assert listwise_loss(np.array([1.0]), [(x, np.array([True, False, False]))], 0.0)[0] == pytest.approx(0.0, abs=1e-3)


def test_a_ranker_fitted_on_some_questions_picks_the_answer_the_hand_set_scores_miss():
    pools, labels = [], []
    for topic in TOPICS[:-1]:
        question, cands, right = _question(topic)
        pool = pool_of(question, AnswerType("none"), cands)
        pools.append(pool)
        labels.append(np.array([u.first <= right <= u.last and u.last == u.first for u in pool.units]))
    ranker = fit_ranker(pools, labels, RankerSetting("small", 1.0))
    question, cands, right = _question(TOPICS[-1])  # a question it was not fitted on
    # Today's hand-set scores answer with the sentence naming the event; the ranker with the one about the topic.
    assert choose(cands, AnswerType("none"), AnswerSettings())[0].first == 0
    first = choose_ranked(pool_of(question, AnswerType("none"), cands), ranker)[0]
    assert (first.first, first.last) == (right, right)
    assert SentenceRanker.from_json(ranker.to_json()) == ranker
    assert ranker.features == FEATURE_SETS["small"]


def test_the_answer_stage_answers_with_the_rankers_choice(sample_index):
    question = "How did they cut Lambda cold starts?"
    plain = draft_answer(sample_index, question, 5, Filters(), settings=AnswerSettings())
    # A ranker that prefers the sentence least like the question: the answer stage must follow it.
    contrary = SentenceRanker(("cos",), (0.0,), (1.0,), (-1.0,), setting="contrary")
    ranked = draft_answer(sample_index, question, 5, Filters(), settings=AnswerSettings(ranker=contrary))
    assert ranked.sentences[0].text != plain.sentences[0].text
    assert any(line.startswith("answer sentence chosen by the sentence ranker (contrary)") for line in ranked.notes)
    # The confidence signals do not move with how the answer is chosen.
    assert ranked.signals == plain.signals


def test_the_shipped_ranker_is_plain_data_the_shipped_settings_load():
    if not shipped_model().answer.get("ranker"):
        pytest.skip("confidence.json ships the hand-set answer settings")
    ranker = shipped_ranker()
    assert set(ranker.features) <= set(FEATURES) and len(ranker.coef) == len(ranker.features)
    assert SentenceRanker.from_json(RANKER_FILE.read_text(encoding="utf-8")) == ranker
    assert shipped_settings().ranker == ranker


def test_ask_explains_the_rankers_choice(sample_index):
    if not shipped_model().answer.get("ranker"):
        pytest.skip("confidence.json ships the hand-set answer settings")
    answer = sample_index.ask("How bad were the Lambda cold starts on the payments checkout API?")
    assert not answer.abstained
    assert any("sentence ranker" in line for line in answer.explanation), answer.explanation


def test_cross_validation_takes_the_ranker_only_when_it_wins_out_of_fold_and_it_changes_only_sentence_right():
    from tripsearch.evaluate.confidence_cv import Drafted, choose_answer, with_ranker
    from tripsearch.evaluate.crossval import QuestionResult
    from tripsearch.evaluate.questions import Question

    questions, drafted = [], {}
    for n, topic in enumerate(TOPICS):
        question, cands, right = _question(topic)
        q = Question(f"q{n}", question, True, "topic", "", ((f"post{n}.md", "quote"),))  # one post each: 8 groups
        pool = pool_of(question, AnswerType("none"), cands)
        labels = np.array([u.first == u.last == right for u in pool.units])
        # As drafted by the hand-set choice: the top passage holds the evidence, the first sentence is wrong.
        result = QuestionResult(q.id, "topic", True, True, 1, 20.0, asked=True, ask_hit=True, sentence_right=False)
        questions.append(q)
        drafted[q.id] = Drafted(result, {"s_cosine": 0.6}, False, pool, labels)
    name, ranker_setting = choose_answer(questions, {"type+0 span=one": drafted})
    assert name == "type+0 span=one" and ranker_setting is not None
    # Every unit wrong: nothing to learn, and the hand-set setting (ties go to it) stays.
    none_right = {i: Drafted(d.result, d.signals, d.fixed, d.pool, d.labels & False) for i, d in drafted.items()}
    assert choose_answer(questions, {"type+0 span=one": none_right}) == ("type+0 span=one", None)
    ranker = fit_ranker([d.pool for d in drafted.values()], [d.labels for d in drafted.values()], ranker_setting)
    after = with_ranker(drafted["q0"], ranker)
    assert after.result.sentence_right and after.result.ask_hit and after.signals == drafted["q0"].signals


def test_one_topic_word_is_the_subject_not_the_topic():
    # "How did the payments company cut Lambda cold starts?" under the talk "Cutting Lambda cold starts in a
    # payments API" leaves only "company": the sentence introducing the company is not the answer.
    question, cands, _ = _question("zebrafoo")
    question = question.replace(" tuning", "")
    pool = pool_of(question, AnswerType("none"), cands)
    assert not pool.x[:, FEATURES.index("topic_cov")].any()


def _feedback_question():
    """A question whose candidates share a topic vocabulary the question lacks ("snorkdb", "plinkqueue",
    "replicas"): the answer names it, a restatement of the question (on a line of its own: no span of both) names
    none of it, and has the higher cosine (as an encoder gives one that echoes the question)."""
    question = "How did the team migrate their database at Confy 2024?"
    first = _candidate(
        [
            "The team did migrate their database during the afternoon keynote session.",
            "The team did migrate their database to snorkdb replicas behind plinkqueue.",
        ],
        [0.62, 0.58],
        score=3.0,
        sep="\n",
    )
    support = [
        "Snorkdb replicas took the writes while plinkqueue buffered them.",
        "The snorkdb replicas synced through plinkqueue overnight.",
        "Plinkqueue fed snorkdb replicas in batches.",
    ]
    return question, [first, *(_candidate([s], [0.4], 2.0, f"s{n}.md") for n, s in enumerate(support))]


def test_feedback_terms_reward_a_unit_holding_the_topics_vocabulary_over_a_restatement():
    question, cands = _feedback_question()
    terms = feedback_terms(QuestionTerms(question).terms, [(c.hit.score, c.passage.text) for c in cands])
    assert len(terms) == FEEDBACK_TERMS and {"snorkdb", "plinkqueu", "replica"} <= set(terms)
    assert not set(terms) & {"migrat", "databas", "team"}  # the question's own words are not feedback
    pool = pool_of(question, AnswerType("none"), cands, depth=1)
    assert [(u.first, u.last) for u in pool.units] == [(0, 0), (1, 1)]
    prf = pool.x[:, FEATURES.index("prf")]
    assert prf[1] > 0.5 > prf[0]
    # The shipped grid chooses only among feature sets holding it.
    assert all("prf" in FEATURE_SETS[s.features] for s in RANKER_SETTINGS)


def test_the_shipped_ranker_answers_with_the_topics_vocabulary_because_of_prf():
    if not shipped_model().answer.get("ranker"):
        pytest.skip("confidence.json ships the hand-set answer settings")
    ranker = shipped_ranker()
    assert "prf" in ranker.features and ranker.coef[ranker.features.index("prf")] > 0
    question, cands = _feedback_question()
    pool = pool_of(question, AnswerType("none"), cands, depth=1)
    assert ranker.best(pool) == 1  # the sentence naming snorkdb, plinkqueue and replicas
    # Without the feature's evidence (every unit 0, as if it were gone) the restatement wins.
    x = pool.x.copy()
    x[:, FEATURES.index("prf")] = 0.0
    assert ranker.best(type(pool)(pool.units, x, pool.candidates)) == 0


def test_overlapping_windows_of_one_talk_never_repeat_an_answer_sentence():
    # Two windows of one talk (two candidates of one post) share a sentence: the answers show it once.
    shared = "SnapStart brought the median cold start down to 890 ms."
    first = _candidate(["The team measured cold starts.", shared], [0.40, 0.80], score=2.0, sep="\n")
    second = _candidate([shared, "Then they dropped the DI framework."], [0.80, 0.70], score=1.5, sep="\n")
    pool = pool_of("How did they cut cold starts?", AnswerType("procedure"), [first, second])
    by_cosine = SentenceRanker(("cos",), (0.0,), (1.0,), (1.0,))
    chosen = choose_ranked(pool, by_cosine)
    spans = [(c.candidate.passage, c.first, c.last) for c in chosen]
    texts = [p.text[p.sentences[a].start : p.sentences[b].end] for p, a, b in spans]
    assert texts[0].startswith(shared)
    assert sum(shared in t for t in texts) == 1 and len(chosen) >= 2, texts


def test_windows_overlapping_by_part_of_a_span_never_repeat_its_sentence():
    # The best span of one window ends with the sentence the next window's best span starts with.
    shared = "SnapStart brought the median cold start down to 890 ms."
    first = _candidate(["The team measured cold starts.", shared], [0.90, 0.80], score=2.0)
    second = _candidate([shared, "Then they dropped the DI framework."], [0.80, 0.85], score=1.5)
    pool = pool_of("How did they cut cold starts?", AnswerType("procedure"), [first, second])
    spans_first = SentenceRanker(("cos", "span"), (0.0, 0.0), (1.0, 1.0), (1.0, 1.0))
    chosen = choose_ranked(pool, spans_first)
    spans = [(c.candidate.passage, c.first, c.last) for c in chosen]
    texts = [p.text[p.sentences[a].start : p.sentences[b].end] for p, a, b in spans]
    assert texts[0] == f"The team measured cold starts. {shared}"
    assert sum(shared in t for t in texts) == 1, texts
