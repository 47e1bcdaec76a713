"""The Milvus store (issue 15) against a real milvus-lite server, and beside the local store.

Tests that talk to the ``PassageStore`` seam run over both stores (``store`` is parametrised): the local one of the
sample index (``Index.open(dir).store``) and a Milvus index built from the same sample posts with the same real
model. Rows are each store's own numbering, so everything is compared by passage id. The server comes from
tests/milvus_server.py: it fails (never skips) in CI when it cannot start.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_POSTS
from milvus_server import free_port, milvus_server, needs_milvus, start_server  # noqa: F401  (fixture)

from tripsearch.errors import BadInput, IndexMismatch, IndexNotFound, IndexUnreachable
from tripsearch.search.filters import Filters


def _address(server, name: str) -> str:
    return f"milvus://{server.host}:{server.port}/{name}"


@pytest.fixture(scope="module")
def milvus_store(milvus_server):
    from tripsearch.store.milvus import open_milvus_store
    from tripsearch.store.milvus_build import build_milvus

    address = _address(milvus_server, "sample_store")
    report = build_milvus(address, SAMPLE_POSTS, rebuild=True)
    assert report.posts == 7 and report.embedded == report.passages > 0
    return open_milvus_store(address)


@pytest.fixture(scope="module")
def local_store(sample_index):
    return sample_index.store


@pytest.fixture(params=["local", "milvus"])
def store(request):
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture(scope="module")
def query(sample_index):
    """A real question's vector (the sample index's model, which both stores were built with)."""
    return sample_index.embed_query("how did they cut Lambda cold starts in the payments API?")


def _all(store) -> list:
    return store.fetch(list(range(len(store))))


def _ids(store, rows) -> list[str]:
    return [p.id for p in store.fetch(rows)]


def test_both_stores_hold_the_same_passages(local_store, milvus_store):
    """Every passage (text, lines, sentences, talks, post metadata) comes back from Milvus as the local store has
    it; the model fingerprint and dimension are the same."""
    local = {p.id: p for p in _all(local_store)}
    remote = {p.id: p for p in _all(milvus_store)}
    assert remote == local
    assert (milvus_store.model_fingerprint, milvus_store.dim) == (local_store.model_fingerprint, local_store.dim)
    assert milvus_store.sentence_count == sum(len(p.sentences) for p in local.values())


def test_fetch_by_rows_in_order(store):
    n = len(store)
    rows = [n - 1, 0, 3, 3]
    passages = store.fetch(rows)
    assert [store.row_of(p.id) for p in passages] == [n - 1, 0, 3, 3]
    assert store.row_of("no-such-passage") is None
    assert store.fetch([]) == []


def test_dense_candidates_follow_exact_order(store, local_store, query):
    """On a small set the ANN's order is the exact passage-cosine order (computed from the local vectors)."""
    vectors = {p.id: np.asarray(local_store.vectors[i]) for i, p in enumerate(_all(local_store))}
    exact = sorted(vectors, key=lambda pid: -float(vectors[pid] @ query))
    assert _ids(store, store.dense_candidates(query, 10, None)) == exact[:10]


def test_dense_scores_and_sentence_stage_agree(local_store, milvus_store, query):
    """The same passages get the same dense score (0.3 passage + 0.7 best sentence) and the same sentence cosines."""
    ids = _ids(local_store, local_store.dense_candidates(query, 12, None))
    local_rows = np.array([local_store.row_of(i) for i in ids])
    remote_rows = np.array([milvus_store.row_of(i) for i in ids])
    local_scores, _, local_sims = local_store.dense_scores(local_rows, query)
    remote_scores, remote_index, remote_sims = milvus_store.dense_scores(remote_rows, query)
    np.testing.assert_allclose(remote_scores, local_scores, atol=1e-5)
    np.testing.assert_allclose(remote_sims, local_sims, atol=1e-5)  # both in the candidates' sentence order
    assert len(remote_index) == len(set(remote_index.tolist())) == len(remote_sims)
    np.testing.assert_allclose(
        np.sort(milvus_store.dense_sample(query)), np.sort(local_store.dense_sample(query)), atol=1e-5
    )


