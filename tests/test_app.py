"""The Streamlit app, driven in-process by Streamlit's own AppTest: ask, filter, the messages, re-index.

Every test also checks that the script raised nothing (``at.exception`` is empty): a user must see a
message, never a traceback.
"""

from __future__ import annotations

import html
import re
import shutil
import sys

import pytest
from conftest import ROOT, SAMPLE_POSTS
from streamlit.testing.v1 import AppTest

APP = ROOT / "app.py"
LAMBDA_QUESTION = "How did the payments company cut Lambda cold starts?"
# "*title* — `path:start-end`": the heading line of each passage shown under "Passages"
PASSAGE_LINE = re.compile(r"^\*[^*].* — `(?P<path>[^`]+):\d+-\d+`$")
CITATION = re.compile(r"(?P<path>[\w.-]+\.(?:md|markdown)):(?P<start>\d+)-(?P<end>\d+)")


# ---------------------------------------------------------------- helpers


def start(monkeypatch, posts, index) -> AppTest:
    """The app on ``posts``/``index`` (given as the README says: env vars), after its first run."""
    monkeypatch.setenv("TRIPSEARCH_POSTS", str(posts))
    monkeypatch.setenv("TRIPSEARCH_INDEX", str(index))
    monkeypatch.setattr(sys, "argv", ["app.py"])  # the app also reads --posts/--index; not pytest's own argv
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    assert_no_exception(at)
    return at


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def widget(elements, label: str):
    found = [e for e in elements if e.label == label]
    assert len(found) == 1, (label, [e.label for e in elements])
    return found[0]


def ask(at: AppTest, question: str) -> AppTest:
    at.text_input[0].input(question)
    widget(at.button, "Ask").click()
    at.run()
    assert_no_exception(at)
    return at


def plain(markdown: str) -> str:
    """What a reader sees of a markdown string: backslash escapes and HTML entities resolved."""
    return html.unescape(re.sub(r"\\(.)", r"\1", markdown))


def values(elements) -> list[str]:
    return [plain(e.value) for e in elements]


def shown_passages(at: AppTest) -> list[tuple[str, str]]:
    """(file, text) of every passage listed under "Passages" (not the related talks): a heading line, then the text."""
    markdown = [plain(e.value) for e in at.main.markdown]
    return [(m["path"], markdown[i + 1]) for i, m in enumerate(map(PASSAGE_LINE.match, markdown)) if m]


def shown_passage_files(at: AppTest) -> list[str]:
    return [path for path, _ in shown_passages(at)]


def citations(at: AppTest) -> list[re.Match]:
    """``file:lines`` of each answer sentence (the captions under the quoted sentences)."""
    return [m for c in values(at.main.caption) for m in CITATION.finditer(c)]


@pytest.fixture
def sample_app(monkeypatch, sample_index_dir):
    return start(monkeypatch, SAMPLE_POSTS, sample_index_dir)


@pytest.fixture
def index_copy(sample_index_dir, tmp_path):
    """A private copy of the sample index, to break or to update."""
    return shutil.copytree(sample_index_dir, tmp_path / "index")


# ---------------------------------------------------------------- asking


def test_question_shows_answer_sentence_with_citation(sample_app):
    at = ask(sample_app, LAMBDA_QUESTION)
    assert [s.value for s in at.subheader] == ["Answer", "Passages"]
    quoted = [plain(m.value)[2:] for m in at.main.markdown if m.value.startswith("> ")]
    assert quoted, "no answer sentence shown"
    cited = citations(at)
    assert cited and cited[0]["path"] == "2023-11-28-reinvent-day-1.md", values(at.main.caption)
    # The cited lines of the file hold the sentence shown above the citation.
    lines = (SAMPLE_POSTS / cited[0]["path"]).read_text(encoding="utf-8").split("\n")
    cited_text = " ".join(lines[int(cited[0]["start"]) - 1 : int(cited[0]["end"])])
    words = re.findall(r"\w+", quoted[0])
    assert " ".join(words[:4]) in " ".join(re.findall(r"\w+", cited_text)), (quoted[0], cited_text)
    assert "cold" in quoted[0]  # a sentence of the cold-start talk (which one is the learned ranker's choice)
    assert any(c.startswith("confidence ") for c in values(at.main.caption))
    assert shown_passage_files(at)[0] == "2023-11-28-reinvent-day-1.md"
    assert not at.error and not at.warning and not at.info


