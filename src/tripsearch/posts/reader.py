"""Read one post, or a whole folder of them, into ``Post`` records.

A file that cannot be read at all (not text, empty, not a regular file) becomes a ``SkippedFile`` with its path
and the reason; it never stops a run. A file whose front matter or one of its fields cannot be read is still a
post: what could not be read is unknown, and ``Post.warnings`` says what (see ``header`` and ``fields``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tripsearch.errors import BadInput
from tripsearch.posts.fields import read_meta
from tripsearch.posts.header import split_header
from tripsearch.records import Post, SkippedFile
from tripsearch.unicode import nfc

POST_SUFFIXES = (".md", ".markdown")
_MAX_BYTES = 20 * 1024 * 1024  # a post bigger than this is not a blog post


class UnreadablePost(BadInput):
    """A file that is not a readable post; the message says why (the caller adds the file name)."""


@dataclass
class ReadResult:
    posts: list[Post] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def parse_post(rel_path: str, data: bytes) -> Post:
    """Bytes of one file → ``Post``; ``UnreadablePost`` says why not.

    A front-matter block or field that cannot be read does not raise: the post comes back with it unknown and
    a line in ``Post.warnings``.
    """
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
    header = split_header(text)
    if not header.body.strip() and not header.meta:
        raise UnreadablePost("no text in the post")
    # The one place text is normalised at read time: the body here, every metadata string in read_meta.
    # NFC keeps line breaks, so body_start_line and the lines of passages stay those of the file.
    body = nfc(header.body)
    meta, warnings = read_meta(rel_path, header.meta, body)
    return Post(
        meta=meta,
        body=body,
        body_start_line=header.body_start_line,
        source_hash=hashlib.sha1(data).hexdigest(),
        warnings=((header.warning,) if header.warning else ()) + warnings,
    )


def post_name(path: Path, root: Path | None = None) -> str:
    """``path`` relative to ``root`` with forward slashes, always printable and storable.

    A file name that is not UTF-8 comes back from the OS with lone surrogates, which SQLite, the terminal
    and passage ids cannot encode; such a name is shown with ``\\xNN`` escapes (and ``read_post_bytes``
    refuses the file, since the escaped name is not the file's real name).
    """
    return _printable(path.relative_to(root).as_posix() if root else path.name)


def _printable(rel: str) -> str:
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
    return [Path(path) for _, path in post_entries(root)]


def post_entries(root: Path) -> list[tuple[str, str]]:
    """(``post_name`` of the file, its path as a string) for every file ``post_files`` lists, in its order.

    Strings, not ``Path`` objects: for the 122k posts of a million-passage store (benchmarks/scale.py) building,
    sorting and relativising a ``Path`` per file cost seconds of an update that reads one post. The order is
    ``Path`` order, by the list of path components ("a/b.md" before "a-c.md"), which is each folder's entries
    in name order with a sub-folder's files in its place: so the walk needs no sort of its own at the end.
    Hidden folders are skipped; symlinks to folders are followed, each folder entered once (loops).
    """
    found: list[tuple[str, str]] = []
    seen_dirs: set[tuple[int, int]] = set()
    stack: list = []  # one iterator per open folder: (its sorted entries, the prefix of their names)

    def enter(folder: str, prefix: str) -> None:
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in seen_dirs:  # a symlink loop, or a second way into one folder
                return
            seen_dirs.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:  # as os.walk: a folder that cannot be listed is left out
            return
        stack.append((iter(entries), prefix))

    enter(os.fspath(root), "")
    while stack:
        entries, prefix = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        try:
            is_dir = entry.is_dir()  # follows symlinks
        except OSError:
            is_dir = False
        if is_dir:
            if not entry.name.startswith("."):
                enter(entry.path, f"{prefix}{entry.name}/")
        elif entry.name.lower().endswith(POST_SUFFIXES):
            found.append((_printable(prefix + entry.name), entry.path))
    return found


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
