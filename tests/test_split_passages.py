"""Splitting posts into passages: cleaning, talk detection, windows and line numbers, on fixtures of our own."""

from __future__ import annotations

import textwrap

from tripsearch.passages import split_post
from tripsearch.passages.clean import markdown_blocks
from tripsearch.posts.reader import parse_post


def passages_of(text: str, name: str = "post.md"):
    raw = textwrap.dedent(text).lstrip("\n")
    return split_post(parse_post(name, raw.encode())), raw.split("\n")


def sentences(n: int, topic: str) -> str:
    return " ".join(f"Sentence {i} is about {topic} and it has a few more words in it." for i in range(n))


def test_html_is_reduced_to_text_and_scripts_never_survive():
    blocks = markdown_blocks(
        textwrap.dedent(
            """
            <div class="post">
            <h2>Fuzzing talk</h2>
            <p>Joaquín found <em>seven</em> crashes &amp; fixed them.<script>alert('xss')</script></p>
            <img src=x onerror="alert('xss')">
            <table><tr><th>Talk</th><th>Speaker</th></tr><tr><td>Fuzzing</td><td>Joaquín</td></tr></table>
            </div>
            """
        ),
        1,
    )
    assert [(b.kind, b.text) for b in blocks] == [
        ("heading", "Fuzzing talk"),
        ("text", "Joaquín found seven crashes & fixed them."),
        ("table", "Talk | Speaker\nTalk: Fuzzing | Speaker: Joaquín"),  # cells below a header carry its names
    ]
    assert blocks[0].level == 2 and blocks[0].start_line == 3


def test_markdown_cleaning_links_images_emphasis_shortcodes_code():
    body = textwrap.dedent(
        """
        {{< figure src="/images/a.jpg" title="x" >}}
        Intro with a [link](https://example.org) and ![a picture](p.png) and **bold** _text_.
        <!-- more -->
        {% img left /images/b.jpg %}
        Second paragraph `inline code` here.

        ```python
        def f(x):
            return x * 2
        ```
        """
    ).lstrip("\n")
    blocks = markdown_blocks(body, 10)
    assert [(b.kind, b.text) for b in blocks] == [
        ("text", "Intro with a link and and bold text."),
        ("text", "Second paragraph inline code here."),
        ("code", "def f(x):\n    return x * 2"),
    ]
    assert blocks[0].start_line == 11  # the shortcode's line is kept, so the paragraph is still on line 2
    assert blocks[1].start_line == 14
    assert blocks[2].start_line == 17 and blocks[2].end_line == 18


def test_nested_day_and_talk_headings():
    ps, lines = passages_of(
        f"""
        ---
        title: KubeCon
        ---
        # KubeCon

        ## Day one

        ### Scaling platforms - Ines Carvalho

        {sentences(5, "platform teams")}

        ### eBPF without the hype - Jonas

        {sentences(5, "eBPF")}

        ## Day two

        ### Sampling traces - Amara

        {sentences(5, "tail sampling")}
        """
    )
    assert [p.heading_path for p in ps] == [
        ("Day one", "Scaling platforms - Ines Carvalho"),
        ("Day one", "eBPF without the hype - Jonas"),
        ("Day two", "Sampling traces - Amara"),
    ]
    assert [p.session_title for p in ps] == [
        "Scaling platforms - Ines Carvalho",
        "eBPF without the hype - Jonas",
        "Sampling traces - Amara",
    ]
    assert all("KubeCon" not in p.text for p in ps)  # the title repeated as a heading is not a talk
    assert lines[ps[1].start_line - 1] == "### eBPF without the hype - Jonas"
    assert "eBPF" in lines[ps[1].end_line - 1]
    assert [p.ordinal for p in ps] == [0, 1, 2]
    assert len({p.id for p in ps}) == 3


def test_bold_lines_as_headings():
    ps, lines = passages_of(
        f"""
        ---
        title: Strange Loop
        ---
        **Why we rewrote our parser in Rust**
        {sentences(4, "parsers")}

        ***Languages and tools***

        {sentences(4, "tools")}

        **_Closing keynote_**

        {sentences(4, "keynotes")}
        """
    )
    assert [p.session_title for p in ps] == [
        "Why we rewrote our parser in Rust",
        "Languages and tools",
        "Closing keynote",
    ]
    assert "parsers" in ps[0].text and "**" not in ps[0].text
    assert lines[ps[1].start_line - 1] == "***Languages and tools***"


def test_headingless_post_is_split_by_paragraphs_into_windows():
    paragraphs = "\n\n".join(sentences(6, f"topic {n}") for n in range(6))
    ps, _ = passages_of(f"---\ntitle: Notes\n---\n{paragraphs}\n")
    assert len(ps) >= 3
    for p in ps:
        assert 60 <= p.word_count <= 250
        assert p.text.rstrip().endswith(".")  # never cut mid-sentence
        assert p.session_title == "" and p.heading_path == ()


def test_long_talk_windows_keep_the_title_and_overlap():
    ps, lines = passages_of(
        f"""
        ---
        title: re:Invent
        ---
        ## SVC301 - Cold starts

        {sentences(12, "cold starts")}

        {sentences(12, "SnapStart")}

        {sentences(12, "provisioned concurrency")}
        """
    )
    assert len(ps) >= 3
    assert {p.session_title for p in ps} == {"SVC301 - Cold starts"}
    assert all(p.word_count <= 250 for p in ps)
    for a, b in zip(ps, ps[1:]):
        assert b.start_line >= a.start_line
    assert lines[ps[0].start_line - 1] == "## SVC301 - Cold starts"


def test_a_heading_with_a_line_under_it_merges_with_a_neighbour():
    ps, _ = passages_of(
        f"""
        ---
        title: Conf
        ---
        ## First talk

        {sentences(5, "first")}

        ## Tiny talk

        Slides are online.

        ## Third talk

        {sentences(5, "third")}
        """
    )
    assert [p.session_title for p in ps] == ["First talk", "Third talk"]
    assert "Tiny talk\nSlides are online." in ps[0].text


def test_german_post_splits_into_sentences():
    ps, _ = passages_of(
        "---\ntitle: Rückblick\nlang: de\n---\n## Vortrag\n\n"
        + " ".join(
            f"Team {i} hat z. B. Prometheus eingesetzt und die Kosten um {i} Prozent gesenkt." for i in range(40)
        )
    )
    assert len(ps) >= 2
    assert all(p.text.endswith("Prozent gesenkt.") and p.word_count <= 250 for p in ps)
    assert all(p.text.startswith("Team ") for p in ps)  # "z. B." is an abbreviation, not a sentence end