def test_empty_question_shows_no_results_and_no_message(sample_app):
    at = sample_app
    assert at.text_input[0].label == "Question"
    assert not at.subheader and not at.error and not at.warning and not at.info
    assert any("7 posts" in c for c in values(at.sidebar.caption))


# ---------------------------------------------------------------- filters


def test_author_filter_keeps_only_that_authors_posts(sample_app):
    at = sample_app
    widget(at.sidebar.selectbox, "Author").select("Priya Raman")
    at = ask(at, "What did they learn about cutting costs?")
    files = shown_passage_files(at)
    assert files and set(files) == {"kubecon-eu-2024.md"}, files
    assert {c["path"] for c in citations(at)} <= {"kubecon-eu-2024.md"}


def test_tag_filter_keeps_only_tagged_posts(sample_app):
    at = sample_app
    widget(at.sidebar.selectbox, "Tag").select("python")
    at = ask(at, "What did they say about testing?")
    files = shown_passage_files(at)
    assert files and set(files) == {"2019-05-14-pycon-us.markdown"}, files


def test_keyword_mode_shows_only_passages_with_the_word(sample_app):
    at = sample_app
    widget(at.sidebar.radio, "Mode").set_value("keyword")
    at = ask(at, "SnapStart")
    shown = shown_passages(at)
    assert shown and all("SnapStart" in text for _, text in shown), shown  # keyword search matches words only
    files = shown_passage_files(at)
    assert set(files) == {"2023-11-28-reinvent-day-1.md"}
    # The same question in dense mode brings semantically close passages without the word as well.
    widget(at.sidebar.radio, "Mode").set_value("dense")
    at.run()
    assert_no_exception(at)
    assert len(shown_passage_files(at)) > len(files)


# ---------------------------------------------------------------- messages