@pytest.mark.parametrize(
    "filters", [Filters.of(tag="kubernetes"), Filters.of(since="2023-01-01"), Filters.of(post="pycon")]
)
def test_filtered_search_returns_k_when_k_exist(store, query, filters):
    """Filters are applied inside the search: k rows when k pass, all passing; every passing row when fewer."""
    passages = _all(store)
    allowed = filters.mask(passages)
    assert 0 < allowed.sum() < len(passages)
    far = -query  # prefers rows the filter drops: a post-filter of the plain top k would come back short
    for k in (min(5, int(allowed.sum())), int(allowed.sum()) + 5):
        rows = store.dense_candidates(far, k, allowed)
        assert len(rows) == min(k, int(allowed.sum()))
        assert allowed[rows].all()


def _rare_word(passages) -> tuple[str, str]:
    """A word of 8+ letters in exactly one passage's text, and that passage's id (deterministic: the first)."""
    counts = Counter(w for p in passages for w in set(re.findall(r"[a-z]{8,}", p.text.lower())))
    for p in sorted(passages, key=lambda p: p.id):
        for word in sorted(set(re.findall(r"[a-z]{8,}", p.text.lower()))):
            if counts[word] == 1 and word not in p.post.title.lower():
                return word, p.id
    raise AssertionError("no rare word in the sample")


def test_keyword_top_finds_a_rare_word(store):
    word, passage_id = _rare_word(_all(store))
    found = store.keyword_top(word, 5)
    assert found.count >= 1 and found.rows
    assert _ids(store, [found.rows[0][0]]) == [passage_id]
    assert found.total >= found.rows[0][1] > 0


def test_facets_equal(local_store, milvus_store):
    assert milvus_store.facets() == local_store.facets()


# ---- the write side (Milvus only) ------------------------------------------------------


@pytest.fixture
def posts(tmp_path):
    return shutil.copytree(SAMPLE_POSTS, tmp_path / "posts")


def _state(store) -> dict[str, str]:
    return {p.id: (p.post.path, p.content_hash, p.text) for p in _all(store)}


def test_incremental_update_touches_only_what_changed(milvus_server, posts):
    from tripsearch.store.milvus import open_milvus_store
    from tripsearch.store.milvus_build import build_milvus

    address = _address(milvus_server, "incremental")
    first = build_milvus(address, posts, rebuild=True)
    before = _state(open_milvus_store(address))

    unchanged = build_milvus(address, posts)
    assert unchanged.nothing_changed and not unchanged.model_loaded and unchanged.embedded == 0
    assert unchanged.passages == first.passages

    edited = posts / "kubecon-eu-2024.md"
    edited.write_text(edited.read_text() + "\nThe closing keynote mentioned zyxwvutronic observability.\n")
    update = build_milvus(address, posts)
    assert (update.changed, update.added, update.removed) == (1, 0, 0)
    assert update.generation == first.generation  # written in place, not a new build
    assert 0 < update.embedded < first.embedded and update.reused > 0  # its unchanged talks reused by content hash
    store = open_milvus_store(address)
    after = _state(store)
    differ = {pid for pid in before.keys() | after.keys() if before.get(pid) != after.get(pid)}
    assert differ and {(before.get(pid) or after.get(pid))[0] for pid in differ} == {"kubecon-eu-2024.md"}
    (hit,) = store.keyword_top("zyxwvutronic", 5).rows
    assert store.fetch([hit[0]])[0].post.path == "kubecon-eu-2024.md"

    gone = "2019-05-14-pycon-us.markdown"
    (posts / gone).unlink()
    removal = build_milvus(address, posts)
    assert removal.removed == 1 and not removal.model_loaded
    store = open_milvus_store(address)
    assert gone not in {p.post.path for p in _all(store)} and gone not in {m.path for m in store.post_list}
    assert _state(store) == {pid: s for pid, s in after.items() if s[0] != gone}
    assert len(store) == removal.passages

    again = build_milvus(address, posts)
    assert again.nothing_changed and not again.model_loaded


