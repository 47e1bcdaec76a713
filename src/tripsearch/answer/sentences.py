"""Answer sentences chosen for what the question asks (issue 11 item 7), with a short span of adjacent sentences.

The base score of a sentence is today's: its cosine to the question + ``COVERAGE_WEIGHT`` × the share of the
question's words in it, plus a prior for its passage's rank. On top of that:

- ``type_bonus``: a question that wants a kind of thing (a number, an amount, a date, a person, a company, a
  talk: ``answer_types``) prefers sentences that hold one; a which-talk question, a sentence naming a talk.
- ``span``: the first answer may be a short span of adjacent sentences of one talk — "one" (the sentence alone),
  "next" (with the sentence after it: a how-question's steps, a why-question's reason, a figure, follow the
  sentence that matches the question's topic), or "neighbour" (with whichever neighbour scores higher) — in
  one line of text (never two table rows or list items) and one talk, at most ``MAX_SPAN_WORDS`` words.

``AnswerSettings.ranker`` replaces all this with a learned ranker of sentences and spans (``sentence_ranker``).
``restrict_bonus`` (used by ``pipeline.rerank``) lifts passages from the posts matching what the question pins
down. All three are chosen by cross-validation (``evaluate.confidence_cv``, ``benchmarks/fit_confidence.py``) and shipped
in ``confidence.json`` with the confidence model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tripsearch.answer.answer_types import AnswerType, answers_type, recognise

ANSWER_PASSAGES = 3  # answer sentences come from the best few passages only
PASSAGE_PRIOR = 0.15  # per rank: measured, the reranked passage order beats sentence scores across passages
EXTRA_SENTENCE_MARGIN = 0.08  # a second or third sentence must score this close to the best
MAX_SENTENCES = 3
MAX_SPAN_WORDS = 70  # a span stays a short answer, not a paragraph
SPANS = ("one", "next", "neighbour")


@dataclass(frozen=True)
class AnswerSettings:
    """How answer sentences are chosen (see the module doc). The defaults are today's behaviour. ``ranker``: a
    fitted ``sentence_ranker.SentenceRanker`` that chooses instead of the hand-set scores (``type_bonus`` and
    ``span`` then unused); shipped as ``"ranker": true`` with its weights in ``sentence_ranker.json``."""

    type_bonus: float = 0.0
    span: str = "one"
    # Second stage: added to a passage whose post satisfies every event, year and author the question names.
    restrict_bonus: float = 0.0
    ranker: object = field(default=None, compare=False)

    @property
    def name(self) -> str:
        restrict = f" restrict+{self.restrict_bonus:g}" if self.restrict_bonus else ""
        if self.ranker is not None:
            return f"ranker {self.ranker.setting}{restrict}"
        return f"type+{self.type_bonus:g} span={self.span}{restrict}"

    def as_dict(self) -> dict:
        out = {"type_bonus": self.type_bonus, "span": self.span, "restrict_bonus": self.restrict_bonus}
        return {**out, "ranker": True} if self.ranker is not None else out

    @classmethod
    def from_dict(cls, data: dict | None) -> AnswerSettings:
        """The settings ``as_dict`` wrote, without the ranker (``confidence.shipped_settings`` loads that)."""
        data = data or {}
        span = data.get("span", "one")
        return cls(
            float(data.get("type_bonus", 0.0)), span if span in SPANS else "one", float(data.get("restrict_bonus", 0.0))
        )


@dataclass(frozen=True)
class Chosen:
    """An answer: candidate passage ``candidate``, sentences ``first``..``last`` (inclusive) of it, its score."""

    candidate: object
    first: int
    last: int
    score: float

    @property
    def index(self) -> int:  # the sentence that scored best (for signals)
        return self.first if self.best is None else self.best

    best: int | None = None


def _text(c, i: int) -> str:
    s = c.passage.sentences[i]
    return c.passage.text[s.start : s.end]


def sentence_scores(c, kind: AnswerType, settings: AnswerSettings) -> list[float]:
    """The scores of candidate ``c``'s sentences for a question wanting ``kind``."""
    scores = [float(s) for s in c.sentence_scores]
    if settings.type_bonus and kind.wants_span:
        for i in range(len(scores)):
            if answers_type(kind, recognise(_text(c, i))):
                scores[i] += settings.type_bonus
    return scores


def span_ok(c, i: int, j: int) -> bool:
    """Sentences ``i`` and ``j`` (adjacent) of candidate ``c`` may form one answer span: same talk, one line of
    text, at most ``MAX_SPAN_WORDS`` words together."""
    n = len(c.passage.sentences)
    if not 0 <= j < n or c.passage.sentences[j].part != c.passage.sentences[i].part:
        return False
    a, b = sorted((i, j))
    if "\n" in c.passage.text[c.passage.sentences[a].end : c.passage.sentences[b].start]:
        # A span stays on one line of text: a table row or a list item is a line of its own (field case
        # C15: a row's neighbour is another service's row), and a paragraph's sentences seldom break at a line.
        return False
    return len(_text(c, i).split()) + len(_text(c, j).split()) <= MAX_SPAN_WORDS


def _extend(c, i: int, scores: list[float], span: str) -> tuple[int, int]:
    """The span around sentence ``i`` of ``c`` (``span_ok``)."""

    def ok(j: int) -> bool:
        return span_ok(c, i, j)

    if span == "next" and ok(i + 1):
        return i, i + 1
    if span == "neighbour":
        options = [j for j in (i - 1, i + 1) if ok(j)]
        if options:
            j = max(options, key=lambda j: scores[j])
            return min(i, j), max(i, j)
    return i, i


def choose(candidates: list, kind: AnswerType, settings: AnswerSettings) -> list[Chosen]:
    """The answers (best first): the best sentence (with its span), then up to ``MAX_SENTENCES`` - 1 more
    sentences scoring within ``EXTRA_SENTENCE_MARGIN`` of it, from the ``ANSWER_PASSAGES`` best passages."""
    pool = []
    for rank, c in enumerate(candidates[:ANSWER_PASSAGES]):
        prior = PASSAGE_PRIOR * (ANSWER_PASSAGES - 1 - rank)  # trust the reranked order between passages
        scores = sentence_scores(c, kind, settings)
        pool.extend((c, i, s + prior, scores) for i, s in enumerate(scores))
    pool.sort(key=lambda item: -item[2])
    if not pool:
        return []
    c, i, best, scores = pool[0]
    first, last = _extend(c, i, scores, settings.span)
    out = [Chosen(c, first, last, best, i)]
    for c2, j, s, _ in pool[1:]:
        if len(out) == MAX_SENTENCES or s < best - EXTRA_SENTENCE_MARGIN:
            break
        if c2 is c and first <= j <= last:
            continue  # already in the first span
        out.append(Chosen(c2, j, j, s, j))
    return out
