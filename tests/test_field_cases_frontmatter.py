"""Issue 12: front matter is not all-or-nothing (field cases C13-bad-date and C12-nonyaml-dashes, and more).

A field that cannot be read is unknown, with a warning naming the field (a date falls back to the file name's
date); a date is never filled in from the clock; a block that is not front matter is read as markdown with a
warning, its line numbers those of the file. ``tripsearch index`` prints the warnings, says how many posts had
them, and exits 2 when nothing could be indexed.

Parse-level tests are fast. The index-level ones (marked ``slow``) run the real CLI, with the real model, in a
subprocess on a copy of each case folder, one build per case for the module.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import textwrap
import unicodedata

import pytest
from conftest import SHARED
from reliability_support import fast_encoder, slow  # noqa: F401  (fixtures)

from tripsearch.passages import split_post
from tripsearch.posts import read_folder
from tripsearch.posts.dates import BadDate, parse_date
from tripsearch.posts.reader import parse_post

CASES = SHARED / "field-cases"
C13 = CASES / "C13-bad-date" / "posts"
C12 = CASES / "C12-nonyaml-dashes" / "posts"


def post(text: str, name: str = "post.md"):
    return parse_post(name, textwrap.dedent(text).lstrip("\n").encode())


def sentence_lines(passages, words: str) -> tuple[int, int]:
    """The file lines (first, last) of the sentence that holds ``words``."""
    return sentence_of(passages, words)[1:3]


def sentence_of(passages, words: str) -> tuple[str, int, int, tuple[str, ...]]:
    """(text, first file line, last file line, heading path of its own talk) of the sentence holding ``words``."""
    for p in passages:
        for i, s in enumerate(p.sentences):
            if words in p.text[s.start : s.end]:
                return p.text[s.start : s.end], s.first_line, s.last_line, p.part_of(i).heading_path
    raise AssertionError(f"no sentence holds {words!r}")


@pytest.fixture(scope="module", autouse=True)
def cases_are_here():
    if not (C13.is_dir() and C12.is_dir()):
        pytest.skip(f"the field cases are not here ({CASES})")


# ------------------------------------------------------------------------------------------ C13: a bad date
def test_c13_every_post_is_read_and_a_bad_date_costs_only_the_date():
    result = read_folder(C13)
    assert not result.skipped
    posts = {p.path: p for p in result.posts}
    assert sorted(posts) == ["2023-05-04-craft-conf.md", "devoxx-month13.md", "good-date.md"]

    month13 = posts["devoxx-month13.md"]  # YAML failed the whole block on this timestamp: every field was lost
    assert month13.meta.date is None
    assert (month13.meta.title, month13.meta.authors) == ("Devoxx Belgium 2023", ("Bela Nagy",))
    assert month13.warnings == ("field 'date': unreadable date '2023-13-45' (month must be in 1..12); date unknown",)
    assert month13.body_start_line == 6

    tuesday = posts["2023-05-04-craft-conf.md"]  # was the next Tuesday after the day of indexing
    assert tuesday.meta.date == dt.date(2023, 5, 4)
    assert (tuesday.meta.title, tuesday.meta.authors) == ("Craft Conf 2023", ("Bela Nagy",))
    (warning,) = tuesday.warnings
    assert warning.startswith("field 'date': incomplete date 'tuesday'")
    assert warning.endswith("; using 2023-05-04 from the file name")

    good = posts["good-date.md"]
    assert (good.meta.date, good.warnings) == (dt.date(2023, 3, 2), ())


@pytest.mark.parametrize(
    "value",
    [
        "tuesday",  # C13
        "Tuesday",
        "next friday",
        "yesterday",
        "today",
        "13/45/2023",
        "March 2023",  # month and year, no day
        "2023-03",
        "2023",  # a YAML int
        "'2023'",
        "2 May",  # no year
        "10:00",  # a time, no date
        "2023-02-30",  # YAML timestamp shape, no such day
        "2023-13-45 10:00:00",
        "[2023, 5, 4]",
        "{year: 2023}",
        "true",
        ".nan",
    ],
)
def test_a_date_is_never_completed_or_resolved_against_the_clock(value):
    """Each of these is unknown with a warning naming the field and the value; never a date of today's making."""
    dated = post(f"---\ntitle: T\ndate: {value}\nauthor: Ann\n---\nText.\n", name="2021-06-07-notes.md")
    undated = post(f"---\ntitle: T\ndate: {value}\nauthor: Ann\n---\nText.\n", name="notes.md")
    assert dated.meta.date == dt.date(2021, 6, 7) and undated.meta.date is None
    assert dated.meta.authors == undated.meta.authors == ("Ann",)  # the other fields are kept
    (warning,) = dated.warnings
    assert warning.startswith("field 'date': ") and warning.endswith("; using 2021-06-07 from the file name")
    assert undated.warnings[0].endswith("; date unknown")