def test_rebuild_switches_the_alias_and_keeps_the_build_before(milvus_server, posts):
    from tripsearch.store.milvus import open_milvus_store
    from tripsearch.store.milvus_build import build_milvus

    address = _address(milvus_server, "switched")
    first = build_milvus(address, posts, rebuild=True)
    reader = open_milvus_store(address)
    (posts / "2019-05-14-pycon-us.markdown").unlink()
    second = build_milvus(address, posts, rebuild=True)
    assert second.generation != first.generation
    client = milvus_server.client()
    try:
        assert client.describe_alias("switched")["collection_name"] == second.generation
        assert len(_all(reader)) == first.passages  # an open reader still reads the build it opened
        assert len(open_milvus_store(address)) == second.passages
        third = build_milvus(address, posts, rebuild=True)
        names = set(client.list_collections())
        assert {second.generation, third.generation} <= names and first.generation not in names
        assert f"{first.generation}_sentences" not in names
    finally:
        client.close()


def test_a_rebuild_never_drops_another_index_sharing_its_name_prefix(milvus_server, posts):
    # Garbage collection after a build used to drop every collection starting with NAME__g: "demo__german" too.
    from tripsearch.store.milvus import open_milvus_store
    from tripsearch.store.milvus_build import build_milvus

    neighbour = build_milvus(_address(milvus_server, "prefixed__german"), posts, rebuild=True)
    for _ in range(3):  # enough builds of "prefixed" that its own old ones are collected
        build_milvus(_address(milvus_server, "prefixed"), posts, rebuild=True)
    assert len(open_milvus_store(_address(milvus_server, "prefixed__german"))) == neighbour.passages


def test_a_plain_collection_of_that_name_is_refused_before_any_work(milvus_server, posts):
    # Found by a new-user test: "no tripsearch index named plaincol; build it", then a build that embedded
    # everything, failed on the alias and left three collections behind, at every retry.
    from tripsearch.store.milvus import open_milvus_store
    from tripsearch.store.milvus_build import build_milvus

    client = milvus_server.client()
    try:
        client.create_collection("someone_elses", dimension=4)
        before = set(client.list_collections())
        address = _address(milvus_server, "someone_elses")
        for attempt in (lambda: open_milvus_store(address), lambda: build_milvus(address, posts)):
            with pytest.raises(IndexMismatch, match="someone_elses is a collection on this server that is not a"):
                attempt()
        assert set(client.list_collections()) == before
    finally:
        client.close()


def test_another_model_is_a_one_line_mismatch(milvus_server, milvus_store, posts):
    from tripsearch.store.milvus import open_milvus_store
    from tripsearch.store.milvus_build import build_milvus
    from tripsearch.store.milvus_schema import PROPERTY

    address = _address(milvus_server, "sample_store")
    with pytest.raises(IndexMismatch, match="built with model .*fingerprint") as error:
        open_milvus_store(address, model_fingerprint="0" * 16)
    assert "\n" not in str(error.value) and address in str(error.value)
    assert open_milvus_store(address, model_fingerprint=milvus_store.model_fingerprint)

    other = _address(milvus_server, "other_model")
    report = build_milvus(other, posts, rebuild=True)
    client = milvus_server.client()
    try:
        client.alter_collection_properties(report.generation, properties={PROPERTY + "model_fingerprint": "f" * 16})
        with pytest.raises(IndexMismatch, match="Vectors of two models cannot be mixed") as error:
            build_milvus(other, posts)
        assert "\n" not in str(error.value)
    finally:
        client.close()


def test_unreachable_server_and_missing_index_are_one_line_errors(milvus_server):
    from tripsearch.store.milvus import open_milvus_store
    from tripsearch.store.milvus_build import build_milvus

    nobody = f"milvus://127.0.0.1:{free_port()}/anything"
    for attempt in (lambda: open_milvus_store(nobody), lambda: build_milvus(nobody, SAMPLE_POSTS)):
        with pytest.raises(IndexUnreachable, match="no Milvus server answers") as error:
            attempt()
        assert "\n" not in str(error.value) and nobody in str(error.value)
    missing = _address(milvus_server, "never_built")
    with pytest.raises(IndexNotFound, match="no tripsearch index named never_built") as error:
        open_milvus_store(missing)
    assert "\n" not in str(error.value)


