"""A build resolves its model once and loads it once; with a cached export it never imports torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import SAMPLE_POSTS


@pytest.fixture(scope="module")
def exported():
    """The default model's export in the default cache ($TRIPSEARCH_CACHE), made once if missing."""
    from tripsearch.embed import ensure_fast_encoder

    status = ensure_fast_encoder(None)
    if not status.startswith("onnx encoder ready"):
        pytest.skip(f"no ONNX export of the default model: {status}")


def test_one_model_load_and_one_fingerprint_per_build(tmp_path, monkeypatch, exported):
    from tripsearch.build import update_index
    from tripsearch.embed import models, runtime

    hashed = []
    real = models.fingerprint
    monkeypatch.setattr(models, "fingerprint", lambda path: hashed.append(path) or real(path))
    posts = shutil.copytree(SAMPLE_POSTS, tmp_path / "posts")
    index = tmp_path / "index"

    loads = runtime.session_loads()
    report = update_index(posts, index)
    assert report.model_loaded and report.encoder_kind == "onnx"
    assert runtime.session_loads() - loads == 1, "the build loaded the ONNX model more than once"
    assert len(hashed) == 1, f"the model folder was fingerprinted {len(hashed)} times"

    hashed.clear()
    loads = runtime.session_loads()
    assert update_index(posts, index).nothing_changed
    assert runtime.session_loads() == loads and len(hashed) == 1  # the index's model is checked, not loaded

    post = sorted(posts.glob("*.md"))[0]
    post.write_text(post.read_text(encoding="utf-8") + "\nOne more sentence about eBPF tracing.\n", encoding="utf-8")
    hashed.clear()
    report = update_index(posts, index)
    assert report.changed == 1 and 0 < report.embedded < report.passages
    assert runtime.session_loads() - loads == 1 and len(hashed) == 1


def test_vectors_made_another_way_are_made_again(tmp_path, exported):
    from tripsearch.build import update_index
    from tripsearch.embed.late import METHOD, TWO_PASS
    from tripsearch.store import generations as gen

    index = tmp_path / "index"
    first = update_index(SAMPLE_POSTS, index)
    manifest_file = gen.current_generation(index) / gen.MANIFEST
    data = json.loads(manifest_file.read_text())
    assert data.pop("vectors") == TWO_PASS
    manifest_file.write_text(json.dumps(data))  # as written before the method was recorded: made the same way
    assert update_index(SAMPLE_POSTS, index).nothing_changed

    late = update_index(SAMPLE_POSTS, index, vectors=METHOD)  # same posts, another method: all embedded again
    assert late.embedded == late.passages == first.passages and late.reused == 0
    assert gen.read_manifest(gen.current_generation(index)).vectors == METHOD
    assert update_index(SAMPLE_POSTS, index, vectors=METHOD).nothing_changed
    back = update_index(SAMPLE_POSTS, index)
    assert back.embedded == back.passages and gen.read_manifest(gen.current_generation(index)).vectors == TWO_PASS


BUILD_WITHOUT_TORCH = """
import json, sys
from tripsearch.build import update_index
report = update_index(sys.argv[1], sys.argv[2])
print(json.dumps({"kind": report.encoder_kind, "tokens": report.tokens,
                  "heavy": [m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules]}))
"""

RUNTIME_ALONE = """
import json, sys
import tripsearch.embed.runtime, tripsearch.embed.late, tripsearch.embed.cache, tripsearch.embed.onnx
print(json.dumps([m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules]))
"""


def test_the_onnx_runtime_never_imports_torch():
    done = subprocess.run([sys.executable, "-c", RUNTIME_ALONE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []


def test_a_build_with_a_cached_export_never_imports_torch(tmp_path, exported):
    done = subprocess.run(
        [sys.executable, "-c", BUILD_WITHOUT_TORCH, str(SAMPLE_POSTS), str(tmp_path / "index")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["kind"] == "onnx" and result["tokens"] > 0
    assert result["heavy"] == []
