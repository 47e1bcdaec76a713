"""Read one post, or a whole folder of them, into ``Post`` records.

A file that cannot be read becomes a ``SkippedFile`` with its path and the reason; it never stops a run.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tripsearch.errors import BadInput
from tripsearch.posts.dates import BadDate, date_from_name, parse_date
from tripsearch.posts.header import BadFrontMatter, split_header
from tripsearch.records import Post, PostMeta, SkippedFile

POST_SUFFIXES = (".md", ".markdown")
_MAX_BYTES = 20 * 1024 * 1024  # a post bigger than this is not a blog post
# Front matter can nest deeply, refer to itself or expand a few hundred bytes into millions of items (YAML
# aliases, a "billion laughs"): flattening it was a RecursionError or minutes of work. Tags and authors
# beyond this many are not metadata, and so is a title or description longer than this; each is copied
# into every passage of the post (embedding text, keyword index), so an unbounded one multiplies.
_MAX_LIST_ITEMS = 100
_MAX_NODES = 10_000
_MAX_FIELD_CHARS = 1000


class UnreadablePost(BadInput):
    """A file that is not a readable post; the message says why (the caller adds the file name)."""


@dataclass
class ReadResult:
    posts: list[Post] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def _first(meta: dict, *keys: str) -> object:
    for key in keys:
        value = meta.get(key)
        if value not in (None, "", []):
            return value
    return None


def _strings(value: object) -> list[str]:
    """A front-matter value that should be a list of strings, in whatever shape it came.

    Iterative and bounded (``_MAX_NODES`` visited, ``_MAX_LIST_ITEMS`` kept): see ``_MAX_LIST_ITEMS``.
    """
    out: list[str] = []
    stack, visited = [value], 0
    while stack and len(out) < _MAX_LIST_ITEMS and visited < _MAX_NODES:
        value = stack.pop()
        visited += 1
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, str):
            out.extend(part[:_MAX_FIELD_CHARS] for part in (p.strip() for p in re.split(r"[,;]", value)) if part)
        elif isinstance(value, dict):
            name = value.get("name") or value.get("title")
            if isinstance(name, str):
                out.append(name.strip()[:_MAX_FIELD_CHARS])
            elif name:
                stack.append(name)
        elif isinstance(value, (list, tuple, set)):
            stack.extend(reversed(list(value)))  # first item popped first: keep the written order
        else:
            out.append(str(value).strip()[:_MAX_FIELD_CHARS])
    return out[:_MAX_LIST_ITEMS]


def _normalise_tag(tag: str) -> str:
    return re.sub(r"\s+", "-", tag.strip().lower().lstrip("#"))


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def _text(value: object) -> str:
    if value is None or isinstance(value, (dict, list, set, tuple)):  # (a set's str() could be any size)
        return ""
    return " ".join(str(value).split())[:_MAX_FIELD_CHARS]  # see _MAX_FIELD_CHARS


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "1", "draft"}
    return bool(value)


def _title_from_body(body: str) -> str | None:
    match = re.search(r"^#{1,2}\s+(.+?)\s*#*\s*$", body, re.M)
    return match[1].strip() if match else None


def _language(meta: dict, body: str) -> str:
    declared = _text(_first(meta, "lang", "language", "locale"))
    if declared:
        return declared.split("-")[0].split("_")[0].lower()[:8]
    import py3langid  # loaded on first use: it costs a model load

    sample = re.sub(r"[`*_#>\[\]()<>{}|]", " ", body[:4000])
    return py3langid.classify(sample)[0] if sample.strip() else "en"


def _meta(rel_path: str, raw: dict, body: str) -> PostMeta:
    meta = {str(k).lower(): v for k, v in raw.items()}
    title = _text(_first(meta, "title")) or _title_from_body(body) or Path(rel_path).stem
    try:
        date = parse_date(_first(meta, "date", "pubdate", "published", "created"))
    except BadDate as exc:
        raise UnreadablePost(str(exc)) from None
    date = date or date_from_name(rel_path)
    authors = _unique(_strings(meta.get("author")) + _strings(meta.get("authors")))
    tags = _unique(
        _normalise_tag(t)
        for key in ("tags", "tag", "categories", "category", "keywords")
        for t in _strings(meta.get(key))
    )
    draft = _as_bool(meta.get("draft")) or meta.get("published") is False
    draft = draft or _text(meta.get("status")).lower() == "draft"
    url = _text(_first(meta, "url", "permalink", "link", "canonical_url", "canonicalurl")) or None
    return PostMeta(
        path=rel_path,
        title=title,
        date=date,
        authors=authors,
        tags=tags,
        description=_text(_first(meta, "description", "summary", "excerpt", "subtitle")),
        url=url,
        slug=_text(meta.get("slug")) or None,
        language=_language(meta, body),
        draft=draft,
    )


def parse_post(rel_path: str, data: bytes) -> Post:
    """Bytes of one file → ``Post``; ``UnreadablePost`` says why not."""
    if not data.strip():
        raise UnreadablePost("empty file")
    if b"\x00" in data[:8192]:
        raise UnreadablePost("binary file (NUL bytes), not a text post")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnreadablePost(f"invalid UTF-8 at byte {exc.start} (line {line})") from None
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise UnreadablePost("NUL bytes inside the text")
    try:
        header = split_header(text)
    except BadFrontMatter as exc:
        raise UnreadablePost(str(exc)) from None
    if not header.body.strip() and not header.meta:
        raise UnreadablePost("no text in the post")
    return Post(
        meta=_meta(rel_path, header.meta, header.body),
        body=header.body,
        body_start_line=header.body_start_line,
        source_hash=hashlib.sha1(data).hexdigest(),
    )


def post_name(path: Path, root: Path | None = None) -> str:
    """``path`` relative to ``root`` with forward slashes, always printable and storable.

    A file name that is not UTF-8 comes back from the OS with lone surrogates, which SQLite, the terminal
    and passage ids cannot encode; such a name is shown with ``\\xNN`` escapes (and ``read_post_bytes``
    refuses the file, since the escaped name is not the file's real name).
    """
    rel = path.relative_to(root).as_posix() if root else path.name
    try:
        rel.encode("utf-8")
        return rel
    except UnicodeEncodeError:
        return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_post_bytes(path: Path, root: Path | None = None) -> tuple[bytes, os.stat_result]:
    """The bytes of one post file and its stat; ``UnreadablePost`` for anything that is not a readable post file.

    Opened non-blocking and checked with ``fstat`` before reading: a FIFO named ``*.md`` used to block the
    reader for ever, and a symlink to ``/dev/zero`` (size 0 to ``stat``) made it read without end. At most
    ``_MAX_BYTES`` + 1 bytes are read, whatever ``stat`` said.
    """
    if post_name(path, root) != (path.relative_to(root).as_posix() if root else path.name):
        raise UnreadablePost("the file name is not valid UTF-8; rename the file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise UnreadablePost("not a regular file")
            if st.st_size > _MAX_BYTES:
                raise UnreadablePost(f"larger than {_MAX_BYTES // 2**20} MiB")
            data = fh.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise UnreadablePost(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > _MAX_BYTES:
        raise UnreadablePost(f"larger than {_MAX_BYTES // 2**20} MiB")
    return data, st


def read_post(path: Path, root: Path | None = None) -> Post:
    """Read one file; raises ``UnreadablePost``."""
    data, _ = read_post_bytes(path, root)
    return parse_post(post_name(path, root), data)


def post_files(root: Path) -> list[Path]:
    """Every ``.md``/``.markdown`` file under ``root``, sorted; symlink loops are not followed."""
    found: list[Path] = []
    seen_dirs: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:  # a symlink loop, or a second way into one folder
            dirnames[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath, f) for f in filenames if f.lower().endswith(POST_SUFFIXES))
    return sorted(found)


def read_folder(root: Path | str) -> ReadResult:
    """Read every post under ``root``. Unreadable files are reported in ``skipped``."""
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"{root}: posts folder not found")
    result = ReadResult()
    for path in post_files(root):
        rel = post_name(path, root)
        try:
            result.posts.append(read_post(path, root))
        except UnreadablePost as exc:
            result.skipped.append(SkippedFile(rel, str(exc)))
        except Exception as exc:  # a bug of ours must not cost the user the rest of the folder
            result.skipped.append(SkippedFile(rel, f"unexpected {type(exc).__name__}: {exc}"))
    return result
