"""Constraint coverage: is every thing the question pins down covered by an answer, and where?

``check_coverage(understanding, evidence)`` takes what the question names (``QuestionUnderstanding``: event,
year, author, qualifier, speaker, talk, day, keynote; plus the question's other names — "Strimzi", "Sidekiq"
— and numbers) and one candidate answer (``Evidence``: the sentence, its passage's text and headings, its
post's metadata) and says, for each constraint, the narrowest place that covers it — the sentence, the
passage (text or talk heading) or the post (title, tags, date, authors) — or that nothing does. The result is
data for the explanation ("the question names 2019; the post is from 2023") and flat signals for a fitted
confidence model. It decides nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tripsearch.answer.answer_types import AnswerType, answers_type, recognise
from tripsearch.answer.mentions import QuestionUnderstanding
from tripsearch.answer.names import person_names
from tripsearch.answer.vocabulary import YEAR_IN_TEXT, squash
from tripsearch.records import Passage, PostMeta
from tripsearch.unicode import nfc

PLACES = ("sentence", "passage", "post")  # narrowest first
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\+?(?![\w.]\d)")
_YEARLIKE = re.compile(r"^(?:19[89]\d|20[0-4]\d)$")
_COMMON_CAPITALISED = frozenset(
    """what which who whom whose when where why how is are was were did do does can could should would will
    has have had any the a an in at on of for to by from with and or but if i we you they he she it this that
    these those there here my our your their its""".split()
)


@dataclass(frozen=True)
class Evidence:
    """One candidate answer: a sentence, the passage it sits in, and that passage's post."""

    sentence: str
    passage_text: str
    heading_path: tuple[str, ...]
    post: PostMeta
    # The passage's sentences, when known: the answer-type check then recognises sentences (cached, shared by
    # the candidates of one passage) instead of the whole passage text again.
    passage_sentences: tuple[str, ...] = ()

    @classmethod
    def from_passage(cls, passage: Passage, sentence_index: int) -> Evidence:
        start, end = passage.sentences[sentence_index][:2]
        sentences = tuple(passage.text[a:b] for a, b, *_ in passage.sentences)
        return cls(passage.text[start:end], passage.text, passage.heading_path, passage.post, sentences)


@dataclass(frozen=True)
class ConstraintCheck:
    """One constraint and where it is covered: ``where`` is "sentence", "passage", "post" or None."""

    kind: str  # event, year, author, qualifier, speaker, person, session, day, keynote, name, number, answer-type
    text: str
    where: str | None
    detail: str = ""  # for an uncovered constraint, what the evidence says instead


@dataclass(frozen=True)
class Coverage:
    """The checks for one candidate answer, with signals and explanation lines."""

    checks: tuple[ConstraintCheck, ...]

    def uncovered(self) -> list[ConstraintCheck]:
        return [c for c in self.checks if c.where is None]

    def signals(self) -> dict[str, float]:
        """Flat features: shares of constraints covered at the sentence, in the passage (or sentence), anywhere;
        counts of uncovered ones by kind. ``c_total`` is log1p of the number of constraints."""
        checks = [c for c in self.checks if c.kind != "answer-type"]
        n = len(checks)

        def share(places: tuple[str, ...]) -> float:
            return sum(c.where in places for c in checks) / n if n else 1.0

        out = {
            "c_total": math.log1p(n),
            "c_share_sentence": share(("sentence",)),
            "c_share_passage": share(("sentence", "passage")),
            "c_share_any": share(PLACES),
        }
        for group, kinds in {
            "event": ("event",),
            "qualifier": ("qualifier",),
            "year": ("year",),
            "person": ("author", "speaker", "person"),
            "name": ("name",),
            "talk": ("session", "day", "keynote"),
            "number": ("number",),
            "answer_type": ("answer-type",),
        }.items():
            out[f"c_uncovered_{group}"] = float(sum(c.where is None for c in self.checks if c.kind in kinds))
        return out

    def reasons(self) -> list[str]:
        """One line per uncovered constraint ("the question names 2019; the post is from 2023")."""
        lines = []
        for c in self.uncovered():
            what = f"the question names {c.text}" if c.kind != "answer-type" else f"the question asks for {c.text}"
            lines.append(f"{what}; {c.detail}" if c.detail else what)
        return lines


