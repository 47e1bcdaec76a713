"""Ask: answer sentences with citations that point at the right lines of the real files, and abstention."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from conftest import DEV_QUESTIONS

from tripsearch.evaluate import load_questions, normalise
from tripsearch.passages.sentences import sentence_spans


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", normalise(text))


def assert_cited_lines_hold(sentence, corpus):
    """The cited line range of the file, cleaned of markup, contains the sentence's words in order."""
    c = sentence.citation
    lines = (corpus / c.path).read_text(encoding="utf-8").split("\n")
    assert 1 <= c.start_line <= c.end_line <= len(lines)
    cited = " ".join(_words("\n".join(lines[c.start_line - 1 : c.end_line])))
    words = _words(sentence.text)
    assert " ".join(words[:4]) in cited and " ".join(words[-4:]) in cited, (sentence.text, c)


def test_answer_sentence_with_citation(real_index, real_corpus):
    answer = real_index.ask("Which company replaced Cassandra with Aurora, and how much did it save?")
    assert not answer.abstained and 1 <= len(answer.sentences) <= 3
    top = answer.sentences[0]
    assert "Expedia" in top.text or "Cassandra" in top.text
    assert top.citation.path.startswith("kubecloud-kaspernissen__2017-11-28")
    assert top.citation.post_title and top.citation.date
    assert_cited_lines_hold(top, real_corpus)
    assert real_index.passage(top.passage_id).text[top.start : top.end] == top.text
    hit = next(h for h in answer.hits if top.passage_id in h.passage_ids)  # a block may hold several windows
    assert any(hit.text[a:b] == top.text for a, b in hit.highlights)
    assert 0.0 <= answer.confidence <= 1.0


def test_citations_point_at_the_right_lines_of_the_real_files(real_index, real_corpus):
    questions = [q for q in load_questions(DEV_QUESTIONS) if q.answerable][:20]
    cited = 0
    for q in questions:
        answer = real_index.ask(q.question)
        for sentence in answer.sentences:
            assert_cited_lines_hold(sentence, real_corpus)
            cited += 1
    assert cited >= 15


def test_abstains_when_the_reports_do_not_say(real_index):
    # Questions off every report's topic. (A near miss — "the boiling point of tungsten in kelvin", where one
    # report covers a replication tool called Tungsten — is answered since the confidence is fitted by CV: the
    # near-miss class issue 11 leaves open.)
    for question in ("What is the boiling point of water in kelvin?", "How many moons does Jupiter have?"):
        answer = real_index.ask(question)
        assert answer.abstained and answer.sentences == () and answer.reason, question
    empty = real_index.ask("conference", author="nobody-wrote-this")
    assert empty.abstained and "filters" in empty.reason


def test_filters_apply_to_answers(real_index):
    answer = real_index.ask("what did the keynote announce?", tag="reinvent", k=5)
    assert answer.hits and all("reinvent" in h.tags for h in answer.hits)


def test_related_talks_come_from_other_posts(real_index):
    source = next(p for p in real_index.passages if "Aurora" in p.text and "Cassandra" in p.text)
    related = real_index.related(source.id, k=5)
    assert len(related) == 5
    assert all(h.path != source.post.path for h in related)
    assert len({h.path for h in related}) == 5
    assert any(re.search(r"database|Aurora|RDS|Postgres|Cassandra|DynamoDB", h.text) for h in related)


def test_sentence_splitter_handles_abbreviations_urls_versions_lists():
    text = (
        "Dr. Smith showed v2.0.1 of Node.js at 9 a.m. today. See https://example.com/a.b for slides!\n- one item\n- two"
    )
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Dr. Smith showed v2.0.1 of Node.js at 9 a.m. today.",
        "See https://example.com/a.b for slides!",
        "- one item",
        "- two",
    ]


def test_cli_ask_json_and_plain_output(sample_index_dir):
    base = [sys.executable, "-m", "tripsearch", "ask", "--index", str(sample_index_dir)]
    out = subprocess.run(
        base + ["--json", "How did the payments company cut Lambda cold starts?"],
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(out.stdout)
    assert not answer["abstained"] and answer["answer"]
    first = answer["answer"][0]
    assert first["citation"]["path"] == "2023-11-28-reinvent-day-1.md"
    assert first["citation"]["url"] == "https://example.org/blog/reinvent-2023-day-1"
    plain = subprocess.run(base + ["SnapStart cold start"], capture_output=True, text=True, check=True).stdout
    assert "\x1b[" not in plain  # no colour codes when piped
    assert "2023-11-28-reinvent-day-1.md:" in plain
