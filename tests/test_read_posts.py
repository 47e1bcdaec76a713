"""Reading posts: every front-matter style and date format seen in the wild, and the files that can't be read."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from tripsearch.posts import read_folder
from tripsearch.posts.dates import date_from_name, parse_date
from tripsearch.posts.reader import parse_post


def post(text: str, name: str = "post.md"):
    return parse_post(name, textwrap.dedent(text).lstrip("\n").encode())


def test_yaml_front_matter():
    p = post(
        """
        ---
        title: "re:Invent Day 1"
        date: 2012-04-24
        author: Dana Kowalski
        tags: [AWS, Serverless]
        categories:
          - Conference Reports
        description: Notes from day one
        url: https://example.org/reinvent-1
        slug: reinvent-1
        draft: false
        ---

        Body text here.
        """
    )
    m = p.meta
    assert (m.title, m.date, m.authors) == ("re:Invent Day 1", dt.date(2012, 4, 24), ("Dana Kowalski",))
    assert m.tags == ("aws", "serverless", "conference-reports")
    assert (m.description, m.url, m.slug, m.draft) == (
        "Notes from day one",
        "https://example.org/reinvent-1",
        "reinvent-1",
        False,
    )
    assert p.body_start_line == 13
    assert p.body.split("\n")[1] == "Body text here."


def test_toml_front_matter():
    p = post(
        """
        +++
        title = "KubeCon EU"
        date = 2010-05-21T10:00:00+01:00
        authors = ["Priya Raman", "Tom Berger"]
        tags = ["kubernetes"]
        draft = true
        +++
        Body.
        """
    )
    assert p.meta.title == "KubeCon EU"
    assert p.meta.date == dt.date(2010, 5, 21)
    assert p.meta.authors == ("Priya Raman", "Tom Berger")
    assert p.meta.draft is True
    assert p.body_start_line == 8 and p.body.startswith("Body.")


def test_hexo_front_matter_without_opening_dashes():
    p = post(
        """
        title: Devoxx aftermath
        date: 2014-05-06 09:53:28
        categories: events
        tags:
        - devoxx
        ---

        Thousands of developers.
        """
    )
    assert p.meta.title == "Devoxx aftermath"
    assert p.meta.date == dt.date(2014, 5, 6)
    assert p.meta.tags == ("devoxx", "events")
    assert p.body_start_line == 7


def test_pelican_header_lines():
    p = post(
        """
        Title: linux.conf.au - Day 2
        Date: 2018-05-18 09:00:30 -0500
        Category: Tech
        Tags: linuxconfau, conferences
        Author: Kunal

        Day 2! I hopped around quite a bit.
        """
    )
    assert p.meta.title == "linux.conf.au - Day 2"
    assert p.meta.date == dt.date(2018, 5, 18)
    assert p.meta.tags == ("linuxconfau", "conferences", "tech")
    assert p.meta.authors == ("Kunal",)
    assert p.body.strip() == "Day 2! I hopped around quite a bit."
    assert p.body_start_line == 6


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2012-04-24", dt.date(2012, 4, 24)),
        ("'2017-11-28T03:50:56.264Z'", dt.date(2017, 11, 28)),
        ("2010-05-21T10:00:00+01:00", dt.date(2010, 5, 21)),
        ("2014-05-06 09:53:28", dt.date(2014, 5, 6)),
        ("2018-05-18 09:00:30 -0500", dt.date(2018, 5, 18)),
    ],
)
def test_every_date_format_in_yaml(value, expected):
    assert post(f"---\ntitle: t\ndate: {value}\n---\nx\n").meta.date == expected


def test_date_values_and_file_names():
    assert parse_date("") is None and parse_date(None) is None
    assert parse_date(dt.datetime(2020, 1, 2, 3, 4)) == dt.date(2020, 1, 2)
    assert date_from_name("2016-09-16-tapia-conference.md") == dt.date(2016, 9, 16)
    assert date_from_name("legoktm__20160203-linuxconfauday.md") == dt.date(2016, 2, 3)
    assert date_from_name("notes.md") is None
    p = post("---\ntitle: t\ndate:\n---\nx\n", name="2019-06-03-js-conf-eu.md")
    assert p.meta.date == dt.date(2019, 6, 3)


def test_a_date_that_is_a_list_is_unknown_with_a_warning():
    # Issue 12: was UnreadablePost (the whole post skipped); now only the field is lost, and said so.
    p = post("---\ntitle: t\ndate: [1, 2]\n---\nx\n")
    assert p.meta.date is None and p.meta.title == "t"
    assert p.warnings == ("field 'date': date is a list, not a date: [1, 2]; date unknown",)


def test_no_front_matter_takes_title_from_heading():
    p = post("# My trip to FOSDEM\n\nIt was cold.\n", name="fosdem.md")
    assert p.meta.title == "My trip to FOSDEM"
    assert p.meta.date is None and p.body_start_line == 1


def test_german_post_language():
    p = post(
        """
        ---
        title: DevOpsDays Berlin
        ---
        Nach zwei Jahren Pause fand die Konferenz endlich wieder vor Ort statt, und das Format mit Vorträgen
        am Vormittag hat wieder wunderbar funktioniert. Hier meine Notizen zu den Vorträgen.
        """
    )
    assert p.meta.language == "de"
    assert post("---\ntitle: t\nlang: de-DE\n---\nHello there, this is English.\n").meta.language == "de"


def test_bad_files_are_reported_and_never_stop_the_run(tmp_path):
    (tmp_path / "good.md").write_text("---\ntitle: Good\n---\nA good post.\n")
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "latin1.md").write_bytes("---\ntitle: Caf\xe9\n---\nd\xe9j\xe0 vu\n".encode("latin-1"))
    (tmp_path / "broken.md").write_text("---\ntitle: [unclosed\ndate: 2020-01-01\n---\nbody\n")
    (tmp_path / "unclosed.md").write_text("---\ntitle: never closed\nbody\n")
    (tmp_path / "notes.txt").write_text("not a post")
    sub = tmp_path / "2019"
    sub.mkdir()
    (sub / "nested.markdown").write_text("---\ntitle: Nested\n---\nDeeper.\n")
    result = read_folder(tmp_path)
    # Issue 12: a header that does not parse, or never closes, no longer skips the file: it is read as markdown.
    posts = {p.path: p for p in result.posts}
    assert sorted(posts) == ["2019/nested.markdown", "broken.md", "good.md", "unclosed.md"]
    assert posts["broken.md"].warnings[0].startswith("front matter on lines 1-4 is not YAML (")
    assert posts["unclosed.md"].warnings == (
        "front matter opened on line 1 with --- is never closed; read as markdown",
    )
    assert posts["good.md"].warnings == ()
    reasons = {s.path: s.reason for s in result.skipped}
    assert reasons["empty.md"] == "empty file"
    assert "binary" in reasons["binary.md"]
    assert "invalid UTF-8" in reasons["latin1.md"] and "line 2" in reasons["latin1.md"]
    assert len(result.skipped) == 3


def test_symlink_loop_is_not_followed(tmp_path):
    (tmp_path / "a.md").write_text("---\ntitle: A\n---\nText.\n")
    (tmp_path / "loop").symlink_to(tmp_path)
    result = read_folder(tmp_path)
    assert [p.path for p in result.posts] == ["a.md"]


def test_post_entries_list_post_files_in_their_order(tmp_path):
    """``post_entries`` (strings, for the build's scan) and ``post_files`` (Paths) name the same files in Path
    order, hidden folders and symlink loops left out, names not UTF-8 printable."""
    import os

    from tripsearch.posts.reader import post_entries, post_files, post_name

    for rel in ("a/b.md", "a-c.md", "a/z/y.markdown", "B.MD", ".hidden/x.md", "a/notes.txt", "top.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("# T\n\ntext\n", encoding="utf-8")
    os.symlink(tmp_path / "a", tmp_path / "a" / "z" / "loop")
    (tmp_path / os.fsdecode(b"bad-\xff.md")).write_text("# T\n\ntext\n", encoding="utf-8")
    entries = post_entries(tmp_path)
    assert entries == [(post_name(p, tmp_path), str(p)) for p in post_files(tmp_path)]
    assert [rel for rel, _ in entries] == ["B.MD", "a/b.md", "a/z/y.markdown", "a-c.md", "bad-\\xff.md", "top.md"]
