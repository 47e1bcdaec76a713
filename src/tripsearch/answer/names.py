"""Person names from their shape and a list of given names: in questions, answer sentences and talk headings.

No English NER model can be had offline here (spaCy's models are not on PyPI), so a name is read from its shape —
capitalised words in any script — and, where precision matters, from gender-guesser's dictionary of given names.
Accuracy on real-corpus sentences is measured in ``benchmarks/recognisers.py``.
"""

from __future__ import annotations

import os
import re

from tripsearch.unicode import nfc

# A name word: a capital and lower-case letters in any script ("Lipiński", "Calò"), an initial ("J."), or
# "McDonald"-like; hyphenated and apostrophe parts allowed ("Jean-Luc", "O'Neil").
_NAME_WORD = re.compile(r"^(?:Mc|Mac|O['’])?[^\W\d_](?:[^\W\d_])*(?:[-'’][^\W\d_]+)?$|^[^\W\d_]\.$")


def _is_name_word(word: str, first: bool = True) -> bool:
    if len(word) == 2 and word.isupper() and word.isalpha():
        return first  # initials open a name ("PJ Cabrera"), never end one ("Austin TX")
    if not _NAME_WORD.match(word) or not word[0].isupper():
        return False
    rest = re.sub(r"^(?:Mc|Mac|O['’])", "", word)[1:]
    return rest == "." or all(
        c.islower() or c in "-'’" or (c.isupper() and rest[i - 1] in "-'’") for i, c in enumerate(rest)
    )


_NOT_NAME = frozenset(
    """The A An And Of In On At For With To From By Day Part He She You We They It I His Her Our My Your Their Keynote Talk Session Panel Workshop Opening Closing
    January February March April May June July August September October November December Monday Tuesday
    Wednesday Thursday Friday Saturday Sunday""".split()
)
_TITLES = frozenset({"Dr.", "Dr", "Prof.", "Mr.", "Mrs.", "Ms."})
_ACTS = re.compile(
    r"^(?:['’]s\b|,?\s+(?:[a-z]+(?:ed|s|ing)|gave|said|spoke|told|went|took|made|wrote|ran|began|led|did|had|was|is|"
    r"can|will|would)\b)"
)
_given_names: frozenset[str] | None = None


def given_name(word: str) -> bool:
    """Whether ``word`` is a known given name, from gender-guesser's name dictionary (about 45,000 first names
    from many countries, shipped in the package: nothing is downloaded). Loaded once, on first use."""
    global _given_names
    if _given_names is None:
        _given_names = _load_given_names()
    return word.lower() in _given_names


def _load_given_names() -> frozenset[str]:
    """gender-guesser's names, lower-cased. Its ``Detector`` parses its 48k-line data file line by line (0.6 s
    here, our measurement) and every search of an index needs the names once (talk headings name speakers), so
    the set is kept in the encoder cache folder (``TRIPSEARCH_CACHE``) per gender-guesser version (~20 ms)."""
    import gender_guesser

    from tripsearch.embed.cache import default_cache_dir

    # Keyed by the data file's size and time (importlib.metadata.version alone takes 0.17 s here).
    data = os.stat(os.path.join(os.path.dirname(gender_guesser.__file__), "data", "nam_dict.txt"))
    cached = default_cache_dir() / f"given-names-{data.st_size}-{int(data.st_mtime)}.txt"
    try:
        return frozenset(cached.read_text(encoding="utf-8").split("\n"))
    except OSError:
        pass
    import gender_guesser.detector

    names = frozenset(gender_guesser.detector.Detector(case_sensitive=False).names)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text("\n".join(sorted(names)), encoding="utf-8")
        os.replace(partial, cached)  # whole or not at all: a reader never sees half a list
    except OSError:
        pass  # a read-only cache is fine: the names are parsed again next time
    return names


def person_names(text: str, allow_start: bool = False, strict: bool = False) -> list[str]:
    """Spans that look like a person's name.

    Loose (default): two or three capitalised words ("Godfrey Chan", "Sam Newman") — each one capital and
    lower-case letters (or an initial), none a function word, month or day, and — unless ``allow_start`` —
    not opening the text, where any word is capitalised. For a question, where any unknown name is a signal.
    ``strict``: the first word must be a known given name (``given_name``), or a single given name must be
    followed by an act ("Sarah talked", "Akira's benchmarks"). For answer sentences, where "Fusion Tables" must
    not count. A shape rule and a name list, not a model (no English NER model can be had offline here);
    accuracy is measured in ``benchmarks/recognisers.py``.
    """
    text = nfc(text)
    words = [(m.group(), m.start()) for m in re.finditer(r"[A-Za-z][\w.'’-]*", text)]
    out = []
    i = 0
    while i < len(words):
        run = []
        j = i
        while j < len(words) and words[j][0][0].isupper():
            word = re.sub(r"['’]s$", "", words[j][0]).rstrip(".")
            if not _is_name_word(word, first=not run) or word in _NOT_NAME:
                break
            if run and text[run[-1][1] + len(run[-1][0]) : words[j][1]].strip():
                break  # a comma, dash or bracket between two words ends a name
            run.append((word, words[j][1]))
            j += 1
        if strict:
            # The name starts at its given name: "Next, Sarah", "Remarks - Bryan Liles".
            first = next((k for k, (w, _) in enumerate(run) if given_name(w)), None)
            run = run[first : first + 3] if first is not None else []
        start_ok = allow_start or (run and run[0][1] > 0)
        if 2 <= len(run) <= 3 and start_ok:
            out.append(text[run[0][1] : run[-1][1] + len(run[-1][0])])
        elif strict and len(run) == 1:
            end = run[0][1] + len(run[0][0])
            if _ACTS.match(text[end : end + 20]):
                out.append(run[0][0])
        i = max(j, i + 1)
    return out


_HEADING_PARTS = re.compile(r"\s[-–—|]\s|:\s|,\s|\s\bby\b\s|\s\bwith\b\s|[()\[\]]")


def heading_speakers(heading: str) -> list[str]:
    """Speaker names in a talk heading: a part of it (split at " - ", ": ", ", ", " by ", brackets) that is
    wholly a two- or three-word name starting with a given name ("Turbo Rails with Rust by Godfrey Chan", "Justin Septka - Atlassian").
    A heading of one part is a title, however capitalised ("Postgres Demystified")."""
    parts = [p.strip() for p in _HEADING_PARTS.split(nfc(heading)) if p and p.strip()]
    if len(parts) < 2:
        return []
    return [p for p in parts if person_names(p, allow_start=True, strict=True) == [p]]


def talk_title(heading: str) -> str:
    """The title part of a talk heading, without its speaker and affiliation: "Scaling Prometheus with Thanos
    - Jane Doe, Acme Corp" → "Scaling Prometheus with Thanos". A heading without a speaker is kept whole."""
    speakers = heading_speakers(heading)
    if not speakers:
        return heading
    cut = min(heading.find(s) for s in speakers)
    before = _HEADING_PARTS.split(heading[:cut])
    title = " ".join(p.strip() for p in before if p and p.strip())
    return title or heading
