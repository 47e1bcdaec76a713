"""Find and parse a post's front matter: YAML ``---``, TOML ``+++``, Hexo (no opening ``---``), Pelican.

python-frontmatter parses the YAML and TOML blocks; this module only decides where the block is,
because python-frontmatter cannot tell us on which line the body starts, and does not know Hexo
or Pelican headers at all.

A block that looks like front matter but is not (a ``---`` letterhead or horizontal rule on line 1, a block
that does not parse, or one that never closes) never costs the post: the whole file is read as markdown with
no metadata, and ``Header.warning`` says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml
from frontmatter.default_handlers import SafeLoader, TOMLHandler, YAMLHandler

from tripsearch.errors import BadInput


class _Loader(SafeLoader):
    """YAML's safe loader, except that a timestamp that is no date stays the string it was written as.

    YAML resolves ``date: 2023-13-45`` to a timestamp by its shape and then fails to construct it, which
    failed the whole block: one bad date cost every field. As a string it reaches ``parse_date``, which
    makes it an unknown date with a warning.
    """


def _timestamp_or_text(loader: _Loader, node: yaml.ScalarNode):
    try:
        return loader.construct_yaml_timestamp(node)
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


class _YAMLHandler(YAMLHandler):
    def load(self, fm: str, **kwargs: object):
        return super().load(fm, Loader=_Loader, **kwargs)


_YAML = _YAMLHandler()
_TOML = TOMLHandler()

# Hexo: "key: value" lines (and YAML list items) closed by a lone ---, with no opening ---.
_HEXO_KEY = re.compile(r"^[A-Za-z_][\w-]*\s*:")
_HEXO_CONT = re.compile(r"^(\s+\S|-\s|\s*$)")  # indented continuation, list item or blank line
# Pelican: "Title: …" style lines with capitalised keys, ended by the first blank line.
_PELICAN_KEY = re.compile(r"^([A-Z][A-Za-z_ -]*?)\s*:\s*(.*)$")
_MAX_HEADER_LINES = 200
# Parsing YAML costs ~30 µs per node here: a 2.6 MB header took 12 s. Real headers are under 1 KiB.
_MAX_HEADER_CHARS = 64 * 1024
_MAX_MESSAGE_CHARS = 160


class BadFrontMatter(BadInput):
    """A front-matter block that is opened but cannot be parsed."""


class FrontMatterSyntax(BadFrontMatter):
    """The parser rejected the block (as opposed to a block that is too large or not a mapping)."""


@dataclass(frozen=True)
class Header:
    meta: dict
    body: str
    body_start_line: int  # 1-based line of the file where the body starts
    style: str  # "yaml", "toml", "hexo", "pelican" or "none"
    warning: str = ""  # why a block that looked like front matter was read as markdown instead


def _closing_line(lines: list[str], start: int, delimiter: str) -> int | None:
    for i in range(start, len(lines)):
        if lines[i].rstrip() == delimiter or (delimiter == "---" and lines[i].rstrip() == "..."):
            return i
    return None


def _parser_message(exc: Exception, first_line: int) -> str:
    """A YAML or TOML error in one line, with the line number of the file (the parsers count from the block)."""
    context = getattr(exc, "context", None)  # yaml.MarkedYAMLError: "while scanning an alias", ...
    problem, line, column = getattr(exc, "problem", None) or context, None, None
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if problem and mark is not None:  # marks are 0-based
        problem = f"{context}: {problem}" if context and context != problem else problem
        line, column = mark.line + first_line, mark.column + 1
    elif getattr(exc, "msg", None) and getattr(exc, "lineno", None):  # toml.TomlDecodeError: 1-based
        problem, line, column = exc.msg, exc.lineno + first_line - 1, exc.colno
    else:
        problem = " ".join(str(exc).split())
    message = f"{problem}, line {line} column {column}" if line else problem
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[: _MAX_MESSAGE_CHARS - 1] + "…"
    return message


def _load(handler, block: str, first_line: int) -> dict:
    """Parse a front-matter block whose first line is line ``first_line`` (1-based) of the file."""
    if len(block) > _MAX_HEADER_CHARS:
        raise BadFrontMatter(
            f"is {len(block) // 1024} KiB; a post header over {_MAX_HEADER_CHARS // 1024} KiB is not one "
            "(is the closing delimiter missing?)"
        )
    try:
        meta = handler.load(block)
    except Exception as exc:  # yaml.YAMLError, toml.TomlDecodeError, and what else a parser raises on odd input
        language = "TOML" if handler is _TOML else "YAML"
        raise FrontMatterSyntax(f"is not {language} ({_parser_message(exc, first_line)})") from None
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise BadFrontMatter(f"is a {type(meta).__name__}, not a mapping of keys")
    return meta


def _split_at(lines: list[str], open_line: int | None, close_line: int, handler, what: str) -> Header:
    first = 0 if open_line is None else open_line + 1
    meta = _load(handler, "\n".join(lines[first:close_line]), first + 1)
    return Header(meta, "\n".join(lines[close_line + 1 :]), close_line + 2, what)


_KEY_LINE = re.compile(r"^[A-Za-z_][\w-]*\s*:")


def _field_by_field(lines: list[str], close_line: int, problem: str) -> Header | None:
    """A ``---`` YAML block (lines 0 and ``close_line``) that does not parse as a whole, read one top-level
    field at a time (a field is a ``key:`` line at column 0 and the indented lines under it): the fields that
    parse are kept, the others named in the warning. None when no field parses: then the block is not front
    matter after all."""
    fields: list[list[str]] = []
    for line in lines[1:close_line]:
        if _KEY_LINE.match(line) or not fields:
            fields.append([line])
        else:
            fields[-1].append(line)
    meta, dropped = {}, []
    for field_lines in fields:
        try:
            part = _load(_YAML, "\n".join(field_lines), 1)
        except BadFrontMatter:
            part = None
        if isinstance(part, dict) and part:
            meta.update(part)
        else:
            dropped.append(field_lines[0].split(":", 1)[0].strip() or field_lines[0].strip())
    if not meta:
        return None
    where = f"lines 1-{close_line + 1}"  # delimiters included, as ``_as_markdown`` says it
    warning = f"front matter on {where} {problem}; kept the fields that parse, dropped: {', '.join(dropped)}"
    return Header(meta, "\n".join(lines[close_line + 1 :]), close_line + 2, "yaml", warning)


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


def _as_markdown(text: str, first: int, last: int | None, problem: str) -> Header:
    """The whole file as body (from line 1, the dashes included: line numbers stay those of the file)."""
    where = f"on lines {first}-{last}" if last is not None else f"opened on line {first}"
    return Header({}, text, 1, "none", f"front matter {where} {problem}; read as markdown")


def split_header(text: str) -> Header:
    """Split a post into its metadata and its body, remembering the body's first line.

    Never raises for a block that is not front matter: see the module docstring.
    """
    lines = text.split("\n")
    first = lines[0].rstrip().lstrip("\ufeff") if lines else ""
    if first in ("---", "+++"):
        handler, what = (_YAML, "yaml") if first == "---" else (_TOML, "toml")
        close = _closing_line(lines, 1, first)
        if close is None:
            return _as_markdown(text, 1, None, f"with {first} is never closed")
        try:
            return _split_at(lines, 0, close, handler, what)
        except BadFrontMatter as exc:
            # One bad field (an unclosed quote) must not cost the others: YAML read field by field.
            syntax = handler is _YAML and isinstance(exc, FrontMatterSyntax)  # not: too large, not a mapping
            kept = _field_by_field(lines, close, str(exc)) if syntax else None
            return kept or _as_markdown(text, 1, close + 1, str(exc))
    close = _looks_like_hexo(lines)
    if close is not None:
        try:
            return _split_at(lines, None, close, _YAML, "hexo")
        except BadFrontMatter as exc:
            return _as_markdown(text, 1, close + 1, str(exc))
    pelican = _pelican(lines)
    if pelican is not None:
        return pelican
    return Header({}, text, 1, "none")