@pytest.mark.parametrize("value", ["tuesday", "next friday", "March 2023", "2023", "2023-W10", "13/45/2023"])
def test_parse_date_refuses_what_it_would_have_to_guess(value):
    with pytest.raises(BadDate):
        parse_date(value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Tuesday, 2 May 2023", dt.date(2023, 5, 2)),  # a weekday beside a whole date is fine
        ("2 May 2023", dt.date(2023, 5, 2)),
        ("May 2, 2023 10:00", dt.date(2023, 5, 2)),
        ("05/04/2023", dt.date(2023, 5, 4)),  # dateutil's month-first order, as before
        ("2023.05.04", dt.date(2023, 5, 4)),
        ("20230504", dt.date(2023, 5, 4)),
        (20160203, dt.date(2016, 2, 3)),
        ("2023-W10-2", dt.date(2023, 3, 7)),  # ISO week date with its day
        (dt.date(2020, 1, 2), dt.date(2020, 1, 2)),
    ],
)
def test_whole_dates_in_other_shapes_are_still_read(value, expected):
    assert parse_date(value) == expected


def test_a_published_flag_is_not_a_date():
    p = post("---\ntitle: T\npublished: false\n---\nText.\n", name="2020-01-02-x.md")
    assert (p.meta.date, p.meta.draft, p.warnings) == (dt.date(2020, 1, 2), True, ())


# -------------------------------------------------------------------------- C12: dashes that are not front matter
def test_c12_blocks_that_are_not_front_matter_are_read_as_markdown():
    result = read_folder(C12)
    assert not result.skipped
    posts = {p.path: p for p in result.posts}
    assert sorted(posts) == ["letterhead.md", "rule-first.md"]
    for name, p in posts.items():
        text = (C12 / name).read_text()
        assert p.body == text and p.body_start_line == 1  # the whole file, dashes included
        assert (p.meta.date, p.meta.authors, p.meta.tags) == (None, (), ())
        (warning,) = p.warnings
        assert warning.endswith("; read as markdown")
    assert posts["letterhead.md"].warnings[0].startswith("front matter on lines 1-4 is not YAML (")
    assert posts["rule-first.md"].warnings == (
        "front matter opened on line 1 with --- is never closed; read as markdown",
    )


def test_c12_line_numbers_are_those_of_the_file():
    letterhead = split_post(read_folder(C12).posts[0])
    text = " ".join(p.text for p in letterhead)
    # The letterhead's closing --- under a paragraph is a setext heading underline: it is a heading now.
    headings = " ".join(h for p in letterhead for part in p.parts for h in part.heading_path)
    assert "PLATFORMCON 2024" in headings and "Rita's platform team" in text and "Sven warned" in text
    assert (
        sentence_of(letterhead, "Rita's platform team")[3][-1] == "Golden paths that people actually use - Rita Gomes"
    )
    assert sentence_of(letterhead, "Sven warned")[3][-1] == "Internal developer portals - Sven Olsen"
    assert sentence_lines(letterhead, "Rita's platform team") == (8, 9)
    assert sentence_lines(letterhead, "Sven warned") == (13, 13)
    rule_first = split_post(read_folder(C12).posts[1])
    assert sentence_lines(rule_first, "Quick notes from the DevRelCon") == (3, 3)
    assert sentence_lines(rule_first, "Maya treats documentation") == (7, 8)


