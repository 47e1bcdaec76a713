"""Front-matter fields → ``PostMeta``, one field at a time.

A field that cannot be read never costs the post: it becomes unknown (``None``, empty) and a warning names the
field and the value ("field 'date': unreadable date '2023-13-45' (…); using 2023-05-04 from the file name").
Every string that leaves this module is NFC (``tripsearch.unicode.nfc``): a YAML escape can still write NFD.
"""

from __future__ import annotations

import datetime as dt
import re
import reprlib
from pathlib import Path

from tripsearch.posts.dates import BadDate, date_from_name, parse_date
from tripsearch.posts.language import detect_language
from tripsearch.records import PostMeta
from tripsearch.unicode import nfc

# Front matter can nest deeply, refer to itself or expand a few hundred bytes into millions of items (YAML
# aliases, a "billion laughs"): flattening it was a RecursionError or minutes of work. Tags and authors
# beyond this many are not metadata, and so is a title or description longer than this; each is copied
# into every passage of the post (embedding text, keyword index), so an unbounded one multiplies.
_MAX_LIST_ITEMS = 100
_MAX_NODES = 10_000
_MAX_FIELD_CHARS = 1000
_DATE_KEYS = ("date", "pubdate", "published", "created")
_TAG_KEYS = ("tags", "tag", "categories", "category", "keywords")
_YES_NO = {"true": True, "yes": True, "1": True, "draft": True, "false": False, "no": False, "0": False, "": False}
_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")  # BCP 47 / POSIX locale shapes: de, de-DE, pt_BR
_SHOW = reprlib.Repr()
_SHOW.maxstring, _SHOW.maxother, _SHOW.maxlist, _SHOW.maxdict, _SHOW.maxlevel = 60, 60, 4, 4, 3


def _show(value: object) -> str:
    """A value as the warning quotes it: short whatever its size (a YAML alias bomb's repr is gigabytes)."""
    return _SHOW.repr(value)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a yes/no value (quote it to make it text)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple, set)):
        return "a list"
    if isinstance(value, (int, float)):
        return "a number"
    return f"a {type(value).__name__}"


class _Fields:
    """The raw front-matter mapping of one post, read field by field; ``warnings`` collects what was not read."""

    def __init__(self, raw: dict):
        self.meta = {str(k).lower(): v for k, v in raw.items()}
        self.warnings: list[str] = []

    def warn(self, key: str, problem: str) -> None:
        self.warnings.append(f"field {key!r}: {problem}")

    def first(self, *keys: str) -> tuple[str, object]:
        """The first of ``keys`` with a value, and its value; ``(keys[0], None)`` when none has one."""
        for key in keys:
            value = self.meta.get(key)
            if value not in (None, "", []) and not (key == "published" and isinstance(value, bool)):
                return key, value  # ("published: false" is the draft flag, not a date)
        return keys[0], None

    def text(self, *keys: str) -> str:
        """A one-line text field; a list, mapping or yes/no value is unknown ("") with a warning."""
        key, value = self.first(*keys)
        if value is None:
            return ""
        if isinstance(value, (bool, dict, list, tuple, set)):
            self.warn(key, f"{_show(value)} is {_kind(value)}, not text; ignored")
            return ""
        text = " ".join(str(value).split())
        if len(text) > _MAX_FIELD_CHARS:  # see _MAX_FIELD_CHARS
            self.warn(key, f"{len(text)} characters; cut to {_MAX_FIELD_CHARS}")
            text = text[:_MAX_FIELD_CHARS]
        return text

    def strings(self, key: str, numbers: bool) -> list[str]:
        """A field that should be text or a list of texts (names, tags), in whatever shape it came.

        ``"a, b"``, ``[a, b]``, ``{name: a}`` and lists of those are read; ``numbers`` says whether a number is
        a value (a tag ``2023``) or a mistake (an author ``42``). Anything else is left out with one warning.
        Iterative and bounded (``_MAX_NODES`` visited, ``_MAX_LIST_ITEMS`` kept): see ``_MAX_LIST_ITEMS``.
        """
        out: list[str] = []
        ignored: list[object] = []
        stack, visited = [self.meta.get(key)], 0
        while stack and len(out) <= _MAX_LIST_ITEMS and visited < _MAX_NODES:
            value = stack.pop()
            visited += 1
            if value is None:
                continue
            if isinstance(value, str):
                out.extend(p[:_MAX_FIELD_CHARS] for p in (p.strip() for p in re.split(r"[,;]", value)) if p)
            elif isinstance(value, dict):
                name = value.get("name") or value.get("title")
                if isinstance(name, str):
                    out.append(name.strip()[:_MAX_FIELD_CHARS])
                elif name and not isinstance(name, bool):
                    stack.append(name)
                else:
                    ignored.append(value)
            elif isinstance(value, (list, tuple, set)):
                stack.extend(reversed(list(value)))  # first item popped first: keep the written order
            elif numbers and isinstance(value, (int, float, dt.date)) and not isinstance(value, bool):
                out.append(str(value))
            else:
                ignored.append(value)
        if ignored:
            self.warn(
                key,
                f"{_show(ignored[0])} is {_kind(ignored[0])}, not a {'tag' if numbers else 'name'}; "
                f"{'ignored' if len(ignored) == 1 else f'{len(ignored)} such values ignored'}",
            )
        if len(out) > _MAX_LIST_ITEMS or stack:
            self.warn(
                key,
                f"more than {_MAX_LIST_ITEMS} values (or nested too deep); kept the first {len(out[:_MAX_LIST_ITEMS])}",
            )
        return out[:_MAX_LIST_ITEMS]

    def date(self, rel_path: str) -> dt.date | None:
        """The post's date; an unreadable or incomplete one falls back to the file name's date, with a warning."""
        key, value = self.first(*_DATE_KEYS)
        try:
            return parse_date(value) or date_from_name(rel_path)
        except BadDate as exc:
            fallback = date_from_name(rel_path)
            then = f"using {fallback.isoformat()} from the file name" if fallback else "date unknown"
            self.warn(key, f"{exc}; {then}")
            return fallback

    def flag(self, key: str) -> bool:
        """A yes/no field; anything else is "no" with a warning."""
        value = self.meta.get(key)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _YES_NO:
            return _YES_NO[value.strip().lower()]
        self.warn(key, f"{_show(value)} is not yes/no; taken as no")
        return False


