"""Issue 7: what an index folder can suffer, and the clear error (naming the file) each gets.

* Loading never runs code: nothing is pickled, and Index.open + search work with pickle disabled.
* A tampered, truncated or emptied file is refused with ``IndexCorrupt`` naming it (checksums), and so is a
  file tampered *and* re-signed in the manifest (the loaders' own checks); a build over it starts afresh.
* Another model: ``IndexMismatch`` saying what to do; ``--rebuild`` switches models; a vanished model
  folder is a clear error too.
* Nowhere to write (read-only folder, full disk, a file where a folder should be): a clear error, the
  previous index intact and searchable, and the next run, once there is room, succeeds.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reliability_support import (  # noqa: F401  (fixtures)
    corpus_versions,
    fast_encoder,
    index_state,
    open_index,
    run_indexer,
    say,
    seed_export_for_copy,
    slow,
    write_post,
)

from tripsearch.build import update_index
from tripsearch.errors import IndexProblem
from tripsearch.store import generations as gen
from tripsearch.store.database import DB_FILE
from tripsearch.store.vectors import SENTENCES_FILE, VECTORS_FILE

INDEX_PROBLEM = IndexProblem.exit_code  # what the CLI exits with for an index it cannot open, write or use

GENERATION_FILES = {gen.MANIFEST, DB_FILE, VECTORS_FILE, SENTENCES_FILE}


@pytest.fixture(scope="module")
def base(tmp_path_factory, fast_encoder):
    """Three small posts and their index, built once; tests work on copies."""
    root = tmp_path_factory.mktemp("base")
    posts = root / "posts"
    posts.mkdir()
    for n in range(1, 4):
        write_post(posts, n, 1, sections=1)
    update_index(posts, root / "index")
    return root


@pytest.fixture
def work(base, tmp_path):
    """A private copy of the base posts and index: (posts, index)."""
    shutil.copytree(base / "posts", tmp_path / "posts")
    shutil.copytree(base / "index", tmp_path / "index")
    return tmp_path / "posts", tmp_path / "index"


def _error_line(stderr: str) -> str:
    """The CLI's "error: ..." line (it can follow an unfinished progress bar on the same line)."""
    return next(line[line.index("error:") :] for line in stderr.splitlines() if "error:" in line)


def _live(index_dir: Path) -> Path:
    return gen.current_generation(index_dir)


def _resign(generation: Path, name: str) -> None:
    """Update the manifest's checksum for ``name``: a deliberate tamper that the checksum cannot catch."""
    manifest = json.loads((generation / gen.MANIFEST).read_text())
    manifest["files"][name] = hashlib.sha256((generation / name).read_bytes()).hexdigest()
    (generation / gen.MANIFEST).write_text(json.dumps(manifest))


# --------------------------------------------------------------------------------------------------- no pickle
def test_loading_never_unpickles(work, fast_encoder, monkeypatch):
    posts, index_dir = work
    found = {p.relative_to(index_dir).as_posix() for p in index_dir.rglob("*")}
    live = _live(index_dir)
    assert {p.name for p in live.iterdir()} == GENERATION_FILES
    assert not [f for f in found if f.endswith((".pkl", ".pickle", ".npy", ".npz", ".pt", ".joblib", ".bin"))]
    assert (live / DB_FILE).read_bytes()[:16] == b"SQLite format 3\x00"
    assert (live / VECTORS_FILE).read_bytes()[:4] == b"IxFI"  # faiss IndexFlatIP: a header and raw floats

    def refuse(*args, **kwargs):
        raise AssertionError("an index load tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(np, "load", refuse)
    idx = open_index(index_dir, fast_encoder)
    assert idx.search("speaker takeaway", k=3) and idx.search("speaker", k=3, mode="keyword")
    idx.close()


# ------------------------------------------------------------------------------------- tampered, truncated files
def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "flip":
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    elif how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "append":
        path.write_bytes(data + b"\x00garbage")
    elif how == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif how == "remove":
        path.unlink()


@pytest.mark.parametrize("name", [DB_FILE, VECTORS_FILE, SENTENCES_FILE])
@pytest.mark.parametrize("how", ["flip", "truncate", "empty", "append", "remove"])
def test_damaged_file_is_refused_naming_it(work, name, how):
    _, index_dir = work
    target = _live(index_dir) / name
    _damage(target, how)
    with pytest.raises(gen.IndexCorrupt) as caught:
        open_index(index_dir)
    assert str(target) in str(caught.value)


@pytest.mark.parametrize("name", [DB_FILE, VECTORS_FILE, SENTENCES_FILE])
@pytest.mark.parametrize("how", ["truncate", "garbage", "empty"])
def test_damaged_and_resigned_file_is_refused_naming_it(work, name, how):
    """The checksum was updated too (someone meant it): the file's own loader must still refuse it cleanly."""
    _, index_dir = work
    live = _live(index_dir)
    _damage(live / name, how)
    _resign(live, name)
    with pytest.raises(gen.IndexCorrupt) as caught:
        open_index(index_dir)
    assert str(live / name) in str(caught.value)


def test_resigned_database_with_wrong_rows_is_refused(work):
    """A valid SQLite file that does not match the vectors: caught by the counts check, naming the file."""
    import sqlite3

    _, index_dir = work
    live = _live(index_dir)
    con = sqlite3.connect(live / DB_FILE)
    con.execute("DELETE FROM passages WHERE row = (SELECT max(row) FROM passages)")
    con.commit()
    con.close()
    _resign(live, DB_FILE)
    with pytest.raises(gen.IndexCorrupt) as caught:
        open_index(index_dir)
    assert str(live / VECTORS_FILE) in str(caught.value) and "vectors for" in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"model": ',
        b"\xff\xfe\x00binary",
        b"[]",
        b'{"files": []}',
        "wrong-types",  # valid JSON, fields of the wrong type
    ],
)
def test_damaged_manifest_is_refused_naming_it(work, content):
    _, index_dir = work
    manifest = _live(index_dir) / gen.MANIFEST
    if content == "wrong-types":
        data = json.loads(manifest.read_text())
        data.update(files=["passages.sqlite"], dim="384")
        content = json.dumps(data).encode()
    manifest.write_bytes(content)
    with pytest.raises(gen.IndexCorrupt) as caught:
        open_index(index_dir)
    assert str(manifest) in str(caught.value)


