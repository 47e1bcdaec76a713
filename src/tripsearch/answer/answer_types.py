"""What kind of answer a question wants, and whether a sentence holds that kind of thing.

``expected_type(question)`` → ``AnswerType``: quantity/count, money, percentage, date, person, organisation,
talk, reason, procedure or none, from the question's wh-phrase. ``recognise(sentence)`` → ``Recognised``:
the spans of a sentence that are quantities (a number with a unit or a counted noun), amounts of money,
percentages, dates, person names, organisation names and talk titles.

Why regular expressions and not a library, for numbers, money and percentages: quantulum3 (the PyPI library
for quantities) was measured here — 3–4 s to import and 7–10 s for its first parse (it builds its unit
tables), its bundled classifier does not load under our scikit-learn, and warm it takes 1–8 ms a sentence;
the recognisers below take ~0.3–0.5 ms and reach the accuracy in ``benchmarks/recognisers.py``. Dates use the
same approach after dateparser's ``search_dates`` (false dates on "We", "at 10–15%", "2 hours") and
datefinder were compared in that benchmark. Names: no English NER model can be had offline (spaCy models
are not on PyPI), so a name is read from its shape (see ``vocabulary.person_names``), with measured accuracy.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from tripsearch.answer.names import person_names
from tripsearch.unicode import nfc

TYPES = ("quantity", "money", "percentage", "date", "person", "organisation", "talk", "reason", "procedure", "none")
# The kinds of span that answer each type; reason/procedure/none ask for no particular span.
SATISFIED_BY = {
    "quantity": ("quantity", "money", "percentage"),
    "money": ("money", "percentage"),  # "how much did costs go down?" is answered by "by 22 percent"
    "percentage": ("percentage",),
    "date": ("date",),
    "person": ("person",),
    "organisation": ("organisation",),
    "talk": ("talk",),
}


@dataclass(frozen=True)
class AnswerType:
    """The answer a question wants: ``kind`` (one of ``TYPES``) and the question words that say so."""

    kind: str
    cue: str = ""

    @property
    def wants_span(self) -> bool:
        return self.kind in SATISFIED_BY


_MONEY_NOUNS = r"(?:cost|costs|price|prices|priced|pay|paid|charge|charged|spend|spent|fee|fees|ticket|tickets|budget|salary|funding|raise|raised|revenue|worth)"
_RULES: list[tuple[str, re.Pattern]] = [
    (
        "percentage",
        re.compile(
            r"\b(?:what|which|by\s+what|how\s+big\s+a|how\s+large\s+a)\s+(?:percentage|percent|share|proportion|fraction|ratio)\b|\bhow\s+many\s+percent\b|\bwhat\s+%",
            re.I,
        ),
    ),
    (
        "money",
        re.compile(
            rf"\bhow\s+much\b(?=[^?]*\b{_MONEY_NOUNS}\b)|\bhow\s+much\s+(?:money|did\s+it\s+cost)|\bwhat\s+(?:was|is|were|are)\s+the\s+(?:price|cost|fee)s?\b|\b(?:in|how\s+many)\s+(?:dollars|euros|pounds)\b",
            re.I,
        ),
    ),
    (
        "quantity",
        re.compile(
            r"\bhow\s+(?:many|much|long|big|large|fast|far|old|often|heavy|tall|wide|high|quickly|slow)\b|\bwhat\s+(?:number|amount|size|speed|rate)\b|\bwhat\s+was\s+the\s+(?:attendance|turnout|size)\b",
            re.I,
        ),
    ),
    (
        "date",
        re.compile(
            r"(?:^|,|\band)\s*when(?:['’]s\b|\s+(?:did|was|were|is|are|does|do|will|would|had|has|can|could|should)\b)|\bwhat\s+(?:year|date|day|month|time)\b|\bwhich\s+(?:year|date|day|month)\b|\bhow\s+long\s+ago\b|\bsince\s+when\b",
            re.I,
        ),
    ),
    (
        "talk",
        re.compile(
            r"\b(?:which|what)\s+(?:(?!(?:did|does|do|was|were|is|are|had|has)\b)[\w:.-]+\s+){0,3}?(?:talks?|sessions?|presentations?|keynotes?|workshops?|lightning\s+talks?|tutorials?)\b(?!\s+(?:about|say|said))",
            re.I,
        ),
    ),
    (
        "person",
        re.compile(
            r"^\s*who\b|\bwho\s+(?:gave|was|is|were|did|presented|spoke|talked|advocated|said|wrote|organi[sz]ed|led|ran|won)\b|\bwhose\b|\bwhom\b|\b(?:which|what)\s+(?:\w+\s+)?(?:speaker|person|presenter|author|keynoter|developer|engineer|panelist|people)\b|\bname\s+of\s+the\s+(?:speaker|presenter|person)\b",
            re.I,
        ),
    ),
    (
        "organisation",
        re.compile(
            r"\b(?:which|what)\s+(?:\w+\s+)?(?:company|companies|organi[sz]ations?|firm|vendor|startup|business|team|employer|sponsor|bank|retailer|agency|publisher)\b|\bwho\s+sponsored\b",
            re.I,
        ),
    ),
    (
        "reason",
        re.compile(
            r"^\s*why\b|\bwhy\b|\bwhat\s+(?:was|is|were)\s+the\s+reasons?\b|\bfor\s+what\s+reason\b|\bwhat\s+(?:caused|broke|made)\b|\bhow\s+come\b",
            re.I,
        ),
    ),
    (
        "procedure",
        re.compile(
            r"\bhow\s+(?:did|do|does|can|could|should|would|to|might|is|are|was|were)\b|\bwhat\s+(?:steps|approach|technique|method)s?\b|\bwhat\s+is\s+the\s+(?:first\s+)?(?:\w+\s+)?step\b",
            re.I,
        ),
    ),
]


def expected_type(question: str) -> AnswerType:
    """The kind of answer ``question`` wants, from its first wh-phrase: the rule whose match starts first wins
    ("Which company ..., and how much did it save?" asks for a company); at the same place, the order of
    ``_RULES`` (money and percentage before plain quantity: "how much did the ticket cost" is money; "how
    much did it save" is money only with a money word, else quantity)."""
    text = nfc(question or "")
    found = []
    for order, (kind, pattern) in enumerate(_RULES):
        m = pattern.search(text)
        if m:
            found.append((m.start(), order, kind, m.group(0).strip()))
    if not found:
        return AnswerType("none")
    _, _, kind, cue = min(found)
    return AnswerType(kind, cue)


# -- recognisers -------------------------------------------------------------------------------------------
_NUM = r"(?:\d{1,3}(?:[,.\u202f ]\d{3})+|\d+(?:[.,]\d+)?)"
_SCALE = r"(?:\s?(?:k|K|m|M|bn|B|million|billion|thousand|hundred|milion|mln)\b)?"
_CURRENCY = r"(?:USD|EUR|GBP|CHF|PLN|JPY|dollars?|euros?|pounds?|bucks|cents?|EUR|US\$)"
MONEY = re.compile(
    rf"[$€£¥]\s?{_NUM}{_SCALE}|\b{_NUM}{_SCALE}\s?(?:{_CURRENCY})\b|\b(?:USD|EUR|GBP|CHF)\s?{_NUM}{_SCALE}|{_NUM}\s?[€£]"
)
PERCENT = re.compile(
    rf"(?:~|\bover\s|\babout\s)?{_NUM}(?:\s?[-–]\s?{_NUM})?\s?(?:%|\s?percent\b|\s?per\s?cent\b|\s?pct\b)"
)
_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
DATE = re.compile(
    rf"\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:\s?[-–]\s?\d{{1,2}})?(?:,?\s+\d{{4}})?\b"  # August 15, 2015
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\b(?:,?\s+\d{{4}})?"  # 15 August 2015
    rf"|\b{_MONTHS}\s+(?:of\s+)?\d{{4}}\b"  # December 2018
    rf"|\b(?:in|since|until|by|from|during)\s+(?P<month>{_MONTHS}\b(?:\s+\d{{4}})?)"  # in April, in December 2018
    r"|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"  # 2017-04-19, 4/19/2017
    r"|(?<![\w.])(?:19[6-9]\d|20[0-4]\d)(?![\w.]|\.\d|\s+[a-z]+s\b)"  # a year; not 3.2019, "2000 attendees"
    r"|\b\d{1,2}(?:[:.]\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.)(?!\w)",  # 5.45pm
    re.I,
)
_NUMBER_WORDS = r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred|hundreds|thousand|thousands|dozen|dozens|a\s+dozen|millions)"
# A number that counts or measures something: digits (or a number word) followed by a word or a glued unit.
# Not a year, a version ("Ruby 2.0", "v1.6.2", "Perl6"), an ordinal ("4th"), a label ("day 2", "part 3",
# "RFC 7234", "802.11") or a time of day.
QUANTITY = re.compile(
    rf"(?<![\w.$€£#-])(?:~\s?|about\s|over\s|nearly\s|almost\s|around\s|some\s|up\s+to\s)?{_NUM}"
    rf"(?:\s?[-–]\s?{_NUM})?{_SCALE}\+?"  # a range: 20-30 minutes
    r"(?:\s?(?:x|×)\s?\S+|\s?°\s?[CF]\b|\s?[a-zA-Zµ]{1,12}\b)"
    rf"|\b{_NUMBER_WORDS}\s+(?:of\s+)?(?!of\b|and\b|or\b|to\b|in\b|the\b|a\b)[a-z]{{3,}}",
    re.I,
)
_LABEL_BEFORE = re.compile(
    r"\b(?:day|part|step|chapter|version|v|rfc|iso|python|ruby|rails|java|perl|php|django|windows|android|ios|no\.?|"
    r"number|top|page|room|track|episode|season|level|item|jdk|node|go|kubernetes)\s$",
    re.I,
)
_NOT_UNIT = re.compile(r"^(?:st|nd|rd|th|am|pm|and|or|to|of|in|on|at|for|the|a|an|is|was|were|are|s)$", re.I)
_ORG_SUFFIX = re.compile(
    r"\b(?:Inc|Corp|Corporation|Ltd|LLC|GmbH|AG|plc|Labs|Technologies|Systems|Software|Security|Solutions|Group|Foundation|Institute|University|Bank|Airways|Airlines|Studios|Media|Networks|Services)\b"
)
_NOT_ORG = frozenset(
    """I The A An This That These Those It He She We They You My Our Their His Her Its In On At For With By From
    If When While After Before During Then So But And Or Also As Day Part Talk Keynote Session Monday Tuesday
    Wednesday Thursday Friday Saturday Sunday January February March April May June July August September
    October November December Next First Finally Also However""".split()
)
QUOTED = re.compile(r"[“\"‘']([^”\"’']{8,120})[”\"’']")
TITLE_RUN = re.compile(
    r"(?:\b[A-Z][\w'’-]*(?:\s+(?:of|the|a|an|and|in|on|for|to|with|vs\.?|&)\s+|\s+|:\s+)){2,}[A-Z][\w'’-]*"
)


