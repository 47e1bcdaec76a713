"""Markdown (with raw HTML and blog-engine tags) → a list of readable ``Block``s that remember their lines.

markdown-it parses the markdown and tells us each block's source lines; BeautifulSoup reduces raw HTML
to text. What a reader is shown: prose without markup, links as their text, no images, code kept as code.
"""

from __future__ import annotations

import bisect
import html as htmllib
import re
from dataclasses import dataclass
from operator import itemgetter

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from markdown_it import MarkdownIt

PSEUDO_LEVEL = 7  # bold lines used as headings rank below every real heading level
_MD = MarkdownIt("commonmark", {"html": True}).enable("table")
# Hugo {{< … >}} / {{% … %}}, Jekyll/Hexo/Liquid {% … %}: tags, not prose. Removed, newlines kept.
# A tag never spans another opener: with ``.*?`` alone, every unclosed opener scanned to the end of the
# post, so 30,000 stray "{{<" took 86 s (quadratic); now each scan stops at the next opener.
_TEMPLATE_TAG = re.compile(r"\{\{[<%](?:(?!\{\{).)*?[%>]\}\}|\{%(?:(?!\{%).)*?%\}", re.S)
_HIDDEN_HTML = ["script", "style", "noscript", "template", "iframe", "object", "svg"]
_HTML_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "blockquote",
    "pre",
    "li",
    "dd",
    "dt",
    "figcaption",
    "figure",
    "header",
    "footer",
    "aside",
    "center",
    "tr",
    "table",
    "ul",
    "ol",
    "dl",
    "main",
    "nav",
    "details",
}
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_MAX_PSEUDO_HEADING_WORDS = 16
# Raw HTML nested deeper than this is read as flat text. BeautifulSoup's tree building is quadratic in
# depth (5,000 nested <div> took 5 s) and our walk recursed once per level (a RecursionError that lost
# the post). Hand-written HTML in a post nests a few levels, not hundreds.
_MAX_HTML_DEPTH = 200
_HTML_TAG = re.compile(r"<(/?)([A-Za-z][\w:-]*)[^<>]*?(/?)>")  # [^<>]: a scan never runs past the next tag
_VOID_TAGS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}
_HIDDEN_HTML_CONTENT = re.compile(
    r"<(script|style|noscript|template|iframe|object|svg)\b[^<>]*>(?:(?!<\1\b).)*?</\1\s*>", re.S | re.I
)


@dataclass(frozen=True)
class Block:
    """A paragraph, list item, heading, code block or table row group, as clean text."""

    kind: str  # "heading", "text", "item", "code", "table"
    text: str
    marks: tuple[tuple[int, int], ...]  # (char offset in text, 1-based file line), offsets ascending
    level: int = 0  # headings: 1–6, or PSEUDO_LEVEL for a bold line standing as a heading
    header_rows: int = 0  # tables: how many leading rows (lines of ``text``) are the header, not data

    @property
    def start_line(self) -> int:
        return self.marks[0][1]

    @property
    def end_line(self) -> int:
        return self.marks[-1][1]

    def line_at(self, offset: int) -> int:
        """The file line holding character ``offset`` of ``text``."""
        # key=, not a list of offsets built per call: that was quadratic (a 50,000-row table took 7 minutes).
        i = bisect.bisect_right(self.marks, offset, key=itemgetter(0)) - 1
        return self.marks[max(i, 0)][1]

    @property
    def words(self) -> int:
        return len(self.text.split())


class _TextBuilder:
    """Accumulates text with collapsed whitespace, recording where each source line begins."""

    def __init__(self, line: int):
        self.parts: list[str] = []
        self.length = 0
        self.marks: list[tuple[int, int]] = [(0, line)]
        self.pending_space = False

    def add(self, text: str) -> None:
        if not text:
            return
        lead, words, trail = text[:1].isspace(), text.split(), text[-1:].isspace()
        if not words:
            self.pending_space = True
            return
        if self.length and (self.pending_space or lead):
            self.parts.append(" ")
            self.length += 1
        joined = " ".join(words)
        self.parts.append(joined)
        self.length += len(joined)
        self.pending_space = trail

    def new_line(self, line: int) -> None:
        self.pending_space = True
        offset = self.length + (1 if self.length else 0)
        if self.marks[-1][0] == offset or (self.marks[-1][0] == 0 and not self.length):
            self.marks[-1] = (self.marks[-1][0], line)
        else:
            self.marks.append((offset, line))

    def text(self) -> str:
        return "".join(self.parts)


def strip_template_tags(body: str) -> str:
    """Remove Hugo shortcodes and Jekyll/Hexo tags, keeping every newline so lines still match."""
    return _TEMPLATE_TAG.sub(lambda m: "\n" * m[0].count("\n"), body)


