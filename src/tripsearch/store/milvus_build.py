"""Build or update an index on a Milvus server (issue 15) with the local build's own steps: ``build.scan`` reads the
posts folder into a ``Plan`` against what the server holds, ``embed.build_vectors.embed_missing`` embeds what has no
vectors yet (reusing a changed post's unchanged passages by content hash), and this module writes the result.

* First build, ``rebuild=True``, or an index of another chunker, format or vector method: every collection is
  written afresh under a new name (``NAME__g<stamp>``) and the alias ``NAME`` is moved to it in one call
  (``create_alias``/``alter_alias``), so readers see the old build or the new one, never a half-written one. The
  build before is kept (a reader may have just opened it); older ones, and builds a crash left, are dropped.
* Otherwise, incrementally in the live collections: a changed post's passages and sentence vectors are upserted
  (same ids replaced in place) and those it no longer has deleted; a removed post's rows are deleted; a touched
  post (same bytes, new mtime) only has its post row rewritten. Nothing changed: no model load, no writes.

Milvus has no transaction over several rows: during an incremental update a reader can see one post half
updated (a passage upserted, its old neighbour not yet deleted). A post's row (its content hash) is written last,
so an update cut short (server gone) is redone by the next run. One writer at a time, as for the local index.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

import numpy as np

from tripsearch.build import DEFAULT_VECTORS, VECTOR_METHODS, BuildProgress, BuildReport, Plan, _Previous, scan
from tripsearch.embed.build_vectors import embed_missing
from tripsearch.embed.models import ModelNotFound, model_name, resolve
from tripsearch.errors import BadInput, IndexMismatch
from tripsearch.passages import CHUNKER_VERSION
from tripsearch.records import SkippedFile
from tripsearch.store import generations as gen
from tripsearch.store.milvus import live_collection
from tripsearch.store.milvus_schema import (
    FORMAT,
    POST_FIELDS,
    PROPERTY,
    MilvusAddress,
    connect,
    create_collections,
    in_list,
    parse_address,
    passage_row,
    post_row,
    posts_of,
    properties,
    read_all,
    sentence_rows,
    sentences_of,
    server_errors,
    stored_post_of,
)

WRITE_BATCH = 256  # rows per insert/upsert: a passage row is about 2-4 KB (text, vector, keyword fields)
KEEP_BUILDS = 2  # the live build and the one before, as the local store keeps two generations

STAMP, STAMP_DIGITS = "%Y%m%d%H%M%S%f", 20  # a build's collection is NAME__g<UTC stamp, 20 digits>


def build_milvus(
    address: str | MilvusAddress,
    posts_dir: Path | str,
    model: str | None = None,
    rebuild: bool = False,
    progress: BuildProgress | None = None,
    backend: str = "auto",
    vectors: str = DEFAULT_VECTORS,
    seed: Path | str | None = None,
) -> BuildReport:
    """Bring the index at ``milvus://HOST:PORT/NAME`` up to date with ``posts_dir`` (``build.update_index``'s
    arguments and report; ``report.generation`` is the collection written, "" when nothing changed).

    ``seed``: a local index folder whose vectors a full build reuses by content hash when it was built with the
    same model and vector method (moving an index to Milvus without embedding it again).

    Raises ``BadInput`` (bad address or folder), ``IndexUnreachable`` (no server, or it failed mid-write: a full
    build's new collections are dropped and the alias is unchanged), ``IndexMismatch`` (built with another model),
    ``ModelNotFound``."""
    started = time.monotonic()
    address = parse_address(address) if isinstance(address, str) else address
    posts_dir = Path(posts_dir)
    if not posts_dir.is_dir():
        raise BadInput(f"{posts_dir}: posts folder not found")
    if vectors not in VECTOR_METHODS:
        raise BadInput(f"unknown way to make vectors {vectors!r}; expected one of {', '.join(VECTOR_METHODS)}")
    client = connect(address)
    report = BuildReport()
    with server_errors(address, "updating the index"):
        live = live_collection(client, address)
        previous = _Previous()
        if live is not None and not rebuild:
            record = properties(client, live)
            if _same_layout(record, vectors):  # else another chunker, format or vector method: write afresh
                previous = _load_previous(client, live, record)
        ref = _resolve_model(address, previous, model)
        plan = scan(posts_dir, previous)
        report.skipped, report.kept_previous, report.warned = plan.failed, plan.kept_previous, plan.warned
        report.added, report.changed = len(plan.added), len(plan.changed) - len(plan.added)
        report.removed, report.posts = len(plan.removed), len(plan.stored)
        if not plan.dirty:
            report.passages = _count(client, live)
        elif previous.manifest is None:
            seeded = _seed(seed, ref, vectors)
            report.generation = _write_build(
                client, address, live, plan, seeded, ref, (backend, vectors), progress, report
            )
        else:
            _update_live(client, live, plan, previous, ref, (backend, vectors), progress, report)
            report.generation = live
        if plan.dirty:
            report.passages = _count(client, report.generation)
    report.seconds = time.monotonic() - started
    return report


def _load_previous(client, live: str, record: dict[str, str]) -> _Previous:
    """What the live build holds, as ``build.scan`` wants it: the metadata record as a manifest and every post's
    file state. Passages and vectors are read later, for the changed posts only."""
    manifest = gen.Manifest(
        model=record.get("model", ""),
        model_fingerprint=record.get("model_fingerprint", ""),
        dim=int(record.get("dim", 0)),
        chunker_version=record.get("chunker", ""),
        encoder_kind=record.get("encoder_kind", ""),
        posts_dir="",
        built_at=record.get("built_at", ""),
        build_seconds=0.0,
        vectors=record.get("vectors", ""),
    )
    posts = {p.meta.path: p for p in map(stored_post_of, read_all(client, posts_of(live), POST_FIELDS))}
    skipped = sorted((SkippedFile(*s) for s in json.loads(record.get("skipped", "[]"))), key=lambda s: s.path)
    return _Previous(manifest, None, dict(sorted(posts.items())), skipped=skipped)


def _same_layout(record: dict[str, str], vectors: str) -> bool:
    """The live build was written the way this build writes: its updates can go into it in place."""
    return (record.get("format"), record.get("chunker"), record.get("vectors")) == (FORMAT, CHUNKER_VERSION, vectors)


def _resolve_model(address: MilvusAddress, previous: _Previous, model: str | None):
    """``build._resolve_model`` for a server index: the model must be the one the index was built with."""
    if previous.manifest is None:
        return resolve(model)
    manifest = previous.manifest
    wanted = model_name(model) if model else manifest.model
    ref = None
    if wanted == manifest.model:
        try:
            ref = resolve(wanted)
        except ModelNotFound as exc:
            raise IndexMismatch(
                f"{address}: this index was built with model {manifest.model}, which is not there any more ({exc}). "
                "Put it back, or rebuild with --rebuild (and --model) to switch models"
            ) from None
    if ref is None or ref.fingerprint != manifest.model_fingerprint:
        raise IndexMismatch(
            f"{address}: this index was built with model {manifest.model} (fingerprint "
            f"{manifest.model_fingerprint}); asked for {wanted}. Vectors of two models cannot be mixed: rebuild with "
            "--rebuild, or use another index name"
        )
    return ref


def _record(ref, dim: int, encoder_kind: str, method: str, plan: Plan) -> dict[str, str]:
    values = {
        "format": FORMAT,
        "model": ref.name,
        "model_fingerprint": ref.fingerprint,
        "dim": str(dim),
        "chunker": CHUNKER_VERSION,
        "vectors": method,
        "encoder_kind": encoder_kind,
        "built_at": gen.Manifest.now(),
        "skipped": _skipped(plan),
    }
    return {PROPERTY + k: v for k, v in values.items()}


def _skipped(plan: Plan) -> str:
    return json.dumps([[s.path, s.reason] for s in sorted(plan.failed, key=lambda s: s.path)], ensure_ascii=False)


def _write_rows(client, collection: str, passages, vectors, sentence_vectors, upsert: bool = False) -> None:
    """Passage rows and their sentence rows, in batches (``sentence_vectors`` in passage order, as embedded)."""
    write = client.upsert if upsert else client.insert
    first = 0
    batch, sentence_batch = [], []
    for passage, vector in zip(passages, vectors):
        batch.append(passage_row(passage, vector))
        n = len(passage.sentences)
        sentence_batch.extend(sentence_rows(passage, sentence_vectors[first : first + n]))
        first += n
        if len(batch) >= WRITE_BATCH:
            write(collection, batch)
            batch = []
        if len(sentence_batch) >= 4 * WRITE_BATCH:
            write(sentences_of(collection), sentence_batch)
            sentence_batch = []
    if batch:
        write(collection, batch)
    if sentence_batch:
        write(sentences_of(collection), sentence_batch)


def _seed(seed: Path | str | None, ref, vectors: str) -> _Previous:
    """A local index's passages and vectors by content hash (``build._load_previous``), when it was built with
    this model and made its vectors the same way; else nothing to reuse."""
    if seed is None:
        return _Previous()
    from tripsearch.build import _load_previous as load_local

    local = load_local(Path(seed), False, vectors)
    if local.manifest is None or local.manifest.model_fingerprint != ref.fingerprint or not local.reusable:
        return _Previous()
    return local


def _write_build(client, address: MilvusAddress, live, plan: Plan, seed: _Previous, ref, how, progress, report) -> str:
    """Every collection written afresh (vectors embedded, or reused from ``seed``), then the alias moved to them;
    the new collections are dropped if anything fails before the move. Returns the new passage collection's name."""
    collection = f"{address.name}__g{dt.datetime.now(dt.UTC).strftime(STAMP)}"
    try:
        vectors, sentence_vectors, method, encoder = embed_missing(plan.passages, seed, ref, how, progress, report)
        dim, kind = (encoder.dim, encoder.kind) if encoder else (seed.manifest.dim, seed.manifest.encoder_kind)
        create_collections(client, collection, dim, _record(ref, dim, kind, method, plan))
        _write_rows(client, collection, plan.passages, vectors, sentence_vectors)
        for start in range(0, len(plan.stored), WRITE_BATCH):
            client.insert(posts_of(collection), [post_row(p) for p in plan.stored[start : start + WRITE_BATCH]])
        for name in (collection, sentences_of(collection), posts_of(collection)):
            client.flush(name)  # seal the segments: the indexes are built on sealed segments
            client.load_collection(name)
    except BaseException:
        _drop(client, collection)
        raise
    if live is None:
        client.create_alias(collection, address.name)
    else:
        client.alter_alias(collection, address.name)
    _collect_garbage(client, address, keep={collection, live})
    return collection


def _update_live(client, live: str, plan: Plan, previous: _Previous, ref, how, progress, report) -> None:
    """Changed posts upserted (their unchanged passages' vectors reused by content hash), passages they no longer
    have deleted, removed posts deleted, post rows of changed and touched posts rewritten, the record updated."""
    changed = set(plan.changed)
    old_posts = sorted(changed & set(previous.posts))
    old_ids: dict[str, int] = {}  # passage id -> its sentence count, of the changed posts as stored
    for lo in range(0, len(old_posts), 200):
        group = old_posts[lo : lo + 200]
        heads = read_all(client, live, ["id", "content_hash", "n_sentences", "dense"], filter=in_list("post", group))
        sentences = read_all(client, sentences_of(live), ["passage", "pos", "vector"], filter=in_list("post", group))
        by_passage: dict[str, list] = {}
        for row in sorted(sentences, key=lambda r: r["pos"]):
            by_passage.setdefault(row["passage"], []).append(row["vector"])
        for row in heads:
            old_ids[row["id"]] = int(row["n_sentences"])
            previous.vectors_by_hash[row["content_hash"]] = row["dense"]
            previous.sentence_vectors_by_hash[row["content_hash"]] = _matrix(by_passage.get(row["id"], []), previous)
    vectors, sentence_vectors, _, _ = embed_missing(plan.passages, previous, ref, how, progress, report)
    _write_rows(client, live, plan.passages, vectors, sentence_vectors, upsert=True)
    new_ids = {p.id: len(p.sentences) for p in plan.passages}
    stale = [pid for pid in old_ids if pid not in new_ids]
    stale_sentences = [f"{pid}:{i}" for pid, n in old_ids.items() for i in range(new_ids.get(pid, 0), n)]
    for lo in range(0, len(stale), 1000):
        client.delete(live, ids=stale[lo : lo + 1000])
    for lo in range(0, len(stale_sentences), 1000):
        client.delete(sentences_of(live), ids=stale_sentences[lo : lo + 1000])
    for lo in range(0, len(plan.removed), 200):
        group = plan.removed[lo : lo + 200]
        client.delete(live, filter=in_list("post", group))
        client.delete(sentences_of(live), filter=in_list("post", group))
        client.delete(posts_of(live), ids=group)
    rewritten = changed | set(plan.touched)
    rows = [post_row(p) for p in plan.stored if p.meta.path in rewritten]
    for lo in range(0, len(rows), WRITE_BATCH):
        client.upsert(posts_of(live), rows[lo : lo + WRITE_BATCH])
    client.alter_collection_properties(
        live, properties={PROPERTY + "skipped": _skipped(plan), PROPERTY + "built_at": gen.Manifest.now()}
    )


def _matrix(rows: list, previous: _Previous) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32).reshape(-1, previous.manifest.dim)


def _count(client, collection: str | None) -> int:
    if collection is None:
        return 0
    return int(client.query(collection, filter="", output_fields=["count(*)"])[0]["count(*)"])


def _drop(client, collection: str) -> None:
    for name in (collection, sentences_of(collection), posts_of(collection)):
        try:
            if client.has_collection(name):
                client.drop_collection(name)
        except Exception:  # noqa: BLE001 - best effort: the next build collects what is left
            pass


def _collect_garbage(client, address: MilvusAddress, keep: set[str | None]) -> None:
    """Drop this index's older builds and the leftovers of killed ones; keep ``keep`` (the new and the previous)."""
    # Exactly NAME__g<20-digit stamp>: a prefix test also matched another index named, say, NAME__german and
    # dropped it (found by a new-user test).
    own = re.compile(rf"{re.escape(address.name)}__g\d{{{STAMP_DIGITS}}}")
    builds = sorted(name for name in client.list_collections() if own.fullmatch(name))
    for name in builds:
        if name not in keep:
            _drop(client, name)