def _normalise_tag(tag: str) -> str:
    return re.sub(r"\s+", "-", tag.strip().lower().lstrip("#"))


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def _title_from_body(body: str) -> str | None:
    """A post with no title field: its ``#`` heading, or its one ``##`` heading.

    Where several ``##`` headings stand side by side they are the talks, not the post's title: taking the first
    as the title made the splitter drop it as "the title repeated" and file its talk under the one before.
    """
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", body, re.M)
    if match:
        return match[1].strip()
    level_two = re.findall(r"^##\s+(.+?)\s*#*\s*$", body, re.M)
    return level_two[0].strip() if len(level_two) == 1 else None


def _language(fields: _Fields, body: str) -> str:
    key, _ = fields.first("lang", "language", "locale")
    declared = fields.text("lang", "language", "locale")
    if declared and _LANGUAGE_CODE.fullmatch(declared):
        return declared.split("-")[0].split("_")[0].lower()[:8]
    detected = detect_language(body)
    if declared:
        fields.warn(key, f"{_show(declared)} is not a language code; detected {detected!r} from the text")
    return detected


def read_meta(rel_path: str, raw: dict, body: str) -> tuple[PostMeta, tuple[str, ...]]:
    """A post's metadata from its front matter (``raw``), body and file name, and the warnings about it.

    ``body`` should already be NFC (the title may come from its first heading). Never raises for a bad value.
    """
    fields = _Fields(raw)
    title = fields.text("title") or _title_from_body(body) or Path(rel_path).stem
    date = fields.date(rel_path)
    authors = _unique(nfc(a) for key in ("author", "authors") for a in fields.strings(key, numbers=False))
    tags = _unique(nfc(_normalise_tag(t)) for key in _TAG_KEYS for t in fields.strings(key, numbers=True))
    draft = fields.flag("draft") or fields.meta.get("published") is False
    draft = draft or fields.text("status").lower() == "draft"
    meta = PostMeta(
        path=rel_path,  # the file's real name, never rewritten: it is how the file is found again
        title=nfc(title),
        date=date,
        authors=authors,
        tags=tags,
        description=nfc(fields.text("description", "summary", "excerpt", "subtitle")),
        url=nfc(fields.text("url", "permalink", "link", "canonical_url", "canonicalurl")) or None,
        slug=nfc(fields.text("slug")) or None,
        language=_language(fields, body),
        draft=draft,
    )
    return meta, tuple(fields.warnings)
