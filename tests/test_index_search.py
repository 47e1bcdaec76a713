"""Index and search on the real corpus: one build per test session, the real model, FAISS and SQLite."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys

import pytest

from tripsearch import Index
from tripsearch.build import update_index
from tripsearch.store.database import DB_FILE
from tripsearch.store.generations import IndexMismatch

PY = sys.executable


def test_search_returns_typed_hits_with_their_source(real_index):
    hits = real_index.search("multi-account strategy on AWS", k=5)
    assert len(hits) == 5
    best = hits[0]
    assert best.text and best.path.endswith(".md") and best.post_title
    assert best.start_line <= best.end_line
    assert best.dense_rank or best.keyword_rank
    assert any("account" in h.text.lower() for h in hits)
    assert hits == sorted(hits, key=lambda h: -h.score)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_each_mode_finds_the_expedia_aurora_story(real_index, mode):
    hits = real_index.search("Which company moved from Cassandra to Aurora and what did it save?", k=10, mode=mode)
    assert any("Expedia" in h.text and "Aurora" in h.text for h in hits)
    if mode == "dense":
        assert all(h.keyword_rank is None for h in hits)
    if mode == "keyword":
        assert all(h.dense_rank is None for h in hits)


def test_filters_still_return_k_hits(real_index):
    k = 7
    by_tag = real_index.search("deployment", k=k, tag="postgres")
    assert len(by_tag) == k and all("postgres" in h.tags for h in by_tag)
    since, until = dt.date(2014, 1, 1), dt.date(2015, 12, 31)
    by_date = real_index.search("keynote", k=k, since="2014-01-01", until="2015-12-31")
    assert len(by_date) == k and all(h.date and since <= h.date <= until for h in by_date)
    author = next(p.post.authors[0] for p in real_index.passages if p.post.authors)
    by_author = real_index.search("conference", k=k, author=author.lower())
    assert by_author and all(author in h.authors for h in by_author)
    one_post = real_index.passages[0].post.path
    in_post = real_index.search("talk", k=3, post=one_post, mode="dense")
    assert in_post and all(h.path == one_post for h in in_post)


def test_a_post_can_answer_with_several_passages(real_index):
    hits = real_index.search("re:Invent 2017 day 1 keynote announcements", k=10)
    paths = [h.path for h in hits]
    assert len(set(paths)) < len(paths)


def test_vectors_and_metadata_agree(real_index, real_index_dir):
    con = sqlite3.connect(real_index.generation / DB_FILE)
    n_passages = con.execute("SELECT count(*) FROM passages").fetchone()[0]
    n_fts = con.execute("SELECT count(*) FROM passages_fts").fetchone()[0]
    assert n_passages == n_fts == real_index._faiss.ntotal == len(real_index.passages)
    assert not list(real_index.generation.glob("*.pkl")) and not list(real_index.generation.glob("*.pickle"))


def _run(code: str) -> dict:
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_incremental_updates(real_index_dir, corpus_copy, tmp_path):
    index_dir = shutil.copytree(real_index_dir, tmp_path / "index")
    posts = shutil.copytree(corpus_copy, tmp_path / "posts")

    # Nothing changed: nothing written, and no model loaded (checked in a fresh process).
    unchanged = _run(
        "import json, sys; from tripsearch.build import update_index;"
        f"r = update_index({str(posts)!r}, {str(index_dir)!r});"
        "print(json.dumps({'nothing': r.nothing_changed, 'loaded': r.model_loaded,"
        " 'heavy': sorted(m for m in ('torch', 'sentence_transformers', 'onnxruntime') if m in sys.modules)}))"
    )
    assert unchanged == {"nothing": True, "loaded": False, "heavy": []}

    # Edit one post: only its passages are embedded again.
    edited = posts / "kubecloud-kaspernissen__2017-11-28_AWS-re-invent-2017---Day-1-c4cdb5955dfc.md"
    late_talk = " ".join(
        f"Point {n}: the speaker explained how quantum ledgers in Zanzibar settle payments." for n in range(6)
    )
    edited.write_text(edited.read_text() + f"\n\n## Late addition\n\n{late_talk}\n")
    before = Index.open(index_dir)
    report = update_index(posts, index_dir)
    after = Index.open(index_dir)
    assert report.changed == 1 and report.added == report.removed == 0
    post_passages = [p for p in after.passages if p.post.path == edited.name]
    assert 1 <= report.embedded <= len(post_passages)
    assert report.reused == len(after.passages) - report.embedded
    assert any("Zanzibar" in h.text for h in after.search("quantum ledgers Zanzibar", k=3))
    assert len(before.passages) < len(after.passages)

    # Delete one post: gone from the passages, the keyword index and the vectors.
    gone = posts / "jreijn__2024-12-06-aws-reinvent-2024-day-4__index.md"
    gone.unlink()
    report = update_index(posts, index_dir)
    assert report.removed == 1
    idx = Index.open(index_dir)
    assert all(p.post.path != gone.name for p in idx.passages)
    assert gone.name not in idx.posts
    assert idx._faiss.ntotal == len(idx.passages)
    con = sqlite3.connect(idx.generation / DB_FILE)
    assert con.execute("SELECT count(*) FROM passages WHERE post_path = ?", (gone.name,)).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM passages_fts").fetchone()[0] == len(idx.passages)
    assert all(h.path != gone.name for h in idx.search("AWS re:Invent 2024 day 4", k=20))


def test_another_model_is_refused_not_mixed(real_index_dir, corpus_copy, tmp_path):
    index_dir = shutil.copytree(real_index_dir, tmp_path / "index")
    other = tmp_path / "other-model"
    shutil.copytree(_model_dir(), other)
    (other / "config.json").write_text((other / "config.json").read_text().replace("{", '{"_variant": 1,', 1))
    with pytest.raises(IndexMismatch, match="--rebuild"):
        update_index(corpus_copy, index_dir, model=str(other))


def _model_dir():
    from tripsearch.embed.models import model_path

    return model_path(None)


def test_cli_query_json_several_questions_one_index(real_index_dir):
    out = subprocess.run(
        [PY, "-m", "tripsearch", "query", "--index", str(real_index_dir), "-k", "3", "--json", "--tag", "aws"],
        input="multi-account strategy\nAurora versus Cassandra\n",
        capture_output=True,
        text=True,
        check=True,
    )
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    assert [a["query"] for a in answers] == ["multi-account strategy", "Aurora versus Cassandra"]
    for answer in answers:
        assert len(answer["hits"]) == 3
        hit = answer["hits"][0]
        assert {"text", "path", "post_title", "session_title", "start_line", "end_line", "date", "score"} <= hit.keys()
        assert all("aws" in h["tags"] for h in answer["hits"])


def test_cli_errors_are_clear(tmp_path):
    out = subprocess.run(
        [PY, "-m", "tripsearch", "query", "x", "--index", str(tmp_path)], capture_output=True, text=True
    )
    # exit 3: an index problem (tripsearch.errors.IndexProblem.exit_code); test_cli_errors.py covers every command
    assert out.returncode == 3 and "no index here yet" in out.stderr and "Traceback" not in out.stderr


def test_a_model_handed_in_is_checked_against_the_index(sample_index, sample_index_dir):
    # The app hands its shared model to Index.open; an index built with another model must still be refused, not
    # searched with the wrong vectors (found by a new-user test on a Milvus index; the folder index had it too).
    from types import SimpleNamespace

    real = sample_index.encoder
    other = SimpleNamespace(fingerprint="0" * 16, dim=real.dim, encode=real.encode)
    with pytest.raises(IndexMismatch, match="the model given has fingerprint 0000"):
        Index.open(sample_index_dir, encoder=other).search("lambda cold starts")
    assert Index.open(sample_index_dir, encoder=real).search("lambda cold starts")
