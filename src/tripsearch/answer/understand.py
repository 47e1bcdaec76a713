"""What a question pins down, read against the index's own metadata (``Vocabulary``), and what no post covers.

``Understander(vocabulary).understand(question)`` → ``QuestionUnderstanding``: the event, year, author, talk,
speaker, "day 2" and "keynote" the question names, each with the posts (and talks) that match it, and the
``Gap``s — constraints that no indexed post covers ("no report covers Coalesce 2021; its reports are from
2022"). These are signals for a fitted confidence model and lines for ``--explain``; nothing here decides to
abstain. Nothing names a conference: names come from the index (see ``vocabulary``).

What counts as "the question names an event": a phrase of the question whose key is an event name of the
vocabulary (a one-word match written in lower case needs two kinds of evidence: "salt" is a word, "Salt" may
be a name), or a phrase shaped like an event reference — a word built on an event noun ("HashiConf"), a
capitalised run before an event noun ("Chaos Communication Congress", "Perl conference") or "at/during X
2019". A shaped phrase none of whose distinctive words occurs in any title or tag is a ``Gap`` ("event").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tripsearch.answer.mentions import Gap, Mention, QuestionUnderstanding
from tripsearch.answer.names import given_name, person_names, talk_title
from tripsearch.answer.vocabulary import (
    EVENT_NOUNS,
    REGION_ALIASES,
    REPORT_WORDS,
    IndexMetadata,
    SessionRef,
    Token,
    Vocabulary,
    canonical,
    is_event_noun_phrase,
    squash,
    tokens,
)
from tripsearch.unicode import nfc

MAX_PHRASE = 5
_YEAR = re.compile(r"(?<![\d.])(19[89]\d|20[0-4]\d)(?![\d.]\d|\d)")
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "first": 1}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
_DAY = re.compile(
    r"\bday\s*#?\s*(\d{1,2}|one|two|three|four|five|six|seven)\b|\b(first|second|third|fourth|fifth)\s+day\b", re.I
)
_KEYNOTE = re.compile(r"\b(?:(opening|closing)\s+)?keynotes?\b", re.I)
_REPORT = r"(?:post|report|write-?up|blog|notes|recap|review|article)s?"
_AUTHOR_CUE = re.compile(
    rf"\b{_REPORT}\s+(?:written\s+)?by\s+([A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){{0,2}})"
    rf"|\b([A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){{0,2}})['’]s\s+(?:\w+\s+)?{_REPORT}\b"
)
_AT_EVENT = re.compile(r"\b(?:at|during|from|of)\s+(?:the\s+)?((?:[A-Z0-9][\w.:+/'’-]*\s+){1,4})(19[89]\d|20[0-4]\d)\b")
_STOP = frozenset("a an and at of the in on to for from with by is was were did do does how what why who".split())
_QUESTION_STARTS = frozenset(
    "what which who whom whose when where why how is are was were did do does can could".split()
)


@dataclass
class Understander:
    """Reads questions against one index's ``Vocabulary``; build once per index, then call ``understand``."""

    vocabulary: Vocabulary
    # Optional: words → those no passage's text contains (``Index.unknown_words``). With it, an event-shaped
    # phrase no title names but whose words all occur in the reports' text is a soft gap, not a hard one
    # ("the Moby Project Summit" a report mentions in passing).
    unknown_words: Callable[[list[str]], list[str]] | None = None
    _session_words: dict[str, set[SessionRef]] = field(default_factory=dict)
    _session_sizes: dict[SessionRef, int] = field(default_factory=dict)

    @classmethod
    def from_metadata(cls, metadata: IndexMetadata, unknown_words=None) -> Understander:
        return cls(Vocabulary.build(metadata), unknown_words)

    @classmethod
    def from_passages(cls, passages, unknown_words=None) -> Understander:
        """From an index's passages (``Index.passages``; pass ``Index.unknown_words`` too when at hand):
        ~0.2 s for the real corpus, plus ~0.5 s the first time in a process (the given-name list)."""
        return cls.from_metadata(IndexMetadata.from_passages(passages), unknown_words)

    def __post_init__(self) -> None:
        for ref in self.vocabulary.metadata.sessions:
            words = _content_words(talk_title(ref.title))
            self._session_sizes[ref] = len(words)
            for w in words:
                self._session_words.setdefault(w, set()).add(ref)

    def understand(self, question: str) -> QuestionUnderstanding:
        """The constraints in ``question`` and the gaps; never raises on any string (empty → nothing found)."""
        question = nfc(question or "")
        toks = tokens(question)
        mentions: list[Mention] = []
        gaps: list[Gap] = []
        used: set[int] = set()
        events = self._events(question, toks, used, mentions)
        self._shaped_events(question, toks, used, mentions, gaps)
        years = self._years(question, mentions, gaps)
        for event in events:
            for year, year_posts in years:
                if event.posts and not event.posts & year_posts:
                    have = sorted(self.vocabulary.years_of(event.posts))
                    # A name written as a description ("the Perl conference") or known from tags alone may
                    # not be the series the question means: a soft gap.
                    soft = "lower-case" in event.evidence or set(event.evidence) <= {"tag", "question-shape"}
                    gaps.append(
                        Gap(
                            "event-year",
                            f"{event.text} {year}",
                            f"no report covers {event.text} {year}; the reports on {event.text} are from "
                            f"{', '.join(map(str, have)) or 'no known year'}",
                            soft=soft,
                        )
                    )
        self._qualifier_gaps(mentions, gaps)
        self._people(question, mentions, gaps)
        self._sessions(question, mentions)
        self._day_and_keynote(question, mentions)
        result = QuestionUnderstanding(question, tuple(mentions), tuple(gaps), len(self.vocabulary.post_by_path))
        if result.restriction() == frozenset() and not [g for g in gaps if not g.soft]:
            # Each constraint has reports, but none has them all: "by Steph Skardal" + "RailsConf 2016".
            named = [m.text for m in result.mentions if m.kind in ("event", "year", "author") and m.firm]
            gap = Gap("combination", " + ".join(named), f"no report covers {' + '.join(named)} together")
            result = QuestionUnderstanding(question, result.mentions, (*gaps, gap), result.post_count)
        return result

    # -- events -----------------------------------------------------------------------------------------
    def _accept(self, toks: list[Token], a: int, b: int, key: str) -> bool:
        event = self.vocabulary.events[key]
        written_as_name = any(t.capitalised for t in toks[a:b]) or b - a > 1
        return written_as_name or len(event.evidence) >= 2

    def _strong(self, key: str) -> bool:
        event = self.vocabulary.events.get(key)
        return bool(event) and (bool(event.evidence & {"noun", "year"}) or len(event.evidence) >= 2)

    def _events(self, question: str, toks: list[Token], used: set[int], mentions: list[Mention]) -> list[Mention]:
        found = []
        i = 0
        while i < len(toks):
            for n in range(min(MAX_PHRASE, len(toks) - i), 0, -1):
                key = canonical("".join(t.key for t in toks[i : i + n]))
                if key in self.vocabulary.events and self._accept(toks, i, i + n, key):
                    # "KubeCon EU" = the series KubeCon + the qualifier EU: restrict by the series, not by
                    # the titles that happen to spell "KubeCon EU".
                    cut = next(
                        (
                            c
                            for c in range(i + 1, i + n)
                            if not toks[c].glued and self._strong(canonical("".join(t.key for t in toks[i:c])))
                        ),
                        i + n,
                    )
                    series = canonical("".join(t.key for t in toks[i:cut]))
                    lead = i
                    shorter = canonical("".join(t.key for t in toks[i + 1 : cut]))
                    if cut - i >= 2 and _short_caps(toks[i]) and not toks[i + 1].glued and self._strong(shorter):
                        # "AWS re:Invent": the series is re:Invent, however many titles add "AWS"
                        self._add_qualifier(question, toks[i : i + 1], mentions)
                        series, lead = shorter, i + 1
                    event = self.vocabulary.events[series]
                    text = question[toks[lead].start : toks[cut - 1].end]
                    evidence = set(event.evidence)
                    if _written_as_description(toks[lead:cut], event.forms):
                        evidence.add("lower-case")
                    if not any(m.kind == "event" and m.key == series for m in mentions):
                        m = Mention("event", text, series, event.posts, evidence=tuple(sorted(evidence)))
                        mentions.append(m)
                        found.append(m)
                    if cut < i + n:
                        self._add_qualifier(question, toks[cut : i + n], mentions)
                    used.update(range(i, i + n))
                    self._trailing_qualifiers(question, toks, i + n, used, mentions, event.posts)
                    i += n
                    break
            else:
                i += 1
        return found

    def _add_qualifier(self, question: str, words: list[Token], mentions: list[Mention]) -> None:
        key = "".join(t.key for t in words)
        region = REGION_ALIASES.get(key)
        posts = self.vocabulary.region_posts.get(region, set()) if region else self.vocabulary.phrases.get(key, set())
        text = question[words[0].start : words[-1].end]
        mentions.append(Mention("qualifier", text, region or key, frozenset(posts)))

    def _trailing_qualifiers(self, question, toks, j, used, mentions, event_posts) -> None:
        """Capitalised words right after an event that qualify it: followed by a year ("KubeCon Barcelona
        2019"), after "in" ("2015 in Prague"), a region ("EU"), or a word of the event's own posts' titles/tags."""
        k = j
        saw_in = False
        while k < len(toks) and (_YEAR.fullmatch(toks[k].text) or toks[k].key == "in"):
            saw_in = saw_in or toks[k].key == "in"
            k += 1
        run = []
        while k < len(toks) and toks[k].text[:1].isupper() and toks[k].key not in _STOP and len(run) < 3:
            if _YEAR.fullmatch(toks[k].text):
                break
            run.append(toks[k])
            k += 1
        if not run or any(t.key in EVENT_NOUNS for t in run):
            return
        key = "".join(t.key for t in run)
        year_follows = k < len(toks) and bool(_YEAR.fullmatch(toks[k].text))
        own = bool(self.vocabulary.phrases.get(key, set()) & event_posts)
        if saw_in or year_follows or key in REGION_ALIASES or own:
            self._add_qualifier(question, run, mentions)
            used.update(range(j, k))

    def _shaped_events(self, question, toks, used, mentions, gaps) -> None:
        """Phrases shaped like an event reference that matched no event name (see the module doc)."""
        shaped: list[tuple[int, int]] = []
        for i, t in enumerate(toks):
            if i not in used and is_event_noun_phrase([t]):
                shaped.append((i, i + 1))
            if i not in used and t.key in EVENT_NOUNS and i > 0:
                a = i
                while (
                    a > 0
                    and toks[a - 1].text[:1].isupper()
                    and toks[a - 1].key not in _QUESTION_STARTS
                    and toks[a - 1].segment == t.segment
                ):
                    a -= 1
                if a < i and not any(j in used for j in range(a, i)):
                    shaped.append((a, i + 1))
        for m in _AT_EVENT.finditer(question):
            span = [j for j, t in enumerate(toks) if m.start(1) <= t.start < m.end(1)]
            if span and not any(j in used for j in span) and toks[span[0]].text[:1].isupper():
                shaped.append((span[0], span[-1] + 1))
        for a, b in shaped:
            if any(j in used for j in range(a, b)):
                continue  # found twice ("HashiConf" is glued and stands before a year)
            words = toks[a:b]
            text = question[words[0].start : words[-1].end]
            key = "".join(t.key for t in words)
            distinctive = [t.key for t in words if t.key not in EVENT_NOUNS and t.key not in REPORT_WORDS]
            distinctive = [k for k in distinctive if k not in _STOP]
            if not distinctive:
                continue  # only generic words ("Report Conference"): no name to look for
            # Known when the whole phrase is in a title or tag, or one of its words is part of an event's name
            # ("Chaos Communication Congress" ~ "Chaos Congress"); a title merely using the word ("Build") is not.
            known = [k for k in distinctive if k in self.vocabulary.event_words]
            if key in self.vocabulary.phrases:
                posts = frozenset(self.vocabulary.phrases[key])
            elif known:
                posts = frozenset(set().union(*(self.vocabulary.phrases[k] for k in known)))
            elif len(key) >= 4 and key in self.vocabulary.heading_text:  # an event within an event, in a heading
                refs = self.vocabulary.metadata.sessions
                posts = frozenset(r.post_path for r in refs if key in squash(" ".join(r.heading_path)))
            else:
                # "the Python conference" (event noun in lower case) describes; "Microsoft Build 2019" names.
                soft = any(t.key in EVENT_NOUNS and not t.capitalised for t in words)
                reason = f"no report's title or tags name {text}"
                if self.unknown_words is not None and not self.unknown_words([t.text for t in words]):
                    soft, reason = True, reason + ", though the reports' text has its words"
                gaps.append(Gap("event", text, reason, soft=soft))
                used.update(range(a, b))
                continue
            mentions.append(Mention("event", text, key, posts, evidence=("question-shape",)))
            used.update(range(a, b))

    def _years(self, question, mentions, gaps) -> list[tuple[int, frozenset[str]]]:
        out = []
        for m in _YEAR.finditer(question):
            year = int(m.group(1))
            posts = frozenset(self.vocabulary.years.get(year, ()))
            mentions.append(Mention("year", m.group(1), str(year), posts))
            if not posts:
                gaps.append(Gap("year", m.group(1), f"no report is from or about {year}"))
            out.append((year, posts))
        return out

    def _qualifier_gaps(self, mentions, gaps) -> None:
        for m in mentions:
            if m.kind == "qualifier" and not m.posts:
                gaps.append(Gap("qualifier", m.text, f"no report's title or tags mention {m.text}", soft=True))

    # -- people, talks, days ---------------------------------------------------------------------------
    def _people(self, question, mentions, gaps) -> None:
        vocab = self.vocabulary
        taken = " ".join(m.text for m in mentions)
        for name in dict.fromkeys(person_names(question, allow_start=False)):
            name = re.sub(r"['’]s$", "", name)
            key = squash(name)
            words = name.split()
            if any(w in taken for w in words) or any(squash(w) in EVENT_NOUNS for w in words):
                continue  # part of an event or a qualifier already read: "Google Developer Day"
            if key in vocab.authors:
                mentions.append(Mention("author", name, key, frozenset(vocab.authors[key])))
            elif key in vocab.heading_text and key in vocab.speakers:  # the cheap test first: see speakers
                refs = tuple(sorted(vocab.speakers[key], key=lambda r: (r.post_path, r.heading_path)))
                mentions.append(Mention("speaker", name, key, frozenset(r.post_path for r in refs), refs))
            elif key not in vocab.phrases and key not in vocab.heading_text:
                # A known given name makes it a person ("Dan Abramov"); else only a name's shape ("Core Web Vitals").
                evidence = ("given-name",) if given_name(words[0]) else ("shape",)
                mentions.append(Mention("person", name, key, evidence=evidence))
        for m in _AUTHOR_CUE.finditer(question):
            name = (m.group(1) or m.group(2) or "").strip()
            key = squash(name)
            if key and key not in vocab.authors and not any(p in vocab.authors for p in map(squash, name.split())):
                if (key not in vocab.heading_text or key not in vocab.speakers) and key not in vocab.phrases:
                    gaps.append(Gap("author", name, f"no indexed post is by {name}"))

    def _sessions(self, question, mentions) -> None:
        words = _content_words(question)
        counts: dict[SessionRef, int] = {}
        for w in words:
            for ref in self._session_words.get(w, ()):
                counts[ref] = counts.get(ref, 0) + 1
        scored = sorted(
            ((c / self._session_sizes[r], c, r) for r, c in counts.items() if c >= 2),
            key=lambda x: (-x[0], -x[1], x[2].post_path),
        )
        best = [(s, r) for s, c, r in scored if s >= SESSION_MATCH][:5]
        for score, ref in best:
            mentions.append(
                Mention("session", ref.title, squash(ref.title), frozenset({ref.post_path}), (ref,), score=score)
            )

    def _day_and_keynote(self, question, mentions) -> None:
        vocab = self.vocabulary
        for m in _DAY.finditer(question):
            raw = (m.group(1) or m.group(2)).lower()
            n = int(raw) if raw.isdigit() else _NUMBER_WORDS.get(raw) or _ORDINALS.get(raw)
            posts = frozenset(p for p, meta in vocab.post_by_path.items() if _day_number(meta.title) == n)
            refs = tuple(r for r in vocab.metadata.sessions if any(_day_number(h) == n for h in r.heading_path))
            mentions.append(Mention("day", m.group(0), f"day{n}", posts | {r.post_path for r in refs}, refs))
        for m in _KEYNOTE.finditer(question):
            which = (m.group(1) or "").lower()
            refs = tuple(
                r
                for r in vocab.metadata.sessions
                if any("keynote" in h.lower() and which in h.lower() for h in r.heading_path)
            )
            posts = {p for p, meta in vocab.post_by_path.items() if "keynote" in meta.title.lower()}
            mentions.append(
                Mention("keynote", m.group(0), f"{which}keynote", frozenset(posts | {r.post_path for r in refs}), refs)
            )


