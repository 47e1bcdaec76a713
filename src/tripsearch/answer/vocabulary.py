"""What an index knows about events, years, authors and talks, learnt from its own metadata.

No list of conferences is written here: event names are read from the post titles and tags of the indexed
posts. A run of title words is taken for an event's name when the data says so in at least one of four ways:

- ``noun``: it ends in an event noun ("Snowflake Summit", "Mountain West Ruby Conference") or is one word
  built on one ("RailsConf", "KubeCon", "SREcon": the suffix starts with a capital or follows one);
- ``tag``: a tag of the same post spells it ("kubecon" and "KubeCon", "reinvent" and "re:Invent",
  "kafka-summit" and "Kafka Summit"): a tag and a title phrase co-occurring on one post;
- ``year``: it stands right before or after a year in the title ("Devoxx 2014", "2016 Wikimedia ... Summit");
- ``event-tag``: the whole title is a short name and the post is tagged as an event ("Strange Loop").

Variants are folded by normalisation, not by lists: every phrase is keyed by its letters and digits only,
lower-cased (``squash``), so "re:Invent", "reinvent", "Re Invent" and "re-invent" share the key "reinvent",
and "CSS Conf"/"CSSConf" share "cssconf". Only generic English closed classes are listed here (event nouns,
report words such as "recap" or "day", and region abbreviations EU/Europe, NA/North America, US/USA, UK).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from tripsearch.answer.names import heading_speakers
from tripsearch.records import Passage, PostMeta
from tripsearch.unicode import nfc

# Nouns that name a kind of event; a title phrase ending in one (capitalised) names an event.
EVENT_NOUNS = frozenset(
    """conference conferences conf con summit summits camp barcamp days fest festival workshop workshops meetup
    meetups hackathon congress symposium forum expo unconference gettogether sprint sprints devday devdays
    convention""".split()
)
# One-word names built on an event noun: RailsConf, DjangoCon, PGCon, SREcon, JSConf, OSCON, BarCamp.
_GLUED_EVENT = re.compile(r"^[A-Z][A-Za-z0-9]*(?:[A-Z](?:con|conf|camp|fest)|Con|Conf|Camp|Fest)$")
# Tags that say "this post is about an event" (a tag, not a title word).
EVENT_TAGS = frozenset({"conference", "conferences", "event", "events", "summit", "meetup", "meetups"})
# Words of a report's title that describe the report, never the event: they end a name.
REPORT_WORDS = frozenset(
    """day days part recap recaps report reports summary review notes highlights impressions takeaways
    roundup round wrap up aftermath thoughts edition virtual online replay announced announcements
    first second third one two three four five six seven final last trip liveblogging preview""".split()
)
# Generic region abbreviations and their long forms (general geography, not event names).
REGION_ALIASES = {
    "eu": "europe",
    "europe": "europe",
    "na": "northamerica",
    "northamerica": "northamerica",
    "us": "usa",
    "usa": "usa",
    "unitedstates": "usa",
    "uk": "uk",
    "unitedkingdom": "uk",
}
_STOP = frozenset(
    """a an and at of the in on to for from with by we i my our is was were this that it its as or vs via
    about into how what why who when where which back looking""".split()
)
MAX_NAME_TOKENS = 4
TAG_TITLE_SHARE = 0.7  # see Vocabulary._tag_names_title
_TOKEN = re.compile(r"[^\W_]+")
_YEAR = re.compile(r"^(19[89]\d|20[0-4]\d)$")
# A year a post can be about, anywhere in a title or tag (1980-2049): the same span as _YEAR.
YEAR_IN_TEXT = re.compile(r"(?<!\d)(19[89]\d|20[0-4]\d)(?!\d)")
_DAY_IN_TITLE = re.compile(r"\bday\s*#?\s*(?:\d+|one|two|three|four|five)\b", re.I)
_SHORT_YEAR = re.compile(r"['’](\d\d)$")  # FOSDEM'19


def squash(text: str) -> str:
    """The matching key of a phrase: letters and digits only, case-folded ("re:Invent" → "reinvent")."""
    return "".join(_TOKEN.findall(nfc(text).casefold()))


def canonical(key: str) -> str:
    """A squashed key with "conference" folded to "conf": "Mountain West Ruby Conference" = "MountainWest RubyConf"."""
    return key[: -len("conference")] + "conf" if key.endswith("conference") and len(key) > 10 else key


@dataclass(frozen=True)
class Token:
    """A run of letters/digits in a title or question, with what the text around it says."""

    text: str
    start: int
    end: int
    glued: bool  # joined to the previous token by a non-space (re:Invent, I/O, DjangoCon.eu)
    segment: int  # titles are cut into segments at " - ", "—", ": ", "|", "(", ","; names never cross one

    @property
    def key(self) -> str:
        return self.text.casefold()

    @property
    def capitalised(self) -> bool:
        return any(c.isupper() for c in self.text)


_SEGMENT_BREAK = re.compile(r"\s[-–—|]\s|[—–|(),!?;]|:\s|\s-|-\s|\.\s")


def tokens(text: str) -> list[Token]:
    """Letter/digit runs of ``text`` with their offsets, glue and segment (see ``Token``)."""
    text = nfc(text)
    out: list[Token] = []
    segment = 0
    for m in _TOKEN.finditer(text):
        if out:
            gap = text[out[-1].end : m.start()]
            if _SEGMENT_BREAK.search(gap):
                segment += 1
            glued = gap != "" and not any(c.isspace() for c in gap)
        else:
            glued = False
        out.append(Token(m.group(), m.start(), m.end(), glued, segment))
    return out


def year_of_token(tokens_: list[Token], i: int, text: str) -> int | None:
    """The year a token stands for: "2019", or "19" written as FOSDEM'19; else None."""
    t = tokens_[i]
    if _YEAR.match(t.text):
        return int(t.text)
    if len(t.text) == 2 and t.text.isdigit() and t.glued and _SHORT_YEAR.search(text[: t.end]):
        return 2000 + int(t.text)
    return None


