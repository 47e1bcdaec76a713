"""Find and parse a post's front matter: YAML ``---``, TOML ``+++``, Hexo (no opening ``---``), Pelican.

python-frontmatter parses the YAML and TOML blocks; this module only decides where the block is,
because python-frontmatter cannot tell us on which line the body starts, and does not know Hexo
or Pelican headers at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from frontmatter.default_handlers import TOMLHandler, YAMLHandler

from tripsearch.errors import BadInput

_YAML = YAMLHandler()
_TOML = TOMLHandler()

# Hexo: "key: value" lines (and YAML list items) closed by a lone ---, with no opening ---.
_HEXO_KEY = re.compile(r"^[A-Za-z_][\w-]*\s*:")
_HEXO_CONT = re.compile(r"^(\s+\S|-\s|\s*$)")  # indented continuation, list item or blank line
# Pelican: "Title: …" style lines with capitalised keys, ended by the first blank line.
_PELICAN_KEY = re.compile(r"^([A-Z][A-Za-z_ -]*?)\s*:\s*(.*)$")
_MAX_HEADER_LINES = 200
# Parsing YAML costs ~30 µs per node here: a 2.6 MB header took 12 s. Real headers are under 1 KiB.
_MAX_HEADER_CHARS = 64 * 1024


class BadFrontMatter(BadInput):
    """A front-matter block that is opened but cannot be parsed."""


@dataclass(frozen=True)
class Header:
    meta: dict
    body: str
    body_start_line: int  # 1-based line of the file where the body starts
    style: str  # "yaml", "toml", "hexo", "pelican" or "none"


def _closing_line(lines: list[str], start: int, delimiter: str) -> int | None:
    for i in range(start, len(lines)):
        if lines[i].rstrip() == delimiter or (delimiter == "---" and lines[i].rstrip() == "..."):
            return i
    return None


def _load(handler, block: str, what: str) -> dict:
    if len(block) > _MAX_HEADER_CHARS:
        raise BadFrontMatter(
            f"{what} front matter is {len(block) // 1024} KiB; a post header over {_MAX_HEADER_CHARS // 1024} KiB "
            "is not one (is the closing delimiter missing?)"
        )
    try:
        meta = handler.load(block)
    except Exception as exc:  # yaml.YAMLError, toml.TomlDecodeError: the parser's message says where
        message = " ".join(str(exc).split())
        raise BadFrontMatter(f"broken {what} front matter: {message}") from None
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise BadFrontMatter(f"{what} front matter is a {type(meta).__name__}, not a mapping of keys")
    return meta


def _split_at(lines: list[str], open_line: int | None, close_line: int, handler, what: str) -> Header:
    first = 0 if open_line is None else open_line + 1
    meta = _load(handler, "\n".join(lines[first:close_line]), what)
    return Header(meta, "\n".join(lines[close_line + 1 :]), close_line + 2, what)


def _looks_like_hexo(lines: list[str]) -> int | None:
    """The index of the closing ``---`` of a Hexo header, or None."""
    if not lines or not _HEXO_KEY.match(lines[0]):
        return None
    for i, line in enumerate(lines[:_MAX_HEADER_LINES]):
        if line.rstrip() == "---":
            return i
        if not (_HEXO_KEY.match(line) or _HEXO_CONT.match(line)):
            return None
    return None


def _pelican(lines: list[str]) -> Header | None:
    meta: dict[str, str] = {}
    i = 0
    while i < len(lines) and i < _MAX_HEADER_LINES:
        line = lines[i]
        if not line.strip():
            break
        match = _PELICAN_KEY.match(line)
        if not match:
            if i and line.startswith((" ", "\t")):  # a value continued on the next line
                key = list(meta)[-1]
                meta[key] = f"{meta[key]} {line.strip()}"
                i += 1
                continue
            return None
        meta[match[1].strip().lower().replace(" ", "_")] = match[2].strip()
        i += 1
    if "title" not in meta:
        return None
    return Header(meta, "\n".join(lines[i:]), i + 1, "pelican")


def split_header(text: str) -> Header:
    """Split a post into its metadata and its body, remembering the body's first line."""
    lines = text.split("\n")
    first = lines[0].rstrip().lstrip("\ufeff") if lines else ""
    if first == "---":
        close = _closing_line(lines, 1, "---")
        if close is None:
            raise BadFrontMatter("front matter opened with --- on line 1 is never closed")
        return _split_at(lines, 0, close, _YAML, "yaml")
    if first == "+++":
        close = _closing_line(lines, 1, "+++")
        if close is None:
            raise BadFrontMatter("front matter opened with +++ on line 1 is never closed")
        return _split_at(lines, 0, close, _TOML, "toml")
    close = _looks_like_hexo(lines)
    if close is not None:
        return _split_at(lines, None, close, _YAML, "hexo")
    pelican = _pelican(lines)
    if pelican is not None:
        return pelican
    return Header({}, text, 1, "none")