def test_no_index_yet(monkeypatch, tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    at = start(monkeypatch, SAMPLE_POSTS, index)
    assert len(at.info) == 1 and "No index yet" in at.info[0].value
    assert "Re-index posts folder" in at.info[0].value
    assert not at.error and not at.text_input  # nothing to ask yet


def test_no_index_folder_at_all(monkeypatch, tmp_path):
    at = start(monkeypatch, SAMPLE_POSTS, tmp_path / "missing")
    assert len(at.info) == 1 and "No index yet" in at.info[0].value


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _overwrite(path):
    path.write_bytes(b"this is not a faiss index\n" * 100)


@pytest.mark.parametrize(
    "file, damage",
    [("passages.sqlite", _truncate), ("vectors.faiss", _overwrite), ("sentences.faiss", _truncate)],
    ids=["truncated-database", "overwritten-vectors", "truncated-sentence-vectors"],
)
def test_broken_index_shows_an_error(monkeypatch, index_copy, file, damage):
    generation = index_copy / (index_copy / "CURRENT").read_text().strip()
    damage(generation / file)
    at = start(monkeypatch, SAMPLE_POSTS, index_copy)
    assert len(at.error) == 1, values(at.error)
    assert "cannot be opened" in at.error[0].value and file in at.error[0].value
    assert "Re-index posts folder" in at.error[0].value
    assert not at.text_input


@pytest.mark.parametrize("pointer", ["gen-does-not-exist\n", "../elsewhere\n"])
def test_current_pointing_nowhere_shows_an_error(monkeypatch, index_copy, pointer):
    (index_copy / "CURRENT").write_text(pointer)
    at = start(monkeypatch, SAMPLE_POSTS, index_copy)
    assert len(at.error) == 1 and "cannot be opened" in at.error[0].value, values(at.error)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_filters_that_exclude_everything_say_so(sample_app, mode):
    at = sample_app
    widget(at.sidebar.selectbox, "Author").select("Priya Raman")
    widget(at.sidebar.selectbox, "Post").select("2023-11-28-reinvent-day-1.md")  # Dana Kowalski's post
    widget(at.sidebar.radio, "Mode").set_value(mode)
    at = ask(at, LAMBDA_QUESTION)
    assert len(at.warning) == 1 and "No passages match" in at.warning[0].value
    assert not at.subheader and not at.error


def test_abstains_when_the_reports_never_mention_it(sample_app):
    at = ask(sample_app, "What did they say about Strimzi?")
    assert len(at.info) == 1 and "don't seem to answer" in at.info[0].value
    assert "Strimzi" in at.info[0].value
    assert "Answer" not in [s.value for s in at.subheader]
    assert not any(m.value.startswith("> ") for m in at.main.markdown)  # no answer sentence
    assert not at.error and not at.warning


# ---------------------------------------------------------------- re-index from the UI

NEW_POST = """---
title: "NordicJS 2024: a day in Oslo"
date: 2024-09-05
author: Ingrid Solberg
tags: [javascript, conferences]
---

## Offline-first ferry tickets - Magnus Haugen

Magnus Haugen from Fjordline Ferries showed how their ticket app keeps working without signal at sea.
They store every ticket in IndexedDB and sync with a conflict-free replicated data type when the ship reaches port.
Support calls about missing tickets fell by 70 percent in the first summer.
"""


def test_reindex_from_the_sidebar_picks_up_a_new_post(monkeypatch, tmp_path, sample_index_dir):
    from tripsearch.build import update_index

    posts = shutil.copytree(SAMPLE_POSTS, tmp_path / "posts")  # copy2: same sizes and mtimes
    index = shutil.copytree(sample_index_dir, tmp_path / "index")  # the sample index, reused as built
    assert update_index(posts, index).nothing_changed  # … and up to date with this folder
    at = start(monkeypatch, posts, index)
    assert any("7 posts" in c for c in values(at.sidebar.caption))

    (posts / "2024-09-05-nordicjs.md").write_text(NEW_POST, encoding="utf-8")
    widget(at.sidebar.button, "Re-index posts folder").click()
    at.run()
    assert_no_exception(at)
    assert len(at.sidebar.success) == 1, values(at.sidebar.success)
    summary = at.sidebar.success[0].value
    assert "indexed 8 posts" in summary and "+1 ~0 -0 posts" in summary, summary
    assert not at.sidebar.error and not at.sidebar.warning
    assert any("8 posts" in c for c in values(at.sidebar.caption))
    assert "Ingrid Solberg" in widget(at.sidebar.selectbox, "Author").options

    at = ask(at, "How did the ferry company keep tickets working without signal at sea?")
    assert not at.info and not at.warning and not at.error
    assert citations(at) and citations(at)[0]["path"] == "2024-09-05-nordicjs.md", values(at.main.caption)
    assert shown_passage_files(at)[0] == "2024-09-05-nordicjs.md"


def test_reindex_failure_is_a_message(monkeypatch, tmp_path):
    at = start(monkeypatch, tmp_path / "no-such-posts", tmp_path / "index")
    widget(at.sidebar.button, "Re-index posts folder").click()
    at.run()
    assert_no_exception(at)
    assert len(at.sidebar.error) == 1 and "Re-index failed" in at.sidebar.error[0].value
    assert "no-such-posts" in at.sidebar.error[0].value
    assert len(at.info) == 1 and "No index yet" in at.info[0].value


def test_why_this_answer_shows_the_signals_for_an_answer_and_an_abstention(sample_app):
    at = ask(sample_app, LAMBDA_QUESTION)
    why = [e for e in at.main.expander if e.label == "Why this answer?"]
    assert len(why) == 1
    lines = values(why[0].markdown)
    assert lines and lines[0].startswith("- answered: confidence"), lines
    assert any("confidence=" in c and "s_cosine=" in c for c in values(why[0].caption))
    at = ask(at, "What did Priya Raman say at KubeCon 2019?")
    why = [e for e in at.main.expander if e.label == "Why this answer?"]
    assert len(why) == 1
    assert any("no report covers KubeCon 2019" in line for line in values(why[0].markdown))