def is_event_noun_phrase(words: list[Token]) -> bool:
    """Whether a run of words ends in an event noun, capitalised as a name, or is one glued event word."""
    last = words[-1]
    if last.key in EVENT_NOUNS and last.text[0].isupper() and len(words) > 1:
        return True
    if len(words) > 1 or len(last.text) <= 4:
        return False
    return bool(_GLUED_EVENT.match(last.text)) or (last.text.isupper() and last.key.endswith(("con", "conf")))


def _qualifier(token: Token) -> bool:
    return token.key in REGION_ALIASES or (token.text.isupper() and token.text.isalpha() and 2 <= len(token.text) <= 4)


def name_runs(toks: list[Token], text: str) -> list[tuple[int, int]]:
    """``(lo, hi)`` of the maximal runs of name-like tokens: capitalised (or glued to a capitalised one, as
    "re" in "re:Invent"), within one segment, not a stop word, report word, year or bare number."""
    runs, lo = [], None
    for i, t in enumerate(toks):
        glued_cap = (t.glued and i > 0 and toks[i - 1].capitalised) or (
            i + 1 < len(toks) and toks[i + 1].glued and toks[i + 1].capitalised
        )
        glued_any = t.glued or (i + 1 < len(toks) and toks[i + 1].glued)
        ok = (
            (t.capitalised or glued_cap)
            and (t.key not in _STOP or glued_any)
            and t.key not in REPORT_WORDS
            and not t.text.isdigit()
            and not year_of_token(toks, i, text)
        )
        if ok and lo is not None and t.segment != toks[i - 1].segment:
            runs.append((lo, i))
            lo = i
        elif ok and lo is None:
            lo = i
        elif not ok and lo is not None:
            runs.append((lo, i))
            lo = None
    if lo is not None:
        runs.append((lo, len(toks)))
    return runs


@dataclass(frozen=True)
class SessionRef:
    """A talk in a post: the post's path and the talk's heading path."""

    post_path: str
    heading_path: tuple[str, ...]

    @property
    def title(self) -> str:
        return self.heading_path[-1] if self.heading_path else ""


@dataclass(frozen=True)
class IndexMetadata:
    """What an index knows, as input to ``Vocabulary``: every post's metadata and every talk heading.

    Build it with ``from_passages(index.passages)`` or directly from ``PostMeta`` records in tests.
    """

    posts: tuple[PostMeta, ...]
    sessions: tuple[SessionRef, ...] = ()

    @classmethod
    def from_passages(cls, passages: Iterable[Passage]) -> IndexMetadata:
        posts: dict[str, PostMeta] = {}
        sessions: dict[SessionRef, None] = {}
        for p in passages:
            posts.setdefault(p.post.path, p.post)
            if p.heading_path:
                sessions.setdefault(SessionRef(p.post.path, p.heading_path), None)
        return cls(tuple(posts.values()), tuple(sessions))


@dataclass(frozen=True)
class EventName:
    """One key of the event vocabulary: the posts whose title or tags carry it, and why it counts as an event."""

    key: str
    forms: frozenset[str]  # how it is written in titles and tags
    posts: frozenset[str]
    evidence: frozenset[str]  # subset of {"noun", "tag", "year", "event-tag"}


