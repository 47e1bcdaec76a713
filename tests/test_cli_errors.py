"""Every CLI command, driven wrong the ways users drive it wrong: one line on stderr, a non-zero exit, no traceback.

Run as real processes (``python -m tripsearch``), since a traceback is what a user would see in the terminal.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE_POSTS

from tripsearch.errors import (
    BadInput,
    IndexCorrupt,
    IndexMismatch,
    IndexNotFound,
    IndexProblem,
    ModelNotFound,
    ModelProblem,
    OnnxUnavailable,
    TripsearchError,
)
from tripsearch.posts.dates import BadDate
from tripsearch.posts.header import BadFrontMatter
from tripsearch.posts.reader import UnreadablePost


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tripsearch", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, exit_code: int, *needles: str) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert proc.returncode == exit_code, (proc.returncode, proc.stderr)
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_every_library_error_has_the_one_root():
    for kind in (BadInput, BadDate, BadFrontMatter, UnreadablePost, IndexProblem, IndexNotFound, IndexCorrupt,
                 IndexMismatch, ModelProblem, ModelNotFound, OnnxUnavailable):  # fmt: skip
        assert issubclass(kind, TripsearchError), kind
    assert len({BadInput.exit_code, IndexProblem.exit_code, ModelProblem.exit_code}) == 3
    assert all(k.exit_code != 0 for k in (BadInput, IndexProblem, ModelProblem))


@pytest.mark.parametrize(
    "command",
    [
        ["query", "tail sampling"],
        ["ask", "what is tail sampling?"],
        ["eval", str(SAMPLE_POSTS.parent / "questions.jsonl")],
    ],
)
def test_missing_index(tmp_path, command):
    proc = run_cli(*command, "--index", str(tmp_path / "no-index"))
    assert_one_line_error(proc, IndexProblem.exit_code, str(tmp_path / "no-index"), "tripsearch index")


def test_index_with_a_missing_model_folder(tmp_path):
    proc = run_cli("index", str(SAMPLE_POSTS), "--index", str(tmp_path / "index"), "--model", "./no-such-model")
    assert_one_line_error(proc, ModelProblem.exit_code, "no-such-model")
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_a_folder_that_is_not_a_model_is_a_model_problem(tmp_path, sample_index_dir):
    """A model or cross-encoder folder that exists but cannot be loaded: exit 4 and one error line, no traceback;
    a cross-encoder path that is not a folder is never looked up on a hub."""
    fake = tmp_path / "fakemodel"
    fake.mkdir()
    (fake / "model.onnx").write_text("junk", encoding="utf-8")
    proc = run_cli("index", str(SAMPLE_POSTS), "--index", str(tmp_path / "index"), "--model", str(fake))
    assert "Traceback" not in proc.stderr and proc.returncode == ModelProblem.exit_code, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(fake) in last and "cannot load the model" in last
    assert not (tmp_path / "index" / "CURRENT").exists()
    for encoder, needle in ((fake, "cannot load the cross-encoder"), (tmp_path / "nope", "no cross-encoder folder")):
        proc = run_cli("ask", "cold starts", "--index", str(sample_index_dir), "--cross-encoder", str(encoder))
        assert_one_line_error(proc, ModelProblem.exit_code, needle)


def test_missing_posts_folder(tmp_path):
    assert_one_line_error(
        run_cli("index", str(tmp_path / "no-posts"), "--index", str(tmp_path / "index")), 2, "no-posts"
    )
    assert_one_line_error(run_cli("chunks", str(tmp_path / "no-posts")), 2, "no-posts")


@pytest.fixture()
def index_of_a_vanished_model(sample_index_dir, tmp_path) -> Path:
    """A copy of the sample index whose manifest names a model folder that is not there any more."""
    index_dir = shutil.copytree(sample_index_dir, tmp_path / "index")
    generation = index_dir / (index_dir / "CURRENT").read_text().strip()
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest["model"] = str(tmp_path / "vanished-model")
    (generation / "manifest.json").write_text(json.dumps(manifest))
    return index_dir


@pytest.mark.slow
@pytest.mark.parametrize("command", [["query", "tail sampling"], ["ask", "what is tail sampling?"]])
def test_query_and_ask_with_a_missing_model(index_of_a_vanished_model, command):
    proc = run_cli(*command, "--index", str(index_of_a_vanished_model))
    assert_one_line_error(proc, IndexProblem.exit_code, "vanished-model")


@pytest.mark.slow
@pytest.mark.parametrize("command", [["query", "tail sampling"], ["ask", "what is tail sampling?"]])
@pytest.mark.parametrize("option", ["--since", "--until"])
def test_bad_date(sample_index_dir, command, option):
    proc = run_cli(*command, option, "2023-13-45", "--index", str(sample_index_dir))
    assert_one_line_error(proc, 2, option, "2023-13-45")


@pytest.mark.slow
@pytest.mark.parametrize("command", [["query", "tail sampling"], ["ask", "what is tail sampling?"]])
def test_since_after_until(sample_index_dir, command):
    # An empty date range holds no post: an empty result would read as "the reports don't say".
    proc = run_cli(*command, "--since", "2025-01-01", "--until", "2024-01-01", "--index", str(sample_index_dir))
    assert_one_line_error(proc, BadInput.exit_code, "2025-01-01", "2024-01-01")


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", [["query", "tail sampling"], ["eval", str(SAMPLE_POSTS.parent / "questions.jsonl")]]
)
def test_bad_mode(sample_index_dir, command):
    proc = run_cli(*command, "--mode", "telepathy", "--index", str(sample_index_dir))
    assert_one_line_error(proc, 2, "--mode", "telepathy")


@pytest.mark.slow
def test_bad_question_file(sample_index_dir, tmp_path):
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"id": "q1", "question": "fine?"}\nnot json at all\n')
    proc = run_cli("eval", str(questions), "--index", str(sample_index_dir))
    assert_one_line_error(proc, BadInput.exit_code, f"{questions}:2")


def test_unknown_command_and_missing_argument():
    assert_one_line_error(run_cli("summon"), 2, "summon")
    assert_one_line_error(run_cli("index"), 2, "POSTS_DIR")