def _contains(haystack_squashed: str, key: str) -> bool:
    return len(key) >= 3 and key in haystack_squashed


def _words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"[^\W_]+", nfc(text))}


def _post_text(post: PostMeta) -> str:
    return " ".join([post.title, *post.tags, *post.authors])


def _place(key: str, sentence: str, passage: str, post: str) -> str | None:
    """The narrowest place whose squashed text holds ``key`` (all arguments squashed)."""
    for place, text in zip(PLACES, (sentence, passage, post)):
        if _contains(text, key):
            return place
    return None


def _post_years(post: PostMeta) -> set[int]:
    years = {int(y) for y in YEAR_IN_TEXT.findall(" ".join([post.title, *post.tags]))}
    if post.date:
        years.add(post.date.year)
    return years


def question_names(understanding: QuestionUnderstanding) -> list[str]:
    """Names in the question not already read as an event, year, person, qualifier or talk: words with an
    inner capital or a digit, or capitalised but not opening the question ("Strimzi", "EKS", "k8s"); adjacent
    ones make one name ("Argo CD", "SQL Server"). A two-letter word alone ("OK", "UI") is too weak to check."""
    taken = " ".join(m.text for m in understanding.mentions).casefold()
    names: list[list[str]] = []
    last_end = -2
    for i, m in enumerate(re.finditer(r"[^\W_][\w.+#-]*[^\W_]|[^\W_]", understanding.question)):
        word = m.group()
        if len(word) < 2 or word.casefold() in _COMMON_CAPITALISED or word.casefold() in taken:
            continue
        if _YEARLIKE.match(word) or word.replace(".", "").replace(",", "").isdigit():
            continue
        inner = any(c.isupper() for c in word[1:])
        digit = any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
        if inner or digit or (i > 0 and word[0].isupper()):
            if names and understanding.question[last_end : m.start()] == " ":
                names[-1].append(word)
            else:
                names.append([word])
            last_end = m.end()
    out = [" ".join(n) for n in names if len(n) > 1 or len(n[0]) > 2 or any(c.isdigit() for c in n[0])]
    return list(dict.fromkeys(out))


def _name_parts(name: str) -> list[str]:
    """The parts of a name to find: its words, and the capitalised parts of a hyphenated word
    ("CouchDB-style" → "CouchDB", "maintainable-Rails" → "Rails")."""
    parts = []
    for word in name.split():
        pieces = [p for p in word.split("-") if p]
        named = [p for p in pieces if any(c.isupper() or c.isdigit() for c in p)] if len(pieces) > 1 else pieces
        parts.extend(squash(p) for p in named or pieces)
    return [p for p in parts if p]


def question_numbers(question: str) -> list[str]:
    """Numbers in the question that are not years ("10,000", "150", "2.0"), normalised without separators.
    A number right after a capitalised word is a version ("Ruby 2.0", "Explorer 6"): part of a name, left out."""
    out = []
    question = nfc(question)
    for m in _NUMBER.finditer(question):
        value = m.group(1).replace(",", "")
        if _YEARLIKE.match(value) or re.search(r"[A-Z][\w.-]*\s$", question[max(0, m.start() - 30) : m.start()]):
            continue
        out.append(value)
    return list(dict.fromkeys(out))