def test_address_parsing():
    from tripsearch.store.milvus_schema import parse_address
    from tripsearch.store.targets import milvus_address

    assert parse_address("milvus://db.example.org:19531/trips") == ("db.example.org", 19531, "trips")
    assert parse_address("milvus://localhost/trips").port == 19530
    assert str(parse_address("milvus://[::1]:1/t_2")) == "milvus://[::1]:1/t_2"
    assert milvus_address("milvus://h/n") == "milvus://h/n" and milvus_address("index") is None
    for bad in ("milvus://host:99999/x", "milvus://host/", "milvus://host/9name", "milvus://host/a-b", "http://h/x"):
        with pytest.raises(BadInput):
            parse_address(bad)
    with pytest.raises(BadInput, match="201 characters long; at most 181"):
        parse_address("milvus://host/" + "n" * 201)

    # Found by a new-user test: MILVUS:// built a local folder "MILVUS:/host/…", and so did http://.
    assert milvus_address("MILVUS://h:1/n") == "milvus://h:1/n"
    assert milvus_address("index") is None and milvus_address(Path("milvus://h:1/n")) == "milvus://h:1/n"
    for other in ("http://h/x", "s3://bucket/index"):
        with pytest.raises(BadInput, match="not an index folder nor a milvus://"):
            milvus_address(other)


def test_a_local_index_seeds_a_build_without_embedding(milvus_server, sample_index_dir, local_store):
    """``seed``: moving a local index to Milvus reuses its vectors by content hash; nothing is embedded again."""
    from tripsearch.store.milvus import open_milvus_store
    from tripsearch.store.milvus_build import build_milvus

    address = _address(milvus_server, "seeded")
    report = build_milvus(address, SAMPLE_POSTS, rebuild=True, seed=sample_index_dir)
    assert report.embedded == 0 and report.reused == report.passages == len(local_store)
    assert not report.model_loaded
    assert {p.id: p for p in _all(open_milvus_store(address))} == {p.id: p for p in _all(local_store)}


def test_a_mask_that_splits_a_post_is_searched_by_id(milvus_store, local_store, query):
    """Filters mask whole posts; any other mask (here every third row) still filters inside the search, by id, and
    the passage vectors read back are the local store's."""
    allowed = np.zeros(len(milvus_store), dtype=bool)
    allowed[::3] = True
    assert milvus_store.expression(allowed).startswith("id in [")
    rows = milvus_store.dense_candidates(query, 8, allowed)
    assert len(rows) == 8 and allowed[rows].all()
    ids = _ids(milvus_store, rows)
    local_rows = [local_store.row_of(pid) for pid in ids]
    np.testing.assert_allclose(milvus_store.passage_vectors(rows), local_store.vectors[local_rows], atol=1e-6)
    assert milvus_store.expression(np.zeros(len(milvus_store), dtype=bool)) is None
    assert milvus_store.expression(np.ones(len(milvus_store), dtype=bool)) == ""


@needs_milvus
def test_a_server_that_goes_away_is_a_one_line_error(tmp_path, sample_index_dir, capfd):
    """A store whose server stops under it: each call raises ``IndexUnreachable`` in one line, and pymilvus prints
    no traceback of its own (its loggers are quieted: we report the failure)."""
    from tripsearch.store.milvus import open_milvus_store
    from tripsearch.store.milvus_build import build_milvus

    server = start_server(tmp_path / "data")
    try:
        address = _address(server, "going")
        build_milvus(address, SAMPLE_POSTS, seed=sample_index_dir)
        store = open_milvus_store(address)
    finally:
        assert server.stop() == 0
    capfd.readouterr()
    for call in (lambda: store.keyword_top("lambda", 5), lambda: store.fetch([0])):
        with pytest.raises(IndexUnreachable, match="Milvus failed while") as error:
            call()
        assert "\n" not in str(error.value) and address in str(error.value)
    assert "Traceback" not in capfd.readouterr().err