def _inline(children, first_line: int, skip_first_lines: int = 0) -> tuple[str, tuple]:
    builder = _TextBuilder(first_line)
    line, hidden = first_line, None
    for child in children or ():
        kind = child.type
        if kind in ("softbreak", "hardbreak"):
            line += 1
            builder.new_line(line)
        elif hidden:
            if kind == "html_inline" and child.content.lower().startswith(f"</{hidden}"):
                hidden = None
        elif kind in ("text", "code_inline"):
            builder.add(child.content)
        elif kind == "html_inline":
            tag = re.match(r"<\s*([a-zA-Z0-9]+)", child.content)
            if tag and tag[1].lower() in _HIDDEN_HTML:
                hidden = tag[1].lower()
            elif tag and tag[1].lower() == "br":
                builder.add(" ")
    return builder.text(), tuple(builder.marks)


def _first_line_is_emphasis(children) -> int | None:
    """If a paragraph's first line is wholly bold/italic, how many inline tokens it spans."""
    depth, seen_text = 0, False
    for i, child in enumerate(children or ()):
        if child.type in ("strong_open", "em_open"):
            depth += 1
        elif child.type in ("strong_close", "em_close"):
            depth -= 1
        elif child.type in ("softbreak", "hardbreak"):
            return i if seen_text and depth == 0 else None
        elif child.type in ("text", "code_inline"):
            if child.content.strip():
                if depth == 0:
                    return None
                seen_text = True
        elif child.type not in ("html_inline", "link_open", "link_close"):
            return None
    return len(children) if seen_text and depth == 0 else None


def _paragraph_blocks(inline, first_line: int, in_item: bool) -> list[Block]:
    children = inline.children or []
    split = None if in_item else _first_line_is_emphasis(children)
    blocks = []
    if split is not None:
        title, marks = _inline(children[:split], first_line)
        title = title.strip(" :–-")
        if title and len(title.split()) <= _MAX_PSEUDO_HEADING_WORDS:
            blocks.append(Block("heading", title, marks, PSEUDO_LEVEL))
            children = children[split + 1 :]
            first_line += 1
            if not children:
                return blocks
    text, marks = _inline(children, first_line)
    if text.strip():
        if in_item:
            text = "- " + text
            marks = ((0, marks[0][1]),) + tuple((o + 2, line) for o, line in marks[1:])
        blocks.append(Block("item" if in_item else "text", text, marks))
    return blocks


def _html_text(node: Tag) -> str:
    return " ".join(node.get_text(" ").split())


def _too_deep(html: str) -> bool:
    depth = 0
    for match in _HTML_TAG.finditer(html):
        if match[1]:
            depth = max(depth - 1, 0)
        elif not match[3] and match[2].lower() not in _VOID_TAGS:
            depth += 1
            if depth > _MAX_HTML_DEPTH:
                return True
    return False


def _without_comments(html: str) -> str:
    """HTML comments removed, their newlines kept (so source lines still match).

    Python's html.parser rescans to the end of the text for every unclosed ``<!--`` (quadratic: 30,000 of
    them took 34 s); comments are dropped from the text anyway, so they are cut out first, in one pass.
    An unclosed comment hides the rest of the block, as it does in a browser.
    """
    out, pos = [], 0
    while (start := html.find("<!--", pos)) >= 0:
        end = html.find("-->", start + 4)
        end = len(html) if end < 0 else end + 3
        out += [html[pos:start], "\n" * html.count("\n", start, end)]
        pos = end
    out.append(html[pos:])
    return "".join(out)


def _flat_html_block(html: str, first_line: int) -> list[Block]:
    """HTML too deeply nested to parse as a tree, as one block of its text (see ``_MAX_HTML_DEPTH``)."""
    text = _HTML_TAG.sub(" ", _HIDDEN_HTML_CONTENT.sub(" ", html))
    text = " ".join(htmllib.unescape(text).split())
    return [Block("text", text, ((0, first_line),))] if text else []