@dataclass
class Vocabulary:
    """Lookup tables built once per index from ``IndexMetadata``: events, phrases, years, authors, talks.

    ``events``: squashed name → ``EventName``. ``phrases``: every squashed title/tag n-gram → posts (to tell a
    phrase the index has never seen from one it has but not as an event). ``years``: year → posts (date or
    title). ``authors``: squashed full name or name part → posts. ``speakers``: squashed person name written
    in a heading → sessions. Building takes about 50 ms for the real corpus's 361 posts (our measurement).
    """

    metadata: IndexMetadata
    events: dict[str, EventName] = field(default_factory=dict)
    phrases: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    title_phrases: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    tag_posts: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    years: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    post_years: dict[str, set[int]] = field(default_factory=dict)
    authors: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    author_names: dict[str, str] = field(default_factory=dict)  # key → as written
    _speakers: dict[str, set[SessionRef]] | None = None  # built on first use: see ``speakers``
    region_posts: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    post_by_path: dict[str, PostMeta] = field(default_factory=dict)
    heading_text: str = ""  # every talk heading, squashed, one a line: is a phrase written in some heading?
    event_words: set[str] = field(default_factory=set)  # the words of every event name, case-folded

    @classmethod
    def build(cls, metadata: IndexMetadata) -> Vocabulary:
        vocab = cls(metadata)
        found: dict[str, tuple[set[str], set[str], set[str]]] = defaultdict(lambda: (set(), set(), set()))
        for meta in metadata.posts:
            vocab.post_by_path[meta.path] = meta
            vocab._add_post(meta, found)
        for key, (forms, _, evidence) in found.items():
            if evidence == {"tag"} and not vocab._tag_names_title(key):
                continue
            # Every post whose title or tags carry the name, not only those where the evidence was seen.
            vocab.events[key] = EventName(key, frozenset(forms), frozenset(vocab.phrases[key]), frozenset(evidence))
        vocab._add_acronyms()
        vocab.event_words = {t.key for e in vocab.events.values() for f in e.forms for t in tokens(f)}
        vocab._add_speakers(metadata.sessions)
        return vocab

    def _add_acronyms(self) -> None:
        """Known-from-data aliases: an event's initials that titles also use ("MWRC" for "MountainWest
        RubyConf" / "Mountain West Ruby Conference"). Only initials that occur in some title count."""
        for key, event in list(self.events.items()):
            for form in event.forms:
                initials = "".join(c for c in form if c.isupper()).casefold()
                if len(initials) < 3 or initials == key or form.isupper() or initials not in self.title_phrases:
                    continue
                posts = event.posts | self.phrases[initials]
                self.events[key] = EventName(key, event.forms, frozenset(posts), event.evidence)
                alias = self.events.get(initials)
                self.events[initials] = EventName(
                    initials,
                    (alias.forms if alias else frozenset()) | {initials.upper()},
                    frozenset(posts | (alias.posts if alias else set())),
                    event.evidence | {"initials"},
                )

    def _add_post(self, meta: PostMeta, found) -> None:
        title = nfc(meta.title)
        toks = tokens(title)
        tag_keys = {canonical(squash(re.sub(r"\d+$", "", t))) for t in meta.tags} | {squash(t) for t in meta.tags}
        tag_keys.discard("")
        years = {y for i in range(len(toks)) if (y := year_of_token(toks, i, title))}
        years |= {int(m) for t in meta.tags for m in YEAR_IN_TEXT.findall(t)}
        if meta.date:
            years.add(meta.date.year)
        self.post_years[meta.path] = years
        for y in years:
            self.years[y].add(meta.path)
        for key in tag_keys:
            self.phrases[key].add(meta.path)
            self.tag_posts[key].add(meta.path)
            if key in REGION_ALIASES:
                self.region_posts[REGION_ALIASES[key]].add(meta.path)
        event_tagged = any(squash(t) in EVENT_TAGS for t in meta.tags)
        for i in range(len(toks)):
            for n in range(1, MAX_NAME_TOKENS + 1):
                words = toks[i : i + n]
                if len(words) < n or words[-1].segment != words[0].segment:
                    break
                key = canonical("".join(w.key for w in words))
                self.phrases[key].add(meta.path)
                self.title_phrases[key].add(meta.path)
                if n <= 2 and key in REGION_ALIASES:
                    self.region_posts[REGION_ALIASES[key]].add(meta.path)
        for lo, hi in name_runs(toks, title):
            self._event_evidence(meta.path, toks, lo, hi, title, tag_keys, event_tagged, found)
        for name in meta.authors:
            self._add_author(name, meta.path)

    def _tag_names_title(self, key: str) -> bool:
        """Whether the posts tagged ``key`` mostly say it in their title too: an event's tag does ("kubecon",
        "fosdem"), a topic's does not ("rails", "python"): measured on the real corpus, events ≥ 0.8, topics ≤ 0.6 ("agile")."""
        tagged = self.tag_posts.get(key, set())
        if not tagged:
            return False
        return len(tagged & self.title_phrases[key]) / len(tagged) >= TAG_TITLE_SHARE

    def _event_evidence(self, path_, toks, lo, hi, title, tag_keys, event_tagged, found) -> None:
        """Record why the name run ``toks[lo:hi]`` (or a part of it) names an event (see the module doc).

        A tag counts only on a post that reads as an event report (tagged as an event, or a title with a year
        or "Day N"): a tag and a title word co-occur on "Kafka, Spark and Avro" too."""
        event_report = (
            event_tagged
            or bool(_DAY_IN_TITLE.search(title))
            or any(year_of_token(toks, i, title) for i in range(len(toks)))
        )

        def note(a: int, b: int, why: str) -> None:
            key = canonical("".join(t.key for t in toks[a:b]))
            if not 1 <= b - a <= MAX_NAME_TOKENS or toks[a].key in EVENT_NOUNS or key in REPORT_WORDS:
                return
            if why == "year" and (len(key) < 4 or key in REGION_ALIASES):
                return
            forms, posts, evidence = found[key]
            forms.add(title[toks[a].start : toks[b - 1].end])
            posts.add(path_)
            evidence.add(why)

        run = toks[lo:hi]
        if is_event_noun_phrase(run):
            note(lo, hi, "noun")
        for j in range(lo, hi):
            if is_event_noun_phrase([toks[j]]):
                note(j, j + 1, "noun")
        after = hi < len(toks) and toks[hi].segment == run[-1].segment and year_of_token(toks, hi, title)
        # A run after a year names the event only when the year opens its segment: "2014 Mountain West Ruby
        # Conference", not "RailsConf 2010 Rate a Rails Application".
        before = (
            lo > 0
            and toks[lo - 1].segment == run[0].segment
            and year_of_token(toks, lo - 1, title)
            and (lo == 1 or toks[lo - 2].segment != run[0].segment)
        )
        if after or before:
            note(lo, hi, "year")
            # "Monitorama PDX 2014" also names Monitorama, "AWS re:Invent 2018" re:Invent: a short all-capitals
            # word or a region at either end of the name qualifies it.
            if hi - lo >= 2 and _qualifier(toks[hi - 1]) and not toks[hi - 1].glued:
                note(lo, hi - 1, "year")
            if (
                hi - lo >= 2
                and _qualifier(toks[lo])
                and not toks[lo + 1].glued
                and (hi - lo > 2 or not toks[hi - 1].text.istitle())
            ):
                note(lo + 1, hi, "year")
        if lo == 0 and hi == len(toks) and 2 <= hi <= 3 and event_tagged:
            note(lo, hi, "event-tag")
        for a in range(lo, hi):
            for b in range(a + 1, min(hi, a + MAX_NAME_TOKENS) + 1):
                key = canonical("".join(t.key for t in toks[a:b]))
                if key in tag_keys and len(key) > 3 and event_report:
                    note(a, b, "tag")

    def _add_author(self, name: str, path: str) -> None:
        name = nfc(name).strip().lstrip("@")
        parts = [p for p in re.split(r"[\s._]+", re.sub(r"[“”\"'].*?[“”\"']", " ", name)) if p]
        full = squash(name)
        if not full:
            return
        self.authors[full].add(path)
        self.author_names[full] = name
        for part in parts:
            if len(part) >= 4:
                self.authors[squash(part)].add(path)
                self.author_names.setdefault(squash(part), name)

    def _add_speakers(self, sessions: tuple[SessionRef, ...]) -> None:
        self.heading_text = "\n".join(sorted({squash(h) for ref in sessions for h in ref.heading_path}))

    @property
    def speakers(self) -> dict[str, set[SessionRef]]:
        """Squashed speaker name → the talks whose heading names them ("Antoine Butler — Embrace the Vertical",
        "Turbo Rails with Rust by Godfrey Chan", "... - Karla Saur, Intel"). Built on first use: reading names in
        every heading is most of the vocabulary's cost (~0.3 s of ~0.4 s on the real corpus, our measurement),
        and only a question naming a person written in some heading (``heading_text``) needs it."""
        if self._speakers is None:
            speakers: dict[str, set[SessionRef]] = defaultdict(set)
            for ref in self.metadata.sessions:
                for heading in ref.heading_path:
                    for name in heading_speakers(heading):
                        speakers[squash(name)].add(ref)
            self._speakers = speakers
        return self._speakers

    def event_posts(self, key: str) -> frozenset[str]:
        event = self.events.get(key)
        return event.posts if event else frozenset()

    def years_of(self, paths: Iterable[str]) -> set[int]:
        return {y for p in paths for y in self.post_years.get(p, ())}
