"""The ONNX encoder, with the real all-MiniLM-L6-v2 (no mocks): export, agreement, light imports, fallbacks.

The export runs once per session into a temporary cache; tests that damage a cache work on a copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_POSTS, SAMPLE_QUESTIONS

from tripsearch.embed import ensure_fast_encoder, load_encoder
from tripsearch.embed.models import fingerprint, model_path
from tripsearch.embed.onnx import (
    MIN_COSINE,
    VERIFY_TEXTS,
    OnnxEncoder,
    OnnxUnavailable,
    build_onnx,
    export_onnx,
    onnx_status,
)

FP = fingerprint(model_path(None))


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> Path:
    """A cache dir holding a verified export of the default model (exported once per session)."""
    cache = tmp_path_factory.mktemp("encoders")
    status = ensure_fast_encoder(cache_dir=cache)
    assert status.startswith("onnx encoder ready"), status
    return cache


@pytest.fixture(scope="session")
def st_encoder():
    return load_encoder(backend="sentence-transformers")


@pytest.fixture(scope="session")
def onnx_encoder(exported):
    return load_encoder(backend="onnx", cache_dir=exported)


@pytest.fixture(scope="session")
def unseen_texts() -> list[str]:
    """Real passages and questions from the sample corpus plus a few edge cases; none used in verification."""
    from tripsearch.passages import split_post
    from tripsearch.posts import read_folder

    passages = [p.embedding_text() for post in read_folder(SAMPLE_POSTS).posts for p in split_post(post)]
    questions = [json.loads(line)["question"] for line in SAMPLE_QUESTIONS.read_text().splitlines() if line.strip()]
    edge = [
        "Warum war der Workshop zu Terraform-Modulen so überfüllt?",
        "SELECT count(*) FROM talks WHERE track = 'security' GROUP BY day;",
        "…",
        "ok",
        "Quantum annealing and the tyranny of Jira tickets " * 60,  # far past max_seq_length
    ]
    texts = passages + questions + edge
    assert len(passages) >= 10 and not set(texts) & set(VERIFY_TEXTS)
    return texts


@pytest.fixture(scope="session")
def st_vectors(st_encoder, unseen_texts) -> np.ndarray:
    return st_encoder.encode(unseen_texts, batch_size=32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)  # both unit rows


def copy_cache(src: Path, dst: Path) -> Path:
    shutil.copytree(src / FP, dst / FP)
    return dst


# ------------------------------------------------------------------------------------------------- export


def test_export_is_whole_verified_and_described(exported):
    folder = exported / FP
    assert sorted(p.name for p in folder.iterdir()) == ["encoder.json", "model.onnx", "tokenizer.json"]
    assert sorted(p.name for p in exported.iterdir()) == [FP], "no temp folders or failure records left behind"
    meta = json.loads((folder / "encoder.json").read_text())
    assert meta["fingerprint"] == FP
    assert (meta["pooling"], meta["normalize"], meta["max_seq_length"], meta["dim"]) == ("mean", True, 256, 384)
    v = meta["verification"]
    assert v["passed"] and v["texts"] == len(VERIFY_TEXTS) >= 20 and v["min_cosine"] >= MIN_COSINE
    assert 1 in v["batch_sizes"] and min(v["cosines"]) == v["min_cosine"]
    assert onnx_status(cache_dir=exported).ready
    assert export_onnx(None, exported) == folder  # reused, not redone


def test_verification_texts_exercise_truncation():
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_path(None)) / "tokenizer.json"))
    tokenizer.no_truncation()  # the shipped tokenizer.json truncates at 128 and pads to 128
    tokenizer.no_padding()
    lengths = [len(tokenizer.encode(t).ids) for t in VERIFY_TEXTS]
    assert max(lengths) > 256 and min(lengths) <= 3  # a truncated text and an empty-ish one


# ---------------------------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("batch_size", [1, 8, 64])
def test_onnx_and_sentence_transformers_agree_on_unseen_texts(st_vectors, onnx_encoder, unseen_texts, batch_size):
    expected = st_vectors
    got = onnx_encoder.encode(unseen_texts, batch_size=batch_size)
    assert got.shape == expected.shape == (len(unseen_texts), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert cosines(got, expected).min() >= MIN_COSINE


def test_encoders_describe_themselves_alike(st_encoder, onnx_encoder):
    assert (onnx_encoder.kind, st_encoder.kind) == ("onnx", "sentence-transformers")
    assert onnx_encoder.name == st_encoder.name == "all-MiniLM-L6-v2"
    assert onnx_encoder.fingerprint == st_encoder.fingerprint == FP
    assert onnx_encoder.dim == st_encoder.dim == 384
    assert onnx_encoder.encode([]).shape == (0, 384)


def test_progress_counts_every_text(onnx_encoder):
    seen: list[int] = []
    onnx_encoder.encode([f"text {i}" for i in range(10)], batch_size=4, progress=seen.append)
    assert seen == [4, 4, 2]


# ------------------------------------------------------------------------------------------- light imports

QUERY_SCRIPT = """
import json, sys
from tripsearch.embed import load_encoder
from tripsearch.embed.models import fingerprint, model_path
from tripsearch.embed.onnx import onnx_status
fp = fingerprint(model_path(None))
ready = onnx_status().ready
out = {}
for backend in ("onnx", "auto"):
    enc = load_encoder(backend=backend)  # cache dir from $TRIPSEARCH_CACHE
    vec = enc.encode(["what did they say about multi-account strategy?"])
    out[backend] = [enc.kind, list(vec.shape)]
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
print(json.dumps({"fp": fp, "ready": ready, "encoders": out, "heavy": heavy}))
"""


def test_query_path_never_imports_torch_or_sentence_transformers(exported):
    env = {**os.environ, "TRIPSEARCH_CACHE": str(exported)}
    run = subprocess.run([sys.executable, "-c", QUERY_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["fp"] == FP and result["ready"]
    assert result["encoders"] == {"onnx": ["onnx", [1, 384]], "auto": ["onnx", [1, 384]]}


# ------------------------------------------------------------------------------------------ backend choice


def test_auto_picks_sentence_transformers_before_export_and_onnx_after(tmp_path, exported):
    with pytest.raises(OnnxUnavailable, match="no ONNX export") as refused:
        load_encoder(backend="onnx", cache_dir=tmp_path)
    assert not refused.value.broken
    assert not onnx_status(cache_dir=tmp_path).ready
    assert load_encoder(cache_dir=tmp_path).kind == "sentence-transformers"
    assert load_encoder(backend="auto", cache_dir=exported).kind == "onnx"
    assert load_encoder(backend="sentence-transformers", cache_dir=exported).kind == "sentence-transformers"


def test_ensure_fast_encoder_reuses_a_good_export(exported):
    meta = exported / FP / "encoder.json"
    before = meta.stat().st_mtime_ns
    status = ensure_fast_encoder(cache_dir=exported)
    assert status.startswith("onnx encoder ready") and "exported in" not in status and "\n" not in status
    assert meta.stat().st_mtime_ns == before


def test_export_is_the_eager_attention_trace_and_matches_sentence_transformers(
    exported, onnx_encoder, st_vectors, unseen_texts
):
    """The export is traced with eager attention (faster on onnxruntime than the SDPA trace, see
    tripsearch.embed.export.use_eager_attention) and still reproduces sentence-transformers, which runs SDPA."""
    import onnx

    from tripsearch.embed.cache import RECIPE

    meta = json.loads((exported / FP / "encoder.json").read_text())
    assert meta["graph"] == {"recipe": RECIPE, "attention": "eager"}
    ops = {node.op_type for node in onnx.load(str(exported / FP / "model.onnx")).graph.node}
    assert "Softmax" in ops and "IsNaN" not in ops  # SDPA's trace guards its softmax with IsNaN/Where
    assert cosines(onnx_encoder.encode(unseen_texts, batch_size=8), st_vectors).min() >= MIN_COSINE


def test_an_export_by_an_older_recipe_is_remade_once(tmp_path, exported):
    cache = copy_cache(exported, tmp_path)
    _edit_meta(graph={"recipe": "sdpa-plain-0"})(cache / FP)  # as the exports before the fused graph
    assert OnnxEncoder(None, cache).encode(["still usable by queries"]).shape == (1, 384)
    status = build_onnx(None, cache)
    assert status.ready and "exported in" in status.reason
    meta = json.loads((cache / FP / "encoder.json").read_text())
    assert meta["graph"] == json.loads((exported / FP / "encoder.json").read_text())["graph"]
    again = build_onnx(None, cache)
    assert again.ready and "exported in" not in again.reason


def test_an_older_recipe_is_kept_when_remaking_it_failed(tmp_path, exported):
    from tripsearch.embed.cache import attempt_key

    cache = copy_cache(exported, tmp_path)
    _edit_meta(graph={"recipe": "sdpa-plain-0"})(cache / FP)
    record = {"reason": "torch is not installed", "when": "now", "attempt": attempt_key(MIN_COSINE)}
    (cache / f"{FP}.failed.json").write_text(json.dumps(record))
    status = build_onnx(None, cache)  # the failure is recorded for these versions: keep the verified old export
    assert status.ready and status.encoder is not None and "exported in" not in status.reason
    assert json.loads((cache / FP / "encoder.json").read_text())["graph"]["recipe"] == "sdpa-plain-0"


def test_unknown_backend_is_an_error():
    with pytest.raises(ValueError, match="backend"):
        load_encoder(backend="tensorflow")


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    from tripsearch.embed.onnx import default_cache_dir

    monkeypatch.setenv("TRIPSEARCH_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("TRIPSEARCH_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "tripsearch" / "encoders"


# ------------------------------------------------------------------------------------- refusals, fallbacks


@pytest.fixture
def weightedmean_model(tmp_path) -> Path:
    """The default model with weighted-mean pooling: a real model the ONNX encoder does not support."""
    src, dst = Path(model_path(None)), tmp_path / "weightedmean-minilm"
    dst.mkdir()
    for item in src.iterdir():
        if item.is_dir():
            shutil.copytree(item, dst / item.name)
        elif item.suffix == ".safetensors":
            (dst / item.name).symlink_to(item)
        else:
            shutil.copy2(item, dst / item.name)
    pooling = dst / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_weightedmean_tokens=True)
    pooling.write_text(json.dumps(config))
    return dst


def test_unsupported_model_is_refused_with_reason_and_auto_falls_back(tmp_path, weightedmean_model):
    cache = tmp_path / "cache"
    model = str(weightedmean_model)
    status = ensure_fast_encoder(model, cache)
    assert status.startswith("onnx encoder not available") and "pooling mode 'weightedmean' is not supported" in status
    fp = fingerprint(model)
    assert not (cache / fp).exists() and not list(cache.glob(".tmp-*"))
    record = json.loads((cache / f"{fp}.failed.json").read_text())
    assert record["stage"] == "unsupported" and "weightedmean" in record["reason"]

    again = build_onnx(model, cache)  # recorded: answered without loading the model again
    assert not again.ready and "recorded" in again.reason and "weightedmean" in again.reason
    assert export_onnx(model, cache) is None
    with pytest.raises(OnnxUnavailable, match="weightedmean"):
        OnnxEncoder(model, cache)
    encoder = load_encoder(model, cache_dir=cache)
    assert encoder.kind == "sentence-transformers" and encoder.encode(["hello"]).shape == (1, 384)


def test_failed_verification_keeps_no_export(tmp_path):
    status = build_onnx(None, tmp_path, min_cosine=1.5)  # unattainable: every export fails verification
    assert not status.ready and status.reason.startswith("verification failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{FP}.failed.json"]
    record = json.loads((tmp_path / f"{FP}.failed.json").read_text())
    assert record["stage"] == "verification" and len(record["verification"]["cosines"]) == len(VERIFY_TEXTS)
    with pytest.raises(OnnxUnavailable, match="verification failed"):
        OnnxEncoder(None, tmp_path)
    assert load_encoder(cache_dir=tmp_path).kind == "sentence-transformers"


def _truncate_model(folder: Path) -> None:
    with open(folder / "model.onnx", "r+b") as fh:
        fh.truncate(1000)


def _scramble_model(folder: Path) -> None:  # same size, so only loading it can tell
    size = (folder / "model.onnx").stat().st_size
    (folder / "model.onnx").write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())


def _edit_meta(**changes):
    def edit(folder: Path) -> None:
        meta = json.loads((folder / "encoder.json").read_text())
        for key, value in changes.items():
            target, *path = key.split("__")
            if path:
                meta[target][path[0]] = value
            else:
                meta[target] = value
        (folder / "encoder.json").write_text(json.dumps(meta))

    return edit


def _flip_probe(folder: Path) -> None:  # the export no longer reproduces the embedding it recorded
    meta = json.loads((folder / "encoder.json").read_text())
    meta["probe"]["vector"] = [-x for x in meta["probe"]["vector"]]
    (folder / "encoder.json").write_text(json.dumps(meta))


BREAKAGES = {
    "model truncated": (_truncate_model, "model.onnx"),
    "model scrambled": (_scramble_model, "onnxruntime cannot load"),
    "tokenizer missing": (lambda f: (f / "tokenizer.json").unlink(), "tokenizer.json is missing"),
    "encoder.json garbage": (lambda f: (f / "encoder.json").write_text("{not json"), "not valid JSON"),
    "not verified": (_edit_meta(verification__passed=False), "passed verification"),
    "other fingerprint": (_edit_meta(fingerprint="0000000000000000"), "fingerprint"),
    "self-check fails": (_flip_probe, "self-check"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_broken_export_is_refused_and_auto_falls_back(tmp_path, exported, breakage, caplog):
    cache = copy_cache(exported, tmp_path)
    damage, expected = BREAKAGES[breakage]
    damage(cache / FP)
    with pytest.raises(OnnxUnavailable, match=expected) as refused:
        OnnxEncoder(None, cache)
    assert refused.value.broken and "broken ONNX export" in refused.value.reason
    assert not onnx_status(cache_dir=cache).ready or breakage in ("model scrambled", "self-check fails")
    with caplog.at_level("WARNING", logger="tripsearch.embed"):
        assert load_encoder(cache_dir=cache).kind == "sentence-transformers"
    assert "broken ONNX export" in caplog.text


def test_ensure_fast_encoder_replaces_a_broken_export(tmp_path, exported, st_encoder):
    cache = copy_cache(exported, tmp_path)
    _truncate_model(cache / FP)
    status = ensure_fast_encoder(cache_dir=cache)
    assert status.startswith("onnx encoder ready") and "exported in" in status
    assert sorted(p.name for p in cache.iterdir()) == [FP]
    texts = ["Which talk covered Graviton?", "Wie teuer war die Konferenz?"]
    assert cosines(OnnxEncoder(None, cache).encode(texts), st_encoder.encode(texts)).min() >= MIN_COSINE
