"""Post dates: front-matter values in the many shapes blogs write them, or the file name."""

from __future__ import annotations

import datetime as dt
import re
import reprlib

from dateutil import parser as dateparser

from tripsearch.errors import BadInput

# A date at the start of a file name, or right after a "blog__" style prefix: 2016-09-16-…, 20160203-…
_NAME_DATE = re.compile(r"(?:^|__|/)(\d{4})-?(\d{2})-?(\d{2})(?=[-_.T ]|$)")


class BadDate(BadInput):
    """A date value that cannot be read as a date."""


def parse_date(value: object) -> dt.date | None:
    """A front-matter date value → ``date``; ``None`` when missing or empty; ``BadDate`` when unreadable."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            value = str(int(value))  # 20160203 written without quotes
        except (ValueError, OverflowError):  # YAML's .nan and .inf: int() raised straight out of the reader
            raise BadDate(f"unreadable date {value!r}") from None
    if not isinstance(value, str):
        # reprlib: a YAML alias bomb's repr is gigabytes long, and [:200] only cut it after building it
        raise BadDate(f"date is a {type(value).__name__}, not a date: {reprlib.repr(value)}"[:200])
    text = value.strip().strip("'\"")
    if not text:
        return None
    try:
        # dateutil reads every form seen in the wild: 2017-11-28T03:50:56.264Z, 2018-05-18 09:00:30 -0500, …
        return dateparser.isoparse(text).date()
    except (ValueError, OverflowError):
        pass
    try:
        return dateparser.parse(text, fuzzy=False).date()
    except (ValueError, OverflowError) as exc:
        raise BadDate(f"unreadable date {text!r}: {exc}") from None


def date_from_name(path: str) -> dt.date | None:
    """The date a file name starts with (``2016-09-16-tapia.md``, ``20160203-lca.md``), if any."""
    match = _NAME_DATE.search(path)
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
