"""Shared fixtures: the sample corpus in the repo, and the real corpus in ../shared when present."""

from __future__ import annotations

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