def _html_blocks(html: str, first_line: int) -> list[Block]:
    """Raw HTML → blocks; headings inside it stay headings. Scripts and styles are dropped."""
    html = _without_comments(html)
    if _too_deep(html):
        return _flat_html_block(html, first_line)
    soup = BeautifulSoup(html, "html.parser")
    for hidden in soup(_HIDDEN_HTML):
        hidden.decompose()
    blocks: list[Block] = []
    pending: list[str] = []
    pending_line = [first_line]

    def line_of(node) -> int:
        line = getattr(node, "sourceline", None) or 1
        return first_line + line - 1

    def flush() -> None:
        text = " ".join(" ".join(pending).split())
        if text:
            blocks.append(Block("text", text, ((0, pending_line[0]),)))
        pending.clear()

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                if str(child).strip():
                    if not pending:
                        pending_line[0] = line_of(child.parent) if child.parent is not soup else first_line
                    pending.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if name in _HEADING_TAGS:
                flush()
                text = _html_text(child)
                if text:
                    blocks.append(Block("heading", text, ((0, line_of(child)),), int(name[1])))
            elif name in ("ul", "ol") and not child.find(_HEADING_TAGS):
                flush()
                for item in child.children:
                    if isinstance(item, Comment):
                        continue
                    text = _html_text(item) if isinstance(item, Tag) else " ".join(str(item).split())
                    if not text:
                        continue
                    if isinstance(item, Tag) and item.name.lower() == "li":
                        blocks.append(Block("item", "- " + text, ((0, line_of(item)),)))
                    else:  # text straight inside <ul>, outside any <li>, used to be dropped
                        blocks.append(
                            Block("text", text, ((0, line_of(item) if isinstance(item, Tag) else line_of(child)),))
                        )
            elif name == "table":
                flush()
                trs = [tr for tr in child.find_all("tr") if _html_text(tr)]
                rows = [[_html_text(c) for c in tr.find_all(["td", "th"])] for tr in trs]
                # A first row of <th> cells only is the header row (HTML has no other sure sign of one).
                header = int(bool(trs) and not trs[0].find("td") and bool(trs[0].find("th")))
                if rows:
                    text = "\n".join(table_lines(rows, header))
                    blocks.append(Block("table", text, ((0, line_of(child)),), header_rows=header))
            elif name == "pre":
                flush()
                code = child.get_text().strip("\n")
                if code.strip():
                    blocks.append(Block("code", code, ((0, line_of(child)),)))
            elif name in _HTML_BLOCK_TAGS or child.find(_HEADING_TAGS):
                flush()
                walk(child)
                flush()
            elif name == "br":
                pending.append(" ")
            else:
                if not pending:
                    pending_line[0] = line_of(child)
                pending.append(child.get_text(" "))

    walk(soup)
    flush()
    return blocks


def table_lines(rows: list[list[str]], header_rows: int) -> list[str]:
    """Table rows as lines of text, cells joined by " | ".

    Below a header row, each cell is labelled with its column's name ("p99 latency: 429 ms"): a row is
    read alone (in a window far from the header, as an answer sentence, by BM25 and the encoder) and must
    still say what its values are.
    """
    names = rows[header_rows - 1] if header_rows else []
    lines = []
    for n, cells in enumerate(rows):
        if n >= header_rows and names:
            cells = [
                f"{names[k]}: {cell}" if k < len(names) and names[k].strip() and cell.strip() else cell
                for k, cell in enumerate(cells)
            ]
        lines.append(" | ".join(cells))
    return lines


def _table_block(tokens, start: int, first_line: int) -> tuple[Block | None, int]:
    rows, lines, row, i = [], [], [], start
    header, in_head = 0, False
    while tokens[i].type != "table_close":
        token = tokens[i]
        if token.type in ("thead_open", "thead_close"):
            in_head = token.type == "thead_open"  # a GFM table's first row is always its header
        elif token.type == "tr_open":
            row, row_line = [], first_line + token.map[0] if token.map else first_line
        elif token.type == "inline":
            row.append(_inline(token.children, first_line)[0])
        elif token.type == "tr_close" and any(c.strip() for c in row):
            rows.append(row)
            lines.append(row_line)
            header += in_head
        i += 1
    if not rows:
        return None, i
    texts, marks, offset = table_lines(rows, header), [], 0
    for text, line in zip(texts, lines):
        marks.append((offset, line))
        offset += len(text) + 1
    return Block("table", "\n".join(texts), tuple(marks), header_rows=header), i


def markdown_blocks(body: str, body_start_line: int) -> list[Block]:
    """Clean a post body into blocks; ``body_start_line`` is the file line the body starts on."""
    tokens = _MD.parse(strip_template_tags(body))
    blocks: list[Block] = []
    item_depth, i = 0, 0
    while i < len(tokens):
        token = tokens[i]
        line = body_start_line + token.map[0] if token.map else body_start_line
        kind = token.type
        if kind == "heading_open":
            text, marks = _inline(tokens[i + 1].children, line)
            if text.strip():
                blocks.append(Block("heading", text.strip(), marks, int(token.tag[1])))
            i += 2
        elif kind == "paragraph_open":
            blocks.extend(_paragraph_blocks(tokens[i + 1], line, item_depth > 0))
            i += 2
        elif kind == "list_item_open":
            item_depth += 1
        elif kind == "list_item_close":
            item_depth -= 1
        elif kind in ("fence", "code_block"):
            code = token.content.rstrip("\n")
            first = line + (1 if kind == "fence" else 0)
            if code.strip():
                marks, offset = [], 0
                for n, code_line in enumerate(code.split("\n")):
                    marks.append((offset, first + n))
                    offset += len(code_line) + 1
                blocks.append(Block("code", code, tuple(marks)))
        elif kind == "html_block":
            blocks.extend(_html_blocks(token.content, line))
        elif kind == "table_open":
            block, i = _table_block(tokens, i, body_start_line)
            if block:
                blocks.append(block)
        i += 1
    return blocks