@pytest.mark.parametrize(
    "text, problem, line",
    [
        # a TOML block that does not parse (TOML has no such date, so the whole block fails)
        ('+++\ntitle = "KubeCon"\ndate = 2023-13-45\n+++\n\nThe keynote was about cells.\n', "is not TOML (", 6),
        ("+++\n\nA plus rule, then text.\n\n+++\n\nThe keynote was about cells.\n", "is not TOML (", 7),
        ("+++\n\nThe keynote was about cells.\n", "opened on line 1 with +++ is never closed", 3),
        ("---\n- a list\n- not keys\n---\n\nThe keynote was about cells.\n", "is a list, not a mapping of keys", 6),
        ("---\ntitle: [unclosed\n---\n\nThe keynote was about cells.\n", "is not YAML (", 5),
        ("title: [oops\n---\n\nThe keynote was about cells.\n", "is not YAML (", 4),  # Hexo-style, no opening ---
        ("---\n" + "k: v\n" * 20_000 + "---\n\nThe keynote was about cells.\n", "a post header over 64 KiB", 20_004),
    ],
)
def test_a_block_that_does_not_parse_is_markdown_with_a_warning(text, problem, line):
    p = parse_post("2022-02-03-x.md", text.encode())
    (warning,) = p.warnings
    assert problem in warning and warning.startswith("front matter ") and warning.endswith("; read as markdown")
    assert (p.body, p.body_start_line) == (text, 1)
    assert p.meta.date == dt.date(2022, 2, 3)  # the file name still gives the date
    assert sentence_lines(split_post(p), "The keynote was about cells.") == (line, line)


def test_a_yaml_error_names_the_line_of_the_file():
    p = post("---\ntitle: ok\nauthor: Ann\ntags: [a, b\n---\nText.\n")
    assert p.warnings[0].startswith("front matter on lines 1-5 is not YAML (")
    assert ", line 5 column 1)" in p.warnings[0]  # the parser counts from the block: line 4 of it is line 5


def test_one_field_that_is_not_yaml_costs_only_that_field():
    """An unclosed quote in one field: the block does not parse as a whole, so it is read field by field."""
    p = post(
        '---\ntitle: Go at scale\ndate: 2024-02-10\ntags: [go, "unclosed\nauthor: Ana\n---\n## Talk one\n\nText.\n'
    )
    assert (p.meta.title, str(p.meta.date), p.meta.authors) == ("Go at scale", "2024-02-10", ("Ana",))
    assert p.meta.tags == () and p.body.startswith("## Talk one")
    assert p.warnings[0].startswith("front matter on lines 1-6 is not YAML (") and "dropped: tags" in p.warnings[0]


# ------------------------------------------------------------------------------------ other fields, wrong types
def test_fields_of_the_wrong_type_are_unknown_and_the_rest_is_kept():
    p = post(
        """
        ---
        title: [not, a, title]
        date: 2023-04-05
        author: 42
        authors: [Ann Lee, {email: bob@example.org}]
        tags: [python, no, 2023]
        categories: {a: 1}
        draft: [maybe]
        lang: "💥"
        url: {href: x}
        description: Notes
        ---

        # The heading

        The keynote was about cells and how they fail.
        """
    )
    m = p.meta
    assert (m.title, m.date, m.authors, m.description) == ("The heading", dt.date(2023, 4, 5), ("Ann Lee",), "Notes")
    assert m.tags == ("python", "2023") and m.url is None and m.draft is False and m.language == "en"
    warned = [w.split(":")[0] for w in p.warnings]
    assert warned == [
        "field 'title'",
        "field 'author'",
        "field 'authors'",
        "field 'tags'",
        "field 'categories'",
        "field 'draft'",
        "field 'url'",
        "field 'lang'",
    ]
    text = "\n".join(p.warnings)
    assert "field 'author': 42 is a number, not a name; ignored" in text
    assert "field 'tags': False is a yes/no value (quote it to make it text), not a tag; ignored" in text
    assert "detected 'en' from the text" in text


def test_a_good_post_has_no_warnings():
    p = post("---\ntitle: T\ndate: 2023-04-05\nauthor: Ann\ntags: [a, 2023]\ndraft: no\nlang: de-DE\n---\nText.\n")
    assert p.warnings == () and p.meta.tags == ("a", "2023") and p.meta.language == "de"


# ----------------------------------------------------------------------------------------------------- NFC
def test_a_post_written_in_nfd_is_stored_nfc():
    nfd = unicodedata.normalize("NFD", "José Müller")
    assert nfd != "José Müller"
    text = (
        f"---\ntitle: Café {nfd}\nauthor: {nfd}\ntags: [Café]\ndescription: Ünïcödé\n"
        f'slug: "Jos\\u0065\\u0301"\n---\n\n## Crème brûlée\n\n{nfd} talked about café culture.\n'
    )
    p = parse_post("nfd.md", unicodedata.normalize("NFD", text).encode())
    m = p.meta
    assert m.authors == ("José Müller",) and m.title == "Café José Müller" and m.tags == ("café",)
    assert m.description == "Ünïcödé" and m.slug == "José"  # an escape in YAML wrote NFD: normalised too
    assert p.body == unicodedata.normalize("NFC", p.body) and "José Müller talked about café" in p.body
    passages = split_post(p)
    assert passages[0].session_title == "Crème brûlée"
    assert sentence_lines(passages, "José Müller talked") == (11, 11)