SESSION_MATCH = 0.75  # share of a talk title's content words the question must hold (placeholder until fitted)


def _short_caps(token: Token) -> bool:
    return token.text.isupper() and token.text.isalpha() and 2 <= len(token.text) <= 4


def _written_as_description(words: list[Token], forms: frozenset[str]) -> bool:
    """Whether the question writes in lower case the event noun that titles capitalise ("the Perl conference"
    for "The Perl Conference"): a description, not the name. Other words in lower case are casual typing
    ("re invent")."""
    lowered = {t.key for t in words if not t.capitalised and not t.glued and t.key in EVENT_NOUNS}
    if not lowered:
        return False
    capitalised_in_titles = {t.key for f in forms for t in tokens(f) if t.capitalised}
    return bool(lowered & capitalised_in_titles)


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[^\W_]+", nfc(text).casefold()) if len(w) >= 3 and w not in _STOP_WORDS}


_STOP_WORDS = frozenset(
    """the and for with from about into your you our this that what which who how why when where was were did
    does are has have had can could should would will not but all any its their them they his her talk talks
    session keynote day part""".split()
)


def _day_number(text: str) -> int | None:
    m = _DAY.search(text)
    if not m:
        return None
    raw = (m.group(1) or m.group(2)).lower()
    return int(raw) if raw.isdigit() else _NUMBER_WORDS.get(raw) or _ORDINALS.get(raw)
