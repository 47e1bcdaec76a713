"""Extractive answers: take the search's best passages, pick the answering sentences, or abstain.

No generative, reader or cross-encoder model can be had offline here, so the default reads the
evidence the index already holds: every sentence's vector (stored at build time), the question's
words in each sentence and in the talk's title, and the passage's rank. The passages keep the search's
order (the lexical second stage is off: see ``SENTENCE_WEIGHT``); a sentence-transformers ``CrossEncoder``
reranks them for users who have one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from tripsearch.answer.answer_types import AnswerType, expected_type, recognise, type_reason, type_signals
from tripsearch.answer.confidence import ConfidenceModel, shipped_model, shipped_settings
from tripsearch.answer.constraints import Evidence, check_coverage
from tripsearch.answer.features import QuestionTerms, named_terms, not_english, term_set
from tripsearch.answer.mentions import QuestionUnderstanding
from tripsearch.answer.sentence_ranker import choose_ranked, pool_of
from tripsearch.answer.sentences import ANSWER_PASSAGES, AnswerSettings, Chosen, choose
from tripsearch.answer.vocabulary import squash
from tripsearch.records import Answer, AnswerSentence, Citation, Hit, Passage
from tripsearch.search.blocks import group_windows
from tripsearch.search.filters import Filters
from tripsearch.search.fusion import zscore
from tripsearch.search.keyword import query_terms
from tripsearch.search.modes import SearchMode

CANDIDATES = 20  # passages the second stage looks at
# Second stage: z(fused search score) + these × evidence. Off (all 0: the search's order stands) because it no
# longer beats the first stage under CV (issue 11 item 6). 5-fold CV grouped by post over dev + dev2, confidence
# model refitted per fold (/work/tmp-main/fit_norerank.py): the weights fitted on all dev questions before,
# sentence 3 / title 1 / post 2, gave ask hit@1 0.786, half of them 0.786, none 0.808 (sentence right 0.538, 0.550,
# 0.539; abstained on unanswerable 18, 19, 19 of 33). Search grounding (search.grounding) now does what the post
# weight did. A cross-encoder (``cross_encoder_rerank``) is still a second stage when a user gives one.
SENTENCE_WEIGHT = 0.0  # the passage's best sentence cosine
TITLE_WEIGHT = 0.0  # share of the question's words in the talk's heading path
POST_WEIGHT = 0.0  # share of the question's words in the post's title, year and tags ("at KubeCon 2019")
COVERAGE_WEIGHT = 0.5  # choosing the answer sentence: cosine + this × share of the question's words in it
RULE_TEXT = {
    "gap": "the question names something no indexed report covers",
    "type": "none of the best sentences holds the kind of thing the question asks for",
    "unknown": "the question names a thing, not an English word, that no report contains",
    "outside": "the best passage is from none of the reports of what the question pins down",
}
TYPE_SENTENCES = 5  # the best sentences checked for the kind of thing the question asks for


def citation_for(
    hit: Hit, passage: Passage | None = None, sentence: int | None = None, last: int | None = None
) -> Citation:
    """Where sentence number ``sentence`` of ``passage`` (the hit's) comes from: its own lines and its own talk.

    Short talks are embedded together, so a passage can hold several; a sentence is cited to the one it
    sits in (``Passage.parts``), never to the passage's main talk. Without a sentence: the whole hit. ``last``:
    the last sentence of a span of adjacent sentences (of the same talk) starting at ``sentence``.
    """
    if passage is None or sentence is None:
        return Citation(
            hit.post_title,
            hit.session_title,
            hit.date,
            hit.path,
            hit.start_line,
            hit.end_line,
            hit.url,
            hit.heading_path,
        )
    span, part = passage.sentences[sentence], passage.part_of(sentence)
    return Citation(
        post_title=hit.post_title,
        session_title=part.session_title,
        date=hit.date,
        path=hit.path,
        start_line=span.first_line,
        end_line=passage.sentences[last].last_line if last is not None else span.last_line,
        url=hit.url,
        heading_path=part.heading_path,
    )


class _Candidate:
    """A passage under consideration, with its sentences' evidence."""

    def __init__(self, hit: Hit, passage, sims: np.ndarray, terms: QuestionTerms):
        self.hit, self.passage = hit, passage
        self.sims = sims
        self.coverages = np.array([terms.coverage(term_set(passage.text[s[0] : s[1]])) for s in passage.sentences])
        self.sentence_scores = sims + COVERAGE_WEIGHT * self.coverages if len(sims) else np.zeros(0)
        self.best_sentence = float(sims.max()) if len(sims) else 0.0
        self.title_coverage = terms.coverage(term_set(" ".join(passage.heading_path)))
        meta = passage.post
        year = str(meta.date.year) if meta.date else ""
        self.post_coverage = terms.coverage(term_set(" ".join([meta.title, year, *meta.tags])))
        self.score = 0.0


def rerank(
    candidates: list[_Candidate], restriction: frozenset[str] | None = None, restrict_bonus: float = 0.0
) -> list[_Candidate]:
    """Second stage: z(fused score) + evidence weights; ``restrict_bonus`` for a passage whose post satisfies
    every event, year and author the question names (``QuestionUnderstanding.restriction``)."""
    fused = zscore(np.array([c.hit.score for c in candidates]))
    for c, base in zip(candidates, fused):
        c.score = float(
            base + SENTENCE_WEIGHT * c.best_sentence + TITLE_WEIGHT * c.title_coverage + POST_WEIGHT * c.post_coverage
        )
        if restrict_bonus and restriction and c.passage.post.path in restriction:
            c.score += restrict_bonus
    return sorted(candidates, key=lambda c: -c.score)


def cross_encoder_rerank(candidates: list[_Candidate], question: str, model) -> list[_Candidate]:
    scores = model.predict([(question, c.passage.embedding_text()) for c in candidates])
    fused = zscore(np.array([c.hit.score for c in candidates]))
    for c, base, ce in zip(candidates, fused, zscore(np.asarray(scores, dtype=float))):
        c.score = float(base + 2.0 * ce)
    return sorted(candidates, key=lambda c: -c.score)


@dataclass
class Draft:
    """An answer before the abstention decision: the would-be answer sentences and hits, the signals the
    confidence model reads, explanation lines, and the reasons it would give for abstaining, strongest first.
    ``fixed``: a reason to abstain whatever the model says (an empty question, nothing matching the filters)."""

    question: str
    sentences: tuple[AnswerSentence, ...] = ()
    hits: tuple[Hit, ...] = ()
    signals: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    abstain_reasons: list[str] = field(default_factory=list)
    fixed: str | None = None
    # The ranked candidates and the answer type the sentences were chosen from: cross-validation refits the
    # sentence ranker per fold and re-chooses from them (``evaluate.confidence_cv``) without searching again.
    ranked: tuple = field(default=(), repr=False, compare=False)
    kind: AnswerType | None = None


def _understanding(index, question: str) -> QuestionUnderstanding:
    return index.understander.understand(question)


def draft_answer(
    index, question: str, k: int, filters: Filters, cross_encoder=None, settings: AnswerSettings | None = None
) -> Draft:
    """Everything ``answer_question`` needs before deciding to answer or abstain (see ``Draft``). ``settings``:
    how answer sentences are chosen (default: the shipped ones, ``confidence.shipped_settings``)."""
    return draft_answers(index, question, k, filters, cross_encoder, [settings or shipped_settings()])[0]


def draft_answers(
    index, question: str, k: int, filters: Filters, cross_encoder, settings_list: list[AnswerSettings]
) -> list[Draft]:
    """One ``Draft`` per answer setting, from one search and rerank (cross-validation compares settings)."""
    if not question.strip():
        return [Draft(question, fixed="the question is empty") for _ in settings_list]
    vector = index.embed_query(question)
    found = index.scored_passages(question, max(k, CANDIDATES), filters, SearchMode.HYBRID, vector)
    if not found:
        reason = "no passage matches the filters" if filters.active else "the index has no passages"
        return [Draft(question, fixed=reason) for _ in settings_list]
    terms = QuestionTerms(question)
    candidates = [_Candidate(s.hit, s.passage, s.sentence_sims, terms) for s in found]
    kind = expected_type(question)
    understanding = _understanding(index, question)
    restriction = understanding.restriction()
    drafts = []
    for settings in settings_list:  # one at a time: rerank scores the shared candidates in place
        if cross_encoder:
            ranked = cross_encoder_rerank(candidates, question, cross_encoder)
        else:
            ranked = rerank(candidates, restriction, settings.restrict_bonus)
        drafts.append(_compose(index, question, k, ranked, kind, settings, understanding))
    return drafts


def _compose(index, question: str, k: int, ranked: list[_Candidate], kind: AnswerType, settings, understanding):
    pool = None
    if settings.ranker is not None:
        pool = pool_of(question, kind, ranked, settings.ranker.depth)
        chosen = choose_ranked(pool, settings.ranker)
    else:
        chosen = choose(ranked, kind, settings)
    if not chosen:
        hits = tuple(group_windows([c.hit for c in ranked], k, index.talk_of))
        return Draft(question, hits=hits, fixed="no prose sentence in the best passages")
    sentences, marks = [], {}
    for ch in chosen:
        c = ch.candidate
        start, end = c.passage.sentences[ch.first].start, c.passage.sentences[ch.last].end
        citation = citation_for(c.hit, c.passage, ch.first, ch.last)
        sentences.append(AnswerSentence(c.passage.text[start:end], c.hit.passage_id, start, end, ch.score, citation))
        marks.setdefault(c.hit.passage_id, []).append((start, end))
    marked = [replace(c.hit, highlights=tuple(sorted(marks.get(c.hit.passage_id, ())))) for c in ranked]
    hits_out = tuple(group_windows(marked, k, index.talk_of))  # windows of one talk shown as one block
    draft = Draft(question, tuple(sentences), hits_out, ranked=tuple(ranked), kind=kind)
    # The signals come from today's choice (the best single sentence by cosine and coverage), whatever the answer
    # setting: they measure whether the reports answer the question, and must not move with how it is shown.
    today = settings.ranker is None and (settings.type_bonus, settings.span) == (0.0, "one")
    base = chosen if today else choose(ranked, kind, AnswerSettings())
    _add_signals(index, draft, ranked, base, kind, understanding)
    if pool is not None:
        scores = sorted(settings.ranker.scores(pool), reverse=True)
        draft.notes.insert(
            0,
            f"answer sentence chosen by the sentence ranker ({settings.ranker.setting}) among {len(scores)} "
            f"sentences and spans: score {scores[0]:.2f}" + (f", runner-up {scores[1]:.2f}" if len(scores) > 1 else ""),
        )
    return draft


def _add_signals(
    index, draft: Draft, ranked: list[_Candidate], chosen: list[Chosen], kind: AnswerType, understanding
) -> None:
    """The signals of ``confidence.FEATURES`` (and explanation lines) for the draft's first answer."""
    question = draft.question
    top, top_index = chosen[0].candidate, chosen[0].index
    restriction = understanding.restriction()
    # The first answer and the next best sentences: does any of them hold what the question asks for?
    texts, titles = [], []
    for ch in chosen:
        c = ch.candidate
        texts.append(c.passage.text[c.passage.sentences[ch.first].start : c.passage.sentences[ch.last].end])
        titles.append(c.passage.part_of(ch.first).session_title or "")
    extra = sorted(
        ((c, i, float(s)) for c in ranked[:ANSWER_PASSAGES] for i, s in enumerate(c.sentence_scores)),
        key=lambda item: -item[2],
    )
    for c, i, _ in extra:
        if len(texts) >= TYPE_SENTENCES:
            break
        text = c.passage.text[c.passage.sentences[i].start : c.passage.sentences[i].end]
        if not any(text in t for t in texts):
            texts.append(text)
            titles.append(c.passage.part_of(i).session_title or "")
    found = [recognise(t) for t in texts]
    # Coverage of the best sentence itself, not of its span: the signal must not change with the span setting.
    coverage = check_coverage(understanding, Evidence.from_passage(top.passage, top_index), kind)
    vocabulary = index.understander.vocabulary
    # A name only the metadata carries (an author, a title or tag word, a talk heading) is not "never mentioned".
    named_unknown = [
        w
        for w in index.unknown_words(named_terms(question))
        if not (
            (key := squash(w)) in vocabulary.authors
            or key in vocabulary.phrases
            or (len(key) >= 4 and key in vocabulary.heading_text)
        )
    ]
    content = query_terms(question)
    unknown = index.unknown_words(content)
    search = sorted((c.hit.score for c in ranked), reverse=True)
    signals = {
        "s_cosine": float(top.sims[top_index]),
        "s_coverage": float(top.coverages[top_index]),
        "s_passage_best": ranked[0].best_sentence,
        "s_title_coverage": ranked[0].title_coverage,
        "s_post_coverage": ranked[0].post_coverage,
        "s_unknown_share": len(unknown) / max(len(content), 1),
        "s_unknown_named": float(bool(named_unknown)),
        "s_unknown_any": float(bool(unknown)),
        # some word of the question no report contains is not an English word either: a thing never mentioned,
        # written in lower case ("autovacuum", "mypy"), which ``s_unknown_named`` misses
        "s_unknown_not_english": float(any(not_english(w) for w in unknown)),
        "s_rerank_margin": ranked[0].score - ranked[1].score if len(ranked) > 1 else 1.0,
        "s_search_margin": search[0] - search[1] if len(search) > 1 else 1.0,
        **understanding.signals(),
        "r_top_in_restriction": float(restriction is not None and top.passage.post.path in restriction),
        # the question pins down an event, year or author that some posts match, and the best passage comes from
        # none of them: what it finds is about another event or year (a topic put at the wrong event)
        "r_top_outside_restriction": float(bool(restriction) and ranked[0].passage.post.path not in restriction),
        "t_wants_span": float(kind.wants_span),
        **type_signals(kind, found, titles),
        **coverage.signals(),
    }
    signals["t_missing_first"] = float(kind.wants_span and not signals["t_first_has"])
    signals["t_missing_any"] = float(kind.wants_span and not signals["t_any_has"])
    signals["c_uncovered_total"] = float(len([c for c in coverage.uncovered() if c.kind != "answer-type"]))
    draft.signals = signals
    reasons = [g.reason for g in understanding.gaps if not g.soft]
    never = list(dict.fromkeys([*named_unknown, *(w for w in unknown if not_english(w))]))
    if never:
        reasons.append(f"the reports never mention {', '.join(never)}")
    if signals["r_top_outside_restriction"]:
        reasons.append(_outside_reason(understanding, ranked[0].passage))
    if kind.wants_span and not signals["t_any_has"]:
        reasons.append(type_reason(kind, found, titles))
    reasons += _coverage_reasons(coverage)
    draft.abstain_reasons = reasons
    draft.notes = _notes(understanding, kind, found, titles, coverage, unknown)


def _outside_reason(understanding, passage: Passage) -> str:
    """Why the best passage does not answer: it is from a post that is not a report of what the question pins
    down ("the best passage is from “EuroPython 2012”, not a report of EuroPython 2014")."""
    firm = [m for m in understanding.mentions if m.kind in ("event", "year", "author") and m.firm]
    named = " ".join(m.text if m.kind != "author" else f"by {m.text}" for m in firm)
    return f"the best passage is from “{passage.post.title}”, not a report of {named}"


def _notes(understanding, kind: AnswerType, found, titles, coverage, unknown) -> list[str]:
    """Explanation lines: what the question pins down, what it asks for, where the answer covers it."""
    lines = list(understanding.reasons())
    line = type_reason(kind, found, titles)
    if line:
        lines.append(line)
    covered = [f"{c.text} ({c.where})" for c in coverage.checks if c.where and c.kind != "answer-type"]
    if covered:
        lines.append("the answer covers " + ", ".join(covered))
    lines += _coverage_reasons(coverage)
    if unknown:
        lines.append(f"words no report contains: {', '.join(unknown)}")
    return lines


def _coverage_reasons(coverage) -> list[str]:
    """What the answer leaves uncovered, without the answer-type line (``type_reason`` says that better)."""
    return [r for r in coverage.reasons() if not r.startswith("the question asks for")]


def decide(draft: Draft, model: ConfidenceModel | None = None) -> Answer:
    """Answer or abstain: abstain when a hard rule of ``model`` fires or its probability is below its threshold
    (``model`` defaults to the shipped one, ``confidence.shipped_model``). The reason names what is missing."""
    if draft.fixed is not None:
        return Answer(draft.question, (), draft.hits, 0.0, True, draft.fixed, {}, (f"abstained: {draft.fixed}",))
    model = model or shipped_model()
    p = model.probability(draft.signals)
    rule = model.rule_fired(draft.signals)
    abstain = rule is not None or p < model.threshold
    signals = {**draft.signals, "confidence": p, "threshold": model.threshold}
    strongest = ", ".join(f"{name} {value:+.2f}" for name, value in model.contributions(draft.signals)[:5])
    if abstain:
        reason = (
            draft.abstain_reasons[0]
            if draft.abstain_reasons
            else f"the closest sentence is a weak match (confidence {p:.2f})"
        )
        head = f"abstained: {reason}" + (f" (rule: {RULE_TEXT[rule]})" if rule else "")
    else:
        reason = ""
        head = f"answered: confidence {p:.2f} ≥ threshold {model.threshold:.2f}"
    explanation = (
        head,
        f"confidence {p:.2f}, abstains below {model.threshold:.2f} (model {model.setting or 'custom'})",
        *draft.notes,
        f"strongest signals (share of the log-odds): {strongest}",
    )
    sentences = () if abstain else draft.sentences
    return Answer(draft.question, sentences, draft.hits, p, abstain, reason, signals, explanation)


def answer_question(
    index, question: str, k: int, filters: Filters, cross_encoder=None, model: ConfidenceModel | None = None
) -> Answer:
    """The answer to ``question`` from ``index`` (an ``Index``), with ``k`` supporting passages: ``draft_answer``
    then ``decide`` with ``model`` (default: the shipped, cross-validated one)."""
    return decide(draft_answer(index, question, k, filters, cross_encoder), model)