# ---------------------------------------------------------------------------- index level: the real CLI, real model
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tripsearch", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def built(tmp_path_factory, fast_encoder):  # noqa: F811  (fast_encoder: the ONNX export exists before the runs)
    """{case: (posts folder, index folder, CompletedProcess of `tripsearch index`)}, one build per case."""
    out = {}
    for name, source in (("C13", C13), ("C12", C12)):
        root = tmp_path_factory.mktemp(name)
        posts = shutil.copytree(source, root / "posts")
        for path in posts.iterdir():
            path.chmod(0o644)  # the shared cases are read-only; the copies need not be
        out[name] = (posts, root / "index", run_cli("index", str(posts), "--index", str(root / "index")))
    return out


@slow
@pytest.mark.parametrize(
    "case, summary, warned",
    [
        (
            "C13",
            "indexed 3 posts (2 with warnings), 0 files skipped;",
            ["2023-05-04-craft-conf.md", "devoxx-month13.md"],
        ),
        ("C12", "indexed 2 posts (2 with warnings), 0 files skipped;", ["letterhead.md", "rule-first.md"]),
    ],
)
def test_index_indexes_every_post_and_says_how_many_had_warnings(built, case, summary, warned):
    posts, index_dir, run = built[case]
    assert run.returncode == 0, run.stderr
    assert summary in run.stdout.splitlines()[-1], run.stdout
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning ")]
    assert sorted({line.split(":")[0].removeprefix("warning ") for line in warnings}) == warned, run.stderr
    assert all("field 'date'" in line or "read as markdown" in line for line in warnings), warnings
    from tripsearch import Index

    index = Index.open(index_dir)
    try:
        assert sorted(index.posts) == sorted(path.name for path in posts.iterdir())  # every post is indexed
    finally:
        index.close()


@slow
def test_a_date_from_the_file_name_passes_date_filters(built):
    _, index_dir, _ = built["C13"]
    run = run_cli(
        "query", "--index", str(index_dir), "--json", "-k", "5", "--since", "2023-05-01", "--until", "2023-05-31",
        "trunk-based development feature flags",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    hits = json.loads(run.stdout)["hits"]
    assert [h["path"] for h in hits] == ["2023-05-04-craft-conf.md"]  # devoxx (date unknown) and March left out
    assert hits[0]["date"] == "2023-05-04"


@slow
def test_index_exits_2_when_nothing_could_be_indexed(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a post")
    run = run_cli("index", str(empty), "--index", str(tmp_path / "i1"))
    assert run.returncode == 2 and f"no .md/.markdown files in {empty}" in run.stderr, run.stderr
    assert not (tmp_path / "i1").exists()  # refused before anything was written

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.md").write_text("")
    (bad / "binary.md").write_bytes(b"\x89PNG\x00\x00")
    run = run_cli("index", str(bad), "--index", str(tmp_path / "i2"))
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "skipped empty.md: empty file" in run.stderr and "skipped binary.md:" in run.stderr
    assert "indexed 0 posts (0 with warnings), 2 files skipped;" in run.stdout
    assert f"no post in {bad} could be indexed" in run.stderr

    (bad / "good.md").write_text("---\ntitle: Good\ndate: someday\n---\n\nThe keynote was about cells.\n")
    run = run_cli("index", str(bad), "--index", str(tmp_path / "i2"))  # one post is enough, warned about or not
    assert run.returncode == 0, run.stderr
    assert "indexed 1 posts (1 with warnings), 2 files skipped;" in run.stdout


def test_chunks_shows_the_warnings():
    run = run_cli("chunks", str(C13))
    assert run.returncode == 0, run.stderr
    assert "warning devoxx-month13.md: field 'date': unreadable date '2023-13-45'" in run.stderr
    assert "warning 2023-05-04-craft-conf.md: field 'date': incomplete date 'tuesday'" in run.stderr
    assert "3 posts read (2 with warnings), 0 files skipped" in run.stdout
    as_json = json.loads(run_cli("chunks", "--json", str(C12 / "rule-first.md")).stdout)
    assert as_json["summary"]["posts_with_warnings"] == 1
    assert as_json["posts"][0]["warnings"] == [
        "front matter opened on line 1 with --- is never closed; read as markdown"
    ]