@pytest.mark.parametrize(
    "content", [b"", b"\n", b"\xff\xfe\x80garbage", b"gen-does-not-exist\n", b"../elsewhere\n", "dir"]
)
def test_damaged_current_pointer_is_a_clear_error(work, content):
    _, index_dir = work
    pointer = index_dir / gen.POINTER
    if content == "dir":
        pointer.unlink()
        pointer.mkdir()
    else:
        pointer.write_bytes(content)
    with pytest.raises(gen.IndexCorrupt) as caught:
        open_index(index_dir)
    assert str(pointer) in str(caught.value) or "gen-does-not-exist" in str(caught.value)


@slow
def test_cli_on_a_damaged_index_errors_cleanly_and_a_build_heals_it(work, fast_encoder, say):
    posts, index_dir = work
    target = _live(index_dir) / VECTORS_FILE
    _damage(target, "truncate")
    query = subprocess.run(
        [sys.executable, "-m", "tripsearch", "query", "speaker", "--index", str(index_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert query.returncode == INDEX_PROBLEM and str(target) in query.stderr and "Traceback" not in query.stderr, (
        query.stderr
    )
    build = run_indexer(posts, index_dir)  # nothing trustworthy to reuse: builds afresh beside it
    assert build.returncode == 0, build.stderr[-2000:]
    assert index_state(index_dir, fast_encoder).versions == corpus_versions(posts)
    for content in (b"\xff\xfe\x80garbage", b"gen-does-not-exist\n"):  # a broken CURRENT is healed the same way
        (index_dir / gen.POINTER).write_bytes(content)
        build = run_indexer(posts, index_dir)
        assert build.returncode == 0, build.stderr[-2000:]
        assert index_state(index_dir, fast_encoder).versions == corpus_versions(posts)
    say(f"damaged index: `query` says {query.stderr.strip()[:160]}…; `index` rebuilt it")


# ------------------------------------------------------------------------------------------------ model change
@slow
def test_model_change_is_refused_and_rebuild_switches(work, fast_encoder, tmp_path, say):
    from tripsearch.embed.models import fingerprint, model_path
    from tripsearch.embed.onnx import default_cache_dir

    posts, index_dir = work
    before = _live(index_dir).name
    # "Another model": the default model's folder with a changed config.json, so its fingerprint differs.
    other = tmp_path / "other-model"
    shutil.copytree(model_path(None), other, copy_function=os.link)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").unlink()  # a hard link into the installed package: replace, never write through
    (other / "config.json").write_text(json.dumps({**config, "tripsearch_test_variant": 1}))
    assert fingerprint(str(other)) != fingerprint(model_path(None))
    cache = tmp_path / "cache"  # a private encoder cache holding both models' exports (no 50 s export)
    default_fp = fingerprint(model_path(None))
    shutil.copytree(default_cache_dir() / default_fp, cache / default_fp, copy_function=os.link)
    other_fp = seed_export_for_copy(other, cache)
    env = {"TRIPSEARCH_CACHE": str(cache)}

    write_post(posts, 1, 2, sections=1)
    refused = run_indexer(posts, index_dir, "--model", str(other), env=env)
    assert refused.returncode == INDEX_PROBLEM and "Traceback" not in refused.stderr, refused.stderr[-2000:]
    assert "built with model all-MiniLM-L6-v2" in refused.stderr and "--rebuild" in refused.stderr
    assert _live(index_dir).name == before  # untouched

    switched = run_indexer(posts, index_dir, "--model", str(other), "--rebuild", env=env)
    assert switched.returncode == 0, switched.stderr[-2000:]
    manifest = gen.read_manifest(_live(index_dir))
    assert (manifest.model, manifest.model_fingerprint) == (str(other), other_fp)
    assert run_indexer(posts, index_dir, env=env).stdout.startswith("index up to date")  # remembers the model
    back = run_indexer(posts, index_dir, "--model", "all-MiniLM-L6-v2", env=env)
    assert back.returncode == INDEX_PROBLEM and f"built with model {other}" in back.stderr

    # The model changes in place (same folder, new fingerprint): refused for updates and for queries.
    (other / "config.json").write_text(json.dumps({**config, "tripsearch_test_variant": 2}))
    write_post(posts, 1, 3, sections=1)
    changed = run_indexer(posts, index_dir, env=env)
    assert (
        changed.returncode == INDEX_PROBLEM
        and f"fingerprint {other_fp}" in changed.stderr
        and "Traceback" not in changed.stderr
    )
    # The model folder is gone: a clear error, not a traceback.
    shutil.rmtree(other)
    gone = run_indexer(posts, index_dir, env=env)
    assert (
        gone.returncode == INDEX_PROBLEM and "not there any more" in gone.stderr and "Traceback" not in gone.stderr
    ), gone.stderr
    say(f"model change: `{_error_line(refused.stderr)[:300]}…`")


# ---------------------------------------------------------------------------------------------- nowhere to write
def _mount(*args: str) -> str | None:
    """Run mount; None on success, else why not (then the test is skipped: it needs CAP_SYS_ADMIN)."""
    if shutil.which("mount") is None:
        return "no mount command"
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    return None if proc.returncode == 0 else (proc.stderr.strip() or f"mount exited {proc.returncode}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True)


@slow
def test_read_only_index_folder(work, fast_encoder, say):
    """As root, chmod does not stop writes, so the folder is made read-only with a read-only bind mount."""
    posts, index_dir = work
    before = index_state(index_dir, fast_encoder)
    why = _mount("--bind", str(index_dir), str(index_dir))
    if why:
        pytest.skip(f"cannot make a read-only folder here (needs a bind mount): {why}")
    try:
        why = _mount("-o", "remount,bind,ro", str(index_dir))
        if why:
            pytest.skip(f"cannot remount read-only: {why}")
        with pytest.raises(OSError) as caught:
            (index_dir / "probe").write_text("x")
        assert caught.value.errno == errno.EROFS
        write_post(posts, 2, 2, sections=1)
        result = run_indexer(posts, index_dir)
        assert result.returncode == INDEX_PROBLEM and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert "cannot write the index here (Read-only file system)" in result.stderr
        refused = _error_line(result.stderr)[:200]
        after = index_state(index_dir, fast_encoder)  # readers are fine on a read-only index
        assert after == before
        idx = open_index(index_dir, fast_encoder)
        assert idx.search("speaker", k=3)
        idx.close()
    finally:
        _umount(index_dir)
    result = run_indexer(posts, index_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert index_state(index_dir, fast_encoder).versions == corpus_versions(posts)
    say(f"read-only folder: `{refused}`; index intact and searchable; next run after remount succeeded")


@slow
def test_full_disk(work, fast_encoder, tmp_path, say):
    """A 2 MiB tmpfs holds the index; a filler file takes all but a few KiB."""
    posts, source_index = work
    disk = tmp_path / "small-disk"
    disk.mkdir()
    why = _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    if why:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs CAP_SYS_ADMIN): {why}")
    try:
        index_dir = disk / "index"
        shutil.copytree(source_index, index_dir)
        before = index_state(index_dir, fast_encoder)
        filler = disk / "filler"
        with open(filler, "wb", buffering=0) as fh:  # unbuffered: nothing left to fail at close
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        os.truncate(filler, filler.stat().st_size - 24 * 1024)  # room for a folder, not for a database
        write_post(posts, 3, 2, sections=1)
        result = run_indexer(posts, index_dir)
        assert result.returncode == INDEX_PROBLEM and "Traceback" not in result.stderr, result.stderr[-3000:]
        message = _error_line(result.stderr)
        assert "could not write the new index" in message and "the previous index is unchanged" in message
        assert not list(index_dir.glob(".building-*")), "the half-written generation was left behind"
        assert index_state(index_dir, fast_encoder) == before
        filler.unlink()
        result = run_indexer(posts, index_dir)
        assert result.returncode == 0, result.stderr[-2000:]
        assert index_state(index_dir, fast_encoder).versions == corpus_versions(posts)
    finally:
        _umount(disk)
    say(f"full disk: `{message[:200]}`")


def test_index_path_under_a_file(work, tmp_path):
    """Nowhere to write, without any privilege: the index folder's parent is a regular file."""
    posts, _ = work
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(gen.IndexProblem) as caught:
        update_index(posts, blocker / "index")
    assert "cannot write the index here (Not a directory)" in str(caught.value)
    with pytest.raises(gen.IndexNotFound):
        open_index(blocker / "index")
    result = run_indexer(posts, blocker / "index")
    assert (
        result.returncode == INDEX_PROBLEM and "Traceback" not in result.stderr and "Not a directory" in result.stderr
    )