@dataclass(frozen=True)
class Recognised:
    """Spans ``(start, end)`` of ``text`` for each kind of thing found in it."""

    text: str
    spans: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)

    def has(self, kind: str) -> bool:
        return bool(self.spans.get(kind))

    def values(self, kind: str) -> list[str]:
        return [self.text[a:b] for a, b in self.spans.get(kind, ())]


def _quantities(text: str, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for m in QUANTITY.finditer(text):
        a, b = m.span()
        if any(a < tb and ta < b for ta, tb in taken):
            continue
        head = text[max(0, a - 12) : a]
        if (head and (head[-1].isalpha() or head[-1] in "#:")) or _LABEL_BEFORE.search(head):
            continue  # glued to a word (Perl6, go1.7), or a label (day 2, RFC 7234, Ruby 2.0)
        num = re.match(rf"(?:~\s?|about\s|over\s|nearly\s|almost\s|around\s|some\s|up\s+to\s)?{_NUM}", m.group(0), re.I)
        if num:
            digits = num.group(0)
            unit = m.group(0)[len(digits) :].strip()
            yearlike = re.fullmatch(r"(?:19|20)\d\d", digits.strip())
            if (yearlike and not re.fullmatch(r"[a-z]+s", unit)) or _NOT_UNIT.match(unit):
                continue
            if re.match(r"\.\d", text[b : b + 2]) or re.search(r"\d\.\d+\.\d", m.group(0)):
                continue  # 802.11, 1.6.2: identifiers and versions
        out.append((a, b))
    return out


def _organisations(text: str, people: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Proper names that are not people: capitalised, inner-capital or all-capital words and runs of them
    ("Amazon Web Services", "StockX", "VMware", "CNCF", "Punk Security"). Without a knowledge base a company
    cannot be told from a product by its shape ("Terraform"), so this is a high-recall, low-precision
    recogniser: its use is the negative — a sentence with no proper name cannot name the company."""
    out = []
    for m in _PROPER_RUN.finditer(text):
        a, b = m.span()
        first = m.group(0).split()[0]
        if first in _NOT_ORG or any(a < pb and pa < b for pa, pb in people):
            continue
        if a == 0 or text[:a].rstrip().endswith((".", "!", "?", ":", "-", "—", "“", '"')):
            if not (_ORG_SUFFIX.search(m.group(0)) or any(c.isupper() for c in first[1:])):
                continue  # an ordinary capitalised word opening a sentence
        out.append((a, b))
    return out


_PROPER_RUN = re.compile(
    r"(?<![\w$./-])(?:[A-Z][a-z]*[A-Z][\w]*|[A-Z][a-z][\w&]+|[A-Z]{2,6})(?:\s(?:[A-Z][a-z]*[A-Z][\w]*|[A-Z][a-z][\w&]+|[A-Z]{2,6}))*"
    r"(?![\w/-])"
)


@functools.lru_cache(maxsize=4096)
def recognise(sentence: str) -> Recognised:
    """Find money, percentages, dates, quantities, person and organisation names, and talk titles in a
    sentence. About 0.3 ms a sentence (``benchmarks/recognisers.py``), cached by text; never raises."""
    text = nfc(sentence or "")
    money = [m.span() for m in MONEY.finditer(text)]
    percent = [m.span() for m in PERCENT.finditer(text)]
    dates = [m.span("month") if m.group("month") else m.span() for m in DATE.finditer(text)]
    quantity = _quantities(text, money + percent + dates)
    people = []
    cursor = 0
    for name in person_names(text, allow_start=True, strict=True):
        a = text.find(name, cursor)
        if a >= 0:
            people.append((a, a + len(name)))
            cursor = a + len(name)
    orgs = _organisations(text, people)
    talks = [m.span(1) for m in QUOTED.finditer(text) if len(m.group(1).split()) >= 2]
    talks += [m.span() for m in TITLE_RUN.finditer(text) if m.start() > 0 and len(m.group(0).split()) >= 3]
    spans = {
        "money": money,
        "percentage": percent,
        "date": dates,
        "quantity": quantity,
        "person": people,
        "organisation": orgs,
        "talk": talks,
    }
    return Recognised(text, {k: tuple(v) for k, v in spans.items() if v})


def answers_type(answer_type: AnswerType, found: Recognised, session_title: str = "") -> bool | None:
    """Whether a sentence (``found``) holds the kind of thing ``answer_type`` asks for; None when the type
    asks for no particular span (reason, procedure, none). A talk is also answered by the passage's talk
    heading (``session_title``): the title of the talk a sentence sits in names the talk."""
    kinds = SATISFIED_BY.get(answer_type.kind)
    if kinds is None:
        return None
    if answer_type.kind == "talk" and session_title.strip():
        return True
    return any(found.has(k) for k in kinds)


def type_signals(answer_type: AnswerType, sentences: list[Recognised], session_titles: list[str] = ()) -> dict:
    """Flat features: the expected type (one-hot) and the share of candidate sentences that hold it.

    ``sentences``: the recognised candidate answer sentences, best first; ``session_titles``: their talks'
    headings (same order). ``t_first_has`` is whether the best sentence holds the type (0.5 when the type
    asks for no span), ``t_any_has`` whether any does, ``t_share_has`` the share that do."""
    titles = list(session_titles) + [""] * (len(sentences) - len(session_titles))
    hits = [answers_type(answer_type, r, t) for r, t in zip(sentences, titles)]
    out = {f"t_is_{k}": float(answer_type.kind == k) for k in TYPES}
    if answer_type.wants_span and hits:
        out["t_first_has"] = float(bool(hits[0]))
        out["t_any_has"] = float(any(hits))
        out["t_share_has"] = sum(map(bool, hits)) / len(hits)
    else:
        out["t_first_has"] = out["t_any_has"] = out["t_share_has"] = 0.5 if not answer_type.wants_span else 0.0
    return out


def type_reason(answer_type: AnswerType, sentences: list[Recognised], session_titles: list[str] = ()) -> str:
    """A line for ``--explain``: what the question asks for and whether the best sentences hold it."""
    if not answer_type.wants_span:
        return f"the question asks for {answer_type.kind}" if answer_type.kind != "none" else ""
    titles = list(session_titles) + [""] * (len(sentences) - len(session_titles))
    hits = [answers_type(answer_type, r, t) for r, t in zip(sentences, titles)]
    label = {"organisation": "an organisation", "talk": "a talk", "person": "a person", "date": "a date"}.get(
        answer_type.kind, f"a {answer_type.kind}"
    )
    if any(hits):
        return f"the question asks for {label} (“{answer_type.cue}”); {sum(map(bool, hits))} of the best sentences hold one"
    return f"the question asks for {label} (“{answer_type.cue}”); none of the best sentences holds one"
