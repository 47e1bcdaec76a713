"""The build's scan step: a posts folder against the previous generation, into a plan. No model is loaded."""

from __future__ import annotations

import os
import sys

from tripsearch.build import _Previous, scan
from tripsearch.embed.late import TWO_PASS
from tripsearch.passages import CHUNKER_VERSION
from tripsearch.store.generations import Manifest

POST = """---
title: {title}
date: 2024-05-01
---

# {title}

## A talk about {topic}

The speaker explained {topic} in detail. It was the best talk of the day.
"""


def write(folder, name, title, topic="tracing"):
    path = folder / name
    path.write_text(POST.format(title=title, topic=topic), encoding="utf-8")
    return path


def as_previous(plan) -> _Previous:
    """What the generation written from ``plan`` would give the next build (vectors are not needed to scan)."""
    manifest = Manifest(
        model="m",
        model_fingerprint="f",
        dim=384,
        chunker_version=CHUNKER_VERSION,
        encoder_kind="onnx",
        posts_dir="",
        built_at="",
        build_seconds=0.0,
        vectors=TWO_PASS,
    )
    previous = _Previous(manifest, None, {p.meta.path: p for p in plan.stored})
    for passage in plan.passages:
        previous.passages_by_post.setdefault(passage.post.path, []).append(passage)
    previous.skipped = sorted(plan.failed, key=lambda s: s.path)
    return previous


def test_scan_sorts_every_post_into_one_state(tmp_path):
    posts = tmp_path / "posts"
    posts.mkdir()
    for name in ("kept.md", "touched.md", "changed.md", "breaks.md", "removed.md"):
        write(posts, name, name.removesuffix(".md").title())
    first = scan(posts, _Previous())
    assert (
        sorted(first.added)
        == sorted(first.changed)
        == ["breaks.md", "changed.md", "kept.md", "removed.md", "touched.md"]
    )
    assert first.dirty and not first.kept and not first.failed and len(first.passages) >= 5

    previous = as_previous(first)
    again = scan(posts, previous)
    assert not again.dirty and len(again.kept) == 5 and again.passages == first.passages

    touched = posts / "touched.md"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # same bytes, new mtime
    write(posts, "changed.md", "Changed", topic="profiling")
    (posts / "breaks.md").write_text("---\ntitle: Only front matter\n---\n", encoding="utf-8")
    (posts / "removed.md").unlink()
    write(posts, "new.md", "New")

    plan = scan(posts, previous)
    assert plan.kept == ["kept.md"]
    assert plan.touched == ["touched.md"]
    assert sorted(plan.changed) == ["changed.md", "new.md"] and plan.added == ["new.md"]
    assert [s.path for s in plan.failed] == ["breaks.md"] and "no text to index" in plan.failed[0].reason
    assert plan.kept_previous == ["breaks.md"]  # nothing already indexed is lost to a bad edit
    assert plan.removed == ["removed.md"]
    assert plan.dirty
    paths = [p.meta.path for p in plan.stored]
    assert paths == sorted(paths) and "removed.md" not in paths and "breaks.md" in paths
    changed = [p for p in plan.passages if p.post.path == "changed.md"]
    assert changed and all("profiling" in p.text for p in changed)


def test_scan_of_an_index_with_vectors_made_another_way_is_dirty(tmp_path):
    posts = tmp_path / "posts"
    posts.mkdir()
    write(posts, "a.md", "A")
    previous = as_previous(scan(posts, _Previous()))
    assert not scan(posts, previous).dirty
    previous.reusable = False  # its vectors were made another way (late chunking, say): re-embed them
    assert scan(posts, previous).dirty


def test_scan_needs_no_model(tmp_path):
    import subprocess

    posts = tmp_path / "posts"
    posts.mkdir()
    write(posts, "a.md", "A")
    code = (
        "import sys; from pathlib import Path; from tripsearch.build import scan, _Previous;"
        f"plan = scan(Path({str(posts)!r}), _Previous()); assert plan.changed == ['a.md'];"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'onnxruntime') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_scan_asks_for_the_model_only_for_text_without_vectors(tmp_path):
    """``new_text`` starts the model loading (build.EncoderPrefetch) while the scan goes on: only for a changed
    post with a passage whose text has no vectors; a touched, removed or failed post, or an edit that leaves
    every passage's text as it was indexed, never loads a model."""
    posts = tmp_path / "posts"
    posts.mkdir()
    for name in ("a.md", "b.md", "c.md"):
        write(posts, name, name.removesuffix(".md").upper())
    asked = []
    previous = as_previous(scan(posts, _Previous(), lambda: asked.append(1)))
    assert len(asked) == 3  # a first build: every post's text is new
    previous.vectors_by_hash = {p.content_hash: None for p in scan(posts, _Previous()).passages}

    asked.clear()
    st = (posts / "a.md").stat()
    os.utime(posts / "a.md", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched
    (posts / "b.md").unlink()
    (posts / "c.md").write_text("---\ntitle: Only front matter\n---\n", encoding="utf-8")  # fails: kept
    plan = scan(posts, previous, lambda: asked.append(1))
    assert plan.dirty and not asked
    (posts / "a.md").write_text(POST.format(title="A", topic="tracing") + "\n\n\n", encoding="utf-8")
    plan = scan(posts, previous, lambda: asked.append(1))
    assert plan.changed == ["a.md"] and not asked  # other bytes, the same passage texts: nothing to embed

    write(posts, "c.md", "C", topic="profiling")  # new text
    plan = scan(posts, previous, lambda: asked.append(1))
    assert plan.changed == ["a.md", "c.md"] and asked == [1]  # a.md as above: no model for it
