"""An index folder holds immutable generations; ``CURRENT`` names the live one.

A build writes a whole new generation beside the live one and then replaces ``CURRENT`` atomically, so
readers always see one complete generation, and a build that fails or is killed leaves the previous
one in place. One writer at a time: an ``flock`` on ``.lock``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tripsearch.errors import IndexBusy, IndexCorrupt, IndexMismatch, IndexNotFound, IndexProblem

__all__ = ["IndexBusy", "IndexCorrupt", "IndexMismatch", "IndexNotFound", "IndexProblem"]  # re-exported: older imports

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
POINTER = "CURRENT"
LOCK = ".lock"
# Up to this size (all files of a generation) opening checks every checksum: sha256 reads about 0.5 GB/s here,
# so the real corpus (40 MB) pays about 0.1 s. Past it, opening checks headers, sizes and counts only (what
# truncation, appending and emptying break) and the full check is `tripsearch verify`.
VERIFY_ON_OPEN_BYTES = 64 << 20
KEEP_GENERATIONS = 2  # the live one and the one before, for readers that opened it a moment ago


@dataclass
class Manifest:
    model: str
    model_fingerprint: str
    dim: int
    chunker_version: str
    encoder_kind: str
    posts_dir: str
    built_at: str
    build_seconds: float
    counts: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # file name → sha256, checked when opening
    format: int = FORMAT_VERSION
    # How the vectors were made (tripsearch.embed.late.METHOD): a build re-embeds an index made another way.
    # "" for indexes from before it was recorded (passage and sentences embedded separately).
    vectors: str = ""
    # Empty: one segment (today's files). Else a base + delta generation (store.segments): "base_rows",
    # "delta_rows", "tombstoned" (base rows hidden), the base files being hard links to an earlier generation's.
    segments: dict = field(default_factory=dict)

    @staticmethod
    def now() -> str:
        return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def current_generation(index_dir: Path) -> Path | None:
    pointer = index_dir / POINTER
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:  # a directory, garbage bytes: was a bare traceback
        raise IndexCorrupt(f"{pointer}: unreadable ({exc})") from None
    if not name or "/" in name or name.startswith("."):
        raise IndexCorrupt(f"{pointer}: does not name a generation folder ({name!r})")
    return index_dir / name


def read_manifest(generation: Path, verify: bool = True) -> Manifest:
    path = generation / MANIFEST
    try:
        data = json.loads(path.read_text())
        manifest = Manifest(**data)
    except FileNotFoundError:
        raise IndexCorrupt(f"{path}: missing; the index is incomplete, run `tripsearch index` again") from None
    except (ValueError, TypeError) as exc:
        raise IndexCorrupt(f"{path}: unreadable manifest ({exc})") from None
    # Valid JSON of the wrong shape ("files": [], "dim": "384") crashed later with AttributeError/TypeError.
    if not (
        isinstance(manifest.files, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in manifest.files.items())
        and isinstance(manifest.dim, int)
        and isinstance(manifest.counts, dict)
        and isinstance(manifest.segments, dict)
        and all(
            isinstance(getattr(manifest, f), str) for f in ("model", "model_fingerprint", "chunker_version", "vectors")
        )
    ):
        raise IndexCorrupt(f"{path}: unreadable manifest (a field has the wrong type)")
    if manifest.format != FORMAT_VERSION:
        raise IndexMismatch(f"{path}: index format {manifest.format}, this version reads {FORMAT_VERSION}; rebuild it")
    if verify:
        verify_files(generation, manifest)
    return manifest


def verify_on_open(generation: Path, manifest: Manifest) -> None:
    """What opening a generation checks: every file there with its size, and every checksum while the whole
    generation is at most ``VERIFY_ON_OPEN_BYTES`` (past that, ``tripsearch verify``). Raises ``IndexCorrupt``."""
    if verify_files(generation, manifest, checksums=False) <= VERIFY_ON_OPEN_BYTES:
        verify_files(generation, manifest)


def verify_files(generation: Path, manifest: Manifest, checksums: bool = True) -> int:
    """Every file the manifest lists is there and (``checksums``) matches its sha256; returns their total bytes.

    Reads every byte: ``Index.open`` does it only for generations up to ``VERIFY_ON_OPEN_BYTES`` and otherwise
    leaves it to ``tripsearch verify``. Raises ``IndexCorrupt`` naming the first file that fails."""
    total = 0
    for name, expected in manifest.files.items():
        file = generation / name
        if not file.is_file():
            raise IndexCorrupt(f"{file}: missing from the index")
        total += file.stat().st_size
        if checksums and sha256(file) != expected:
            raise IndexCorrupt(f"{file}: does not match its checksum (truncated or changed since the build)")
    return total


def new_generation(index_dir: Path) -> Path:
    index_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    path = index_dir / f".building-{stamp}-{os.getpid()}"
    path.mkdir()
    return path


def link_or_copy(source: Path, target: Path) -> bool:
    """Hard-link the immutable file ``source`` as ``target`` (same inode: nothing written); copy it when the file
    system refuses links (another device, no link support). Returns True when linked."""
    try:
        os.link(source, target)
        return True
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    shutil.copyfile(source, target)
    return False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(index_dir: Path, building: Path, manifest: Manifest) -> Path:
    """Seal a finished generation and make it the live one, atomically. A file whose checksum the manifest
    already holds is a hard link to a published generation's (``link_or_copy``): already checked and on disk,
    so neither read again nor synced (at 1M passages, hashing the base alone took longer than the update)."""
    for name, known in manifest.files.items():
        if known:
            continue
        manifest.files[name] = sha256(building / name)
        with open(building / name, "rb") as fh:
            os.fsync(fh.fileno())
    data = asdict(manifest)
    if not data["segments"]:  # one segment: the manifest older versions read (they refuse a field they lack)
        del data["segments"]
    (building / MANIFEST).write_text(json.dumps(data, indent=2))
    with open(building / MANIFEST, "rb") as fh:
        os.fsync(fh.fileno())
    final = index_dir / building.name.replace(".building-", "gen-")
    os.rename(building, final)
    tmp = index_dir / f".{POINTER}.{os.getpid()}"
    tmp.write_text(final.name + "\n")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / POINTER)
    _fsync_dir(index_dir)
    collect_garbage(index_dir)
    return final


def collect_garbage(index_dir: Path) -> None:
    """Remove old generations and abandoned builds (from a killed indexer); keep the newest few."""
    live = current_generation(index_dir)
    generations = sorted(p for p in index_dir.glob("gen-*") if p.is_dir())
    keep = {p.name for p in generations[-KEEP_GENERATIONS:]} | ({live.name} if live else set())
    for path in generations:
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
    for path in index_dir.glob(".building-*"):
        shutil.rmtree(path, ignore_errors=True)  # we hold the write lock, so nobody is building it
    for path in index_dir.glob(f".{POINTER}.*"):
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def write_lock(index_dir: Path, wait_seconds: float = 0.0):
    """Hold the index's single writer lock; wait up to ``wait_seconds`` for another writer, else refuse."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(index_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # read-only or full file system, a file where a folder should be: was a traceback
        raise IndexProblem(
            f"{index_dir}: cannot write the index here ({exc.strerror or exc}); nothing was changed"
        ) from None
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise IndexBusy(
                        f"{index_dir}: another `tripsearch index` is updating this index; try again when it is done"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing releases the lock