def check_coverage(
    understanding: QuestionUnderstanding, evidence: Evidence, answer_type: AnswerType | None = None
) -> Coverage:
    """Check each constraint of ``understanding`` against ``evidence`` (see the module doc). ~0.1 ms without
    ``answer_type``; with it, the sentence and the passage are run through ``recognise`` (~0.5 ms/sentence)."""
    sentence_sq = squash(evidence.sentence)
    passage_sq = squash(" ".join([evidence.passage_text, *evidence.heading_path]))
    post_sq = squash(_post_text(evidence.post))
    path = evidence.post.path
    checks: list[ConstraintCheck] = []
    for m in understanding.mentions:
        if m.kind == "year":
            checks.append(_year_check(m.text, evidence, sentence_sq, passage_sq))
            continue
        where = _place(m.key, sentence_sq, passage_sq, "")
        if where is None and m.kind in ("speaker", "person", "author"):
            # One part of the name is enough: reports say "Armin" or "Ronacher" once they have introduced him.
            parts = [squash(w) for w in m.text.split() if len(squash(w)) >= 4]
            found = [p for p in (_place(part, sentence_sq, passage_sq, "") for part in parts) if p]
            where = min(found, key=PLACES.index) if found else None
        if where is None and m.kind in ("session", "day", "keynote", "speaker"):
            refs = {r.heading_path for r in m.sessions if r.post_path == path}
            if evidence.heading_path in refs:
                where = "passage"
        if where is None and (path in m.posts or _contains(post_sq, m.key)):
            where = "post"
        detail = ""
        if where is None:
            detail = _what_instead(m.kind, evidence)
        checks.append(ConstraintCheck(m.kind, m.text, where, detail))
    for name in question_names(understanding):
        where = _place(squash(name), sentence_sq, passage_sq, post_sq)
        if where is None:  # every part somewhere, at the widest place any part needs
            places = [_place(part, sentence_sq, passage_sq, post_sq) for part in _name_parts(name)]
            if places and all(places):
                where = max(places, key=PLACES.index)
        detail = "" if where else "neither the sentence, its talk nor its post mentions it"
        checks.append(ConstraintCheck("name", name, where, detail))
    sentence_numbers = {n.replace(",", "") for n in _NUMBER.findall(evidence.sentence)}
    passage_numbers = {n.replace(",", "") for n in _NUMBER.findall(evidence.passage_text)}
    for number in question_numbers(understanding.question):
        where = "sentence" if number in sentence_numbers else "passage" if number in passage_numbers else None
        checks.append(ConstraintCheck("number", number, where, "" if where else "the passage never gives it"))
    if answer_type is not None and answer_type.wants_span:
        session = evidence.heading_path[-1] if evidence.heading_path else ""
        if answers_type(answer_type, recognise(evidence.sentence), session):
            where = "sentence"
        elif any(
            answers_type(answer_type, recognise(s)) for s in evidence.passage_sentences or (evidence.passage_text,)
        ):
            where = "passage"
        else:
            where = None
        detail = "" if where else f"the passage holds no {answer_type.kind}"
        checks.append(ConstraintCheck("answer-type", answer_type.kind, where, detail))
    return Coverage(tuple(checks))


def _year_check(year: str, evidence: Evidence, sentence_sq: str, passage_sq: str) -> ConstraintCheck:
    if year in evidence.sentence:
        return ConstraintCheck("year", year, "sentence")
    if year in evidence.passage_text or any(year in h for h in evidence.heading_path):
        return ConstraintCheck("year", year, "passage")
    years = _post_years(evidence.post)
    if int(year) in years:
        return ConstraintCheck("year", year, "post")
    have = ", ".join(str(y) for y in sorted(years)) or "undated"
    return ConstraintCheck("year", year, None, f"the post is from {have}")


def _what_instead(kind: str, evidence: Evidence) -> str:
    post = evidence.post
    if kind in ("event", "qualifier"):
        return f"the post is “{post.title}”"
    if kind == "author":
        return f"the post is by {', '.join(post.authors) or 'an unnamed author'}"
    if kind in ("speaker", "person"):
        names = person_names(evidence.passage_text, allow_start=True, strict=True)
        return f"the passage names {', '.join(names[:3])}" if names else "the passage names no one"
    if kind in ("session", "day", "keynote"):
        return f"the passage is from “{' › '.join(evidence.heading_path) or post.title}”"
    return ""
