"""Showing results to people: safe HTML for a passage with its answer sentences highlighted.

Post content is untrusted. Everything from a post is HTML-escaped here, so a ``<script>`` or an
``<img onerror=…>`` inside a post is shown as text and never runs; only our own ``<mark>`` tags are markup.
"""

from __future__ import annotations

import html
import re

from tripsearch.records import Citation, Hit

# Markdown (and Streamlit's $…$ maths) would still read these in escaped text: links, emphasis, code.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]{}#|~$!>+-])")


def escape(text: str) -> str:
    """Text from a post, made inert for a markdown renderer that allows HTML."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", html.escape(text, quote=False))  # text, never attributes: quotes are safe


def highlighted_html(text: str, spans=()) -> str:
    """``text`` escaped, with each (start, end) span wrapped in ``<mark>``, line breaks kept."""
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        out.append(escape(text[last:start]))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        last = end
    out.append(escape(text[last:]))
    return "".join(out).replace("\n", "<br>")


def where(hit: Hit | Citation) -> str:
    """``file:lines`` of a hit or citation."""
    return f"{hit.path}:{hit.start_line}-{hit.end_line}"


def talks_line(hit: Hit) -> str:
    """The talks a hit holds, each with its lines: "Rust in the kernel 3-6 · Telemetry on a cubesat 7-8"."""
    return " · ".join(f"{t.session_title or '(introduction)'} {t.start_line}-{t.end_line}" for t in hit.talks)


def citation_line(c: Citation) -> str:
    date = c.date.isoformat() if c.date else "undated"
    title = f"{c.post_title} › {c.session_title}" if c.session_title else c.post_title
    return f"{title} ({date}), {where(c)}"


def group_by_post(hits: list[Hit]) -> list[tuple[str, list[Hit]]]:
    """Hits grouped by post, posts in the order of their best hit."""
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.path, []).append(hit)
    return list(groups.items())
