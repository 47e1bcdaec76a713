"""What the question pins down, as data: ``Mention`` (a constraint and the posts and talks matching it),
``Gap`` (a constraint no indexed post covers) and ``QuestionUnderstanding`` (both, with signals and reasons).
Produced by ``understand.Understander``; checked against answers by ``constraints``."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tripsearch.answer.vocabulary import SessionRef


@dataclass(frozen=True)
class Mention:
    """One thing the question pins down and what in the index matches it.

    ``kind``: "event", "qualifier" (region or place of an event: "EU", "Barcelona"), "year", "author",
    "speaker" (a person named in a talk heading), "person" (a name found in no metadata; evidence
    "given-name" or only "shape"), "session" (a talk
    title), "day" or "keynote". ``posts``: paths of matching posts (may be empty); ``sessions``: matching
    talks. ``evidence``: why it counts (for an event, the kinds of evidence of its name).
    """

    kind: str
    text: str
    key: str
    posts: frozenset[str] = frozenset()
    sessions: tuple[SessionRef, ...] = ()
    evidence: tuple[str, ...] = ()
    score: float = 1.0  # sessions: share of the talk title's words in the question; else 1

    @property
    def firm(self) -> bool:
        """False for an event read only from the question's shape ("Python conference") or written as a
        description ("the Perl conference" for "The Perl Conference"): not a name to restrict by."""
        return not ("lower-case" in self.evidence or set(self.evidence) == {"question-shape"})


@dataclass(frozen=True)
class Gap:
    """A constraint the question names that no indexed post covers. ``soft``: metadata may just not say it
    (a city no title mentions) — a weaker signal than an event or year that has no report at all."""

    kind: str  # "event", "year", "event-year", "author", "qualifier", "combination"
    text: str
    reason: str
    soft: bool = False


@dataclass(frozen=True)
class QuestionUnderstanding:
    """The constraints found in ``question``, with the posts matching each, and the gaps."""

    question: str
    mentions: tuple[Mention, ...] = ()
    gaps: tuple[Gap, ...] = ()
    post_count: int = 0  # posts in the index, to scale signals

    def of_kind(self, *kinds: str) -> list[Mention]:
        return [m for m in self.mentions if m.kind in kinds]

    def restriction(self) -> frozenset[str] | None:
        """Posts that satisfy every event, year and author the question names; None when it names none.

        Qualifiers, speakers, sessions, days and keynotes are left out: metadata often omits them (a report
        of KubeCon 2019 need not say Barcelona), so they are for boosting, not restricting; so are events that
        are not ``firm``."""
        sets = [m.posts for m in self.mentions if m.kind in ("event", "year", "author") and m.firm]
        if not sets:
            return None
        out = sets[0]
        for s in sets[1:]:
            out = out & s
        return out

    def signals(self) -> dict[str, float]:
        """Flat features (names → floats) for a fitted confidence model; counts are log1p-scaled."""
        events, years = self.of_kind("event"), self.of_kind("year")
        restriction = self.restriction()
        hard = [g for g in self.gaps if not g.soft]
        sessions = self.of_kind("session")
        return {
            "q_names_event": float(bool(events)),
            "q_event_not_firm": float(any(not m.firm for m in events)),
            "q_event_evidence": max((len(m.evidence) for m in events), default=0) / 4,
            "q_event_posts": math.log1p(len(set().union(*(m.posts for m in events)))) if events else 0.0,
            "q_names_year": float(bool(years)),
            "q_names_author": float(bool(self.of_kind("author"))),
            "q_names_speaker": float(bool(self.of_kind("speaker"))),
            "q_names_unknown_person": float(any("given-name" in m.evidence for m in self.of_kind("person"))),
            "q_names_unknown_name": float(any("shape" in m.evidence for m in self.of_kind("person"))),
            "q_names_session": float(bool(sessions)),
            "q_session_match": max((m.score for m in sessions), default=0.0),
            "q_names_day": float(bool(self.of_kind("day"))),
            "q_names_keynote": float(bool(self.of_kind("keynote"))),
            "q_restricted": float(restriction is not None),
            "q_restricted_posts": math.log1p(len(restriction)) if restriction is not None else 0.0,
            "q_restricted_empty": float(restriction is not None and not restriction),
            "q_gap": float(bool(hard)),
            "q_gap_soft": float(any(g.soft for g in self.gaps)),
            "q_gap_event": float(any(g.kind == "event" for g in hard)),
            "q_gap_year": float(any(g.kind in ("year", "event-year") for g in hard)),
            "q_gap_author": float(any(g.kind == "author" for g in hard)),
            "q_gap_combination": float(any(g.kind == "combination" for g in hard)),
        }

    def reasons(self) -> list[str]:
        """One line per constraint and per gap, for ``--explain``."""
        lines = []
        for m in self.mentions:
            where = f"{len(m.posts)} post(s)" if m.kind not in ("session", "speaker") else f"{len(m.sessions)} talk(s)"
            why = f" ({', '.join(m.evidence)})" if m.evidence else ""
            lines.append(f"the question names {m.kind} “{m.text}”: {where}{why}")
        lines.extend(g.reason for g in self.gaps)
        return lines
