"""Shared fixtures: the sample corpus in the repo, and the real corpus in ../shared when present."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_POSTS = ROOT / "sample" / "posts"
SAMPLE_QUESTIONS = ROOT / "sample" / "questions.jsonl"
SHARED = ROOT.parent / "shared"
REAL_CORPUS = SHARED / "corpus" / "trip-reports"
DEV_QUESTIONS = SHARED / "eval" / "dev.jsonl"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def real_corpus() -> Path:
    if not REAL_CORPUS.is_dir():
        pytest.skip(f"the real corpus is not here ({REAL_CORPUS}); it is in ../shared on dev machines and CI")
    return REAL_CORPUS


@pytest.fixture(scope="session")
def real_posts(real_corpus):
    from tripsearch.posts import read_folder

    return read_folder(real_corpus)


@pytest.fixture(scope="session")
def real_passages(real_posts):
    from tripsearch.passages import split_post

    return {post.path: split_post(post) for post in real_posts.posts}


@pytest.fixture(scope="session")
def corpus_copy(real_corpus, tmp_path_factory):
    """A private copy of the real corpus that tests may edit (copy2 keeps mtimes)."""
    return shutil.copytree(real_corpus, tmp_path_factory.mktemp("corpus") / "posts")


@pytest.fixture(scope="session")
def real_index_dir(corpus_copy, tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("index") / "index"
    from tripsearch.build import update_index

    report = update_index(corpus_copy, index_dir)
    assert report.posts == 361 and report.embedded == report.passages
    return index_dir


@pytest.fixture(scope="session")
def real_index(real_index_dir):
    from tripsearch import Index

    return Index.open(real_index_dir)


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory):
    from tripsearch.build import update_index

    index_dir = tmp_path_factory.mktemp("sample-index") / "index"
    update_index(SAMPLE_POSTS, index_dir)
    return index_dir


@pytest.fixture(scope="session")
def ann_sample_index_dir(tmp_path_factory):
    """The sample corpus built as a large index is: ``store.ann.ANN_MIN_ROWS`` lowered to 0 for the build, so it
    has the passage graph and the sentence index (issue 13). Read-only for the tests that share it."""
    from tripsearch.build import update_index
    from tripsearch.store import ann

    index_dir = tmp_path_factory.mktemp("ann-sample-index") / "index"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ann, "ANN_MIN_ROWS", 0)
        update_index(SAMPLE_POSTS, index_dir)
    return index_dir


@pytest.fixture(scope="session")
def sample_index(sample_index_dir):
    from tripsearch import Index

    return Index.open(sample_index_dir)


def post_with_most_passages(idx) -> tuple[str, int]:
    """(path, passage count) of the post of ``idx`` with the most passages: a filter to one post that can still
    return several hits."""
    by_post: dict[str, int] = {}
    for passage in idx.passages:
        by_post[passage.post.path] = by_post.get(passage.post.path, 0) + 1
    return max(by_post.items(), key=lambda item: item[1])
