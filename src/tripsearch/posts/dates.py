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


# The ISO 8601 shapes that write a whole date (isoparse also takes "2023", "2023-03" and "2023-W10", and fills
# in the missing month or day: those are incomplete dates, see parse_date).
_ISO_FULL_DATE = re.compile(r"(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}-?W\d{2}-?\d)(?!\d)")
# dateutil's parse() fills every part a string leaves out from its ``default`` (today's date when not given):
# "tuesday" became the next Tuesday after the day of indexing, "March 2023" the 1st or today's day of the month.
# Two defaults that differ in year, month, day and weekday give two different results exactly when a part was
# missing, so a date is accepted only when both agree.
_DEFAULTS = (dt.datetime(2000, 1, 1), dt.datetime(2001, 2, 2))


def parse_date(value: object) -> dt.date | None:
    """A front-matter date value → ``date``; ``None`` when missing or empty.

    A date needs its year, month and day written out: nothing is filled in from the clock. ``tuesday``,
    ``March 2023``, ``2023``, ``yesterday`` and ``2023-13-45`` raise ``BadDate`` (a ``BadInput``), as do values
    of the wrong type (a list, a mapping, a bool). Accepted: YAML/TOML dates and datetimes, ISO 8601
    (``2017-11-28T03:50:56.264Z``, ``20160203``), and the shapes dateutil reads with all three parts
    (``2018-05-18 09:00:30 -0500``, ``2 May 2023``, ``05/04/2023`` = 4 May, dateutil's month-first order).
    """
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
    shown = reprlib.repr(text)
    if _ISO_FULL_DATE.match(text):
        try:
            # dateutil reads every form seen in the wild: 2017-11-28T03:50:56.264Z, 2018-05-18 09:00:30 -0500, …
            return dateparser.isoparse(text).date()
        except (ValueError, OverflowError):
            pass
    try:
        first, second = (dateparser.parse(text, default=d, fuzzy=False) for d in _DEFAULTS)
    except (ValueError, OverflowError, TypeError) as exc:
        reason = str(exc).split(":")[0]  # dateutil repeats the whole value after the colon
        raise BadDate(f"unreadable date {shown} ({reason})") from None
    if first.date() != second.date():
        raise BadDate(f"incomplete date {shown}: a date needs its year, month and day written out")
    return first.date()


def date_from_name(path: str) -> dt.date | None:
    """The date a file name starts with (``2016-09-16-tapia.md``, ``20160203-lca.md``), if any."""
    match = _NAME_DATE.search(path)
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
