"""Build or update an index from a posts folder, incrementally, in three plain steps.

1. ``scan``: read the folder into a ``Plan`` against the previous generation (kept, touched, changed, failed,
   removed posts). Needs no model.
2. ``embed_missing`` (``tripsearch.embed.build_vectors``): vectors for passages whose text is new (``tripsearch.embed.late``: token-sized batches,
   two in flight); the model is resolved once and loaded once (``load_build_encoder``).
3. ``_write_generation``: the database is written while the embedding runs, then vectors, then publish.

Unchanged files (same size and mtime, or same bytes) are not read again; unchanged passages (same text)
are not embedded again; when nothing changed nothing is written and no model is loaded. A post that
was indexed and now fails to read keeps its indexed version, and is reported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tripsearch import build_delta
from tripsearch.build_delta import DeltaBase
from tripsearch.embed.build_vectors import EncoderPrefetch, embed_missing
from tripsearch.embed.late import METHOD, TWO_PASS
from tripsearch.embed.models import ModelNotFound, ModelRef, model_name, resolve
from tripsearch.errors import BadInput
from tripsearch.passages import CHUNKER_VERSION, split_post
from tripsearch.posts.reader import UnreadablePost, parse_post, post_entries, read_post_bytes
from tripsearch.records import Passage, PostWarning, SkippedFile
from tripsearch.store import generations as gen
from tripsearch.store.database import (
    DB_FILE,
    FTS_VERSION,
    FileState,
    StoredPost,
    write_database,
)
from tripsearch.store.vectors import write_vector_files

BuildProgress = Callable[[int, int], None]  # (tokens embedded so far, tokens to embed)
# How vectors are made (tripsearch.embed.late), recorded in the manifest; an index made another way is
# re-embedded. TWO_PASS is the default: on the dev questions late chunking (METHOD) lost hybrid hit@1 0.814 ->
# 0.746 and rerank 0.847 -> 0.746 (issue 14 report), so every sentence is still embedded on its own.
VECTOR_METHODS = (METHOD, TWO_PASS)
DEFAULT_VECTORS = TWO_PASS
LEGACY_VECTORS = {"": TWO_PASS}  # manifests from before the method was recorded: made exactly that way


@dataclass
class BuildReport:
    posts: int = 0
    passages: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    added: int = 0  # posts
    changed: int = 0
    removed: int = 0
    kept_previous: list[str] = field(default_factory=list)  # unreadable now, previous version kept
    embedded: int = 0  # passages
    reused: int = 0
    model_loaded: bool = False
    encoder_kind: str = ""
    encoder_status: str = ""  # what became of the fast (ONNX) encoder, when a model was loaded
    seconds: float = 0.0
    generation: str = ""
    # Posts indexed with a field or their front matter unknown, one entry per warning. Only files read by this
    # run: an unchanged file is not read again, so its warnings were reported by the run that read it.
    warned: list[PostWarning] = field(default_factory=list)
    tokens: int = 0  # tokens run through the model (specials and repeated context prefixes included)
    embed_seconds: float = 0.0

    @property
    def nothing_changed(self) -> bool:
        return not self.generation

    @property
    def posts_with_warnings(self) -> int:
        return len({w.path for w in self.warned})

    def summary(self) -> str:
        """One line: "indexed N posts (W with warnings), S files skipped; P passages (...) in T s, rates"."""
        skipped = f"{len(self.skipped)} files skipped"
        if self.nothing_changed:  # then no post was read, so none was warned about
            return (
                f"index up to date: {self.posts} posts, {skipped}, {self.passages} passages, nothing changed "
                f"({self.seconds:.2f} s)"
            )
        counts = f"{self.posts_with_warnings} with warnings), {skipped}"
        rate = ""
        if self.embedded and self.seconds:
            rate = f", {self.embedded / self.seconds:.1f} passages/s overall"
        if self.tokens and self.embed_seconds:
            rate += f", embedding {self.embedded / self.embed_seconds:.1f} passages/s, {self.tokens / self.embed_seconds:,.0f} tokens/s"
        return (
            f"indexed {self.posts} posts ({counts}; {self.passages} passages (+{self.added} ~{self.changed} "
            f"-{self.removed} posts; {self.embedded} passages embedded, {self.reused} reused) in {self.seconds:.1f} s{rate}"
        )


@dataclass
class _Previous:
    manifest: gen.Manifest | None = None
    generation: Path | None = None
    posts: dict[str, StoredPost] = field(default_factory=dict)
    passages_by_post: dict[str, list[Passage]] = field(default_factory=dict)
    vectors_by_hash: dict[str, np.ndarray] = field(default_factory=dict)
    sentence_vectors_by_hash: dict[str, np.ndarray] = field(default_factory=dict)  # (n sentences, dim)
    skipped: list[SkippedFile] = field(default_factory=list)
    reusable: bool = True  # its vectors were made the way this build makes them
    fts_version: int = FTS_VERSION  # of its keyword index: another one means the database is written afresh
    # Set when this update may write only a delta (build_delta): then ``posts`` is read from the posts tables
    # alone, and a plan's ``passages`` hold only what the new delta holds.
    delta: DeltaBase | None = None

    @property
    def method(self) -> str:
        return LEGACY_VECTORS.get(self.manifest.vectors, self.manifest.vectors) if self.manifest else ""

    def passages_of(self, path: str, moving: bool = False) -> list[Passage]:
        """The stored passages of ``path`` that the new generation writes (``moving``: its file state changed)."""
        if self.delta is not None:
            return self.delta.passages_of(path, moving)
        return self.passages_by_post.get(path, [])


def _load_previous(index_dir: Path, rebuild: bool, vectors: str = DEFAULT_VECTORS, delta: bool = False) -> _Previous:
    """The live generation's posts, passages and (when made by method ``vectors``) vectors by content hash, for
    reuse. Loads no model. With ``delta`` and a base past ``build_delta.segment_min_rows()`` made the same way,
    reads only the posts tables and the live delta (``build_delta.DeltaBase``), not every passage and vector."""
    try:
        live = gen.current_generation(index_dir)
    except gen.IndexCorrupt:
        # A CURRENT that names nothing usable is treated like a corrupt manifest (below): build afresh. Raising
        # here left the index broken for good, since only a successful build rewrites CURRENT.
        return _Previous()
    if live is None or rebuild:
        return _Previous()
    try:
        manifest = gen.read_manifest(live, verify=False)
        previous = _Previous(manifest, live)
        delta = (
            delta
            and previous.method == vectors
            and manifest.chunker_version == CHUNKER_VERSION
            and build_delta.base_rows(manifest) >= build_delta.segment_min_rows()
        )
        # A full load reads every byte anyway: every checksum too. A delta update reads a few rows of a base
        # that may be gigabytes, so it checks as opening does (store.opened): checksums up to
        # VERIFY_ON_OPEN_BYTES, else sizes and headers (build_delta.DeltaBase), the rest left to `verify`.
        if delta:
            gen.verify_on_open(live, manifest)
        else:
            gen.verify_files(live, manifest)
        base = build_delta.DeltaBase(live, manifest) if delta else None
    except gen.IndexCorrupt:
        return _Previous()  # nothing trustworthy to reuse: build afresh beside it
    if base is not None:
        if base.fts_version == FTS_VERSION:
            previous.delta, previous.posts, previous.skipped = base, base.posts, base.skipped
            previous.vectors_by_hash = base.vectors_by_hash
            previous.sentence_vectors_by_hash = base.sentence_vectors_by_hash
            return previous
        base.close()
    reuse = previous.method == vectors
    posts, passages, vectors_, sentences, skipped, keyword_version = build_delta.load_all(live, manifest, reuse)
    previous.posts, previous.skipped, previous.fts_version = posts, skipped, keyword_version
    for passage in passages:
        previous.passages_by_post.setdefault(passage.post.path, []).append(passage)
    if not reuse:
        previous.reusable = False  # made another way: every passage is embedded again
        return previous
    first = 0
    for row, passage in enumerate(passages):
        previous.vectors_by_hash[passage.content_hash] = vectors_[row]
        previous.sentence_vectors_by_hash[passage.content_hash] = sentences[first : first + len(passage.sentences)]
        first += len(passage.sentences)
    return previous


def _resolve_model(previous: _Previous, model: str | None) -> ModelRef:
    """The model, resolved and fingerprinted once per build; for an existing index it must be the one it was
    built with (vectors of two models cannot be mixed). Raises ``IndexMismatch`` or ``ModelNotFound``."""
    if previous.manifest is None:
        return resolve(model)
    manifest, live = previous.manifest, previous.generation
    wanted = model_name(model) if model else manifest.model
    if wanted != manifest.model:
        ref = None
    else:
        try:
            ref = resolve(wanted)
        except ModelNotFound as exc:  # the model folder the index was built with is gone: was a traceback
            raise gen.IndexMismatch(
                f"{live / gen.MANIFEST}: this index was built with model {manifest.model}, which is not there any "
                f"more ({exc}). Put it back, or rebuild with --rebuild (and --model) to switch models."
            ) from None
    if ref is None or ref.fingerprint != manifest.model_fingerprint:
        raise gen.IndexMismatch(
            f"{live / gen.MANIFEST}: this index was built with model {manifest.model} "
            f"(fingerprint {manifest.model_fingerprint}); asked for {wanted}. "
            "Vectors of two models cannot be mixed: rebuild with --rebuild, or use another --index folder."
        )
    return ref


@dataclass
class Plan:
    """What a scan of the posts folder found, compared with the previous generation. Needs no model.

    Every post file ends in exactly one of ``kept`` (same size and mtime: not read), ``touched`` (read, same
    bytes), ``changed`` (new or edited: parsed and split again) or ``failed`` (unreadable now; its indexed
    version, if any, is kept and listed in ``kept_previous``). ``removed``: indexed posts whose file is gone.
    ``stored`` and ``passages`` are what the new generation holds, in path order.
    """

    stored: list[StoredPost] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # the part of ``changed`` that was not indexed before
    failed: list[SkippedFile] = field(default_factory=list)
    warned: list[PostWarning] = field(default_factory=list)  # of the posts parsed by this scan
    kept_previous: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dirty: bool = False  # a new generation is worth writing

    def _keep(self, old: StoredPost, previous: _Previous, rel: str) -> None:
        self.stored.append(old)
        self.passages.extend(previous.passages_of(rel))


def scan(posts_dir: Path, previous: _Previous, new_text: Callable[[], None] | None = None) -> Plan:
    """Read what changed in ``posts_dir`` since ``previous`` into a ``Plan``. Never raises for a bad post.
    ``new_text()`` is called (each time) a changed post has a passage with no vectors yet: the build then
    starts loading the model (``EncoderPrefetch``) while the scan goes on."""
    plan = Plan()
    same_chunker = previous.manifest is not None and previous.manifest.chunker_version == CHUNKER_VERSION
    # A keyword index of another FTS_VERSION is rewritten from the stored passages; their vectors are reused.
    plan.dirty = (
        previous.manifest is None or not same_chunker or not previous.reusable or previous.fts_version != FTS_VERSION
    )
    seen: set[str] = set()
    for rel, name in post_entries(posts_dir):  # rel: printable even when the file name is not UTF-8
        seen.add(rel)
        old = previous.posts.get(rel)
        try:
            st = os.stat(name)
            if old and same_chunker and build_delta.same_file(old, st.st_size, st.st_mtime_ns):
                plan.kept.append(rel)
                plan._keep(old, previous, rel)
                continue
            # Not path.read_bytes(): that hung on a FIFO, read /dev/zero without end and had no size limit.
            data, st = read_post_bytes(Path(name), posts_dir)
            state = FileState(hashlib.sha1(data).hexdigest(), st.st_size, st.st_mtime_ns)
            if old and same_chunker and old.state.source_hash == state.source_hash:
                plan.touched.append(rel)
                plan.stored.append(StoredPost(old.meta, state))  # touched, not changed
                plan.passages.extend(previous.passages_of(rel, moving=True))
                plan.dirty = True  # the new mtime is worth saving: next time no read at all
                continue
            post = parse_post(rel, data)
            new_passages = split_post(post)
            if not new_passages:  # was stored silently as a post nobody could ever find: say so
                raise UnreadablePost("no text to index (only front matter, markup, comments or scripts)")
            plan.warned.extend(PostWarning(rel, message) for message in post.warnings)
        except (UnreadablePost, OSError) as exc:
            reason = str(exc) if isinstance(exc, UnreadablePost) else f"cannot read: {exc.strerror or exc}"
            plan.failed.append(SkippedFile(rel, reason))
            if old:  # nothing already indexed is lost to a bad edit
                plan.kept_previous.append(rel)
                plan._keep(old, previous, rel)
            continue
        except Exception as exc:  # a bug of ours in one post must not stop the build
            plan.failed.append(SkippedFile(rel, f"unexpected {type(exc).__name__}: {exc}"))
            continue
        plan.dirty = True
        plan.changed.append(rel)
        if old is not None and previous.delta is not None:
            previous.delta.read_base(rel)  # the old version's vectors, for its passages whose text is the same
        if new_text is not None and any(p.content_hash not in previous.vectors_by_hash for p in new_passages):
            new_text()
        if old is None:
            plan.added.append(rel)
        plan.stored.append(StoredPost(post.meta, state))
        plan.passages.extend(new_passages)
    plan.removed = sorted(set(previous.posts) - seen)
    # Compared in path order, the order they are stored in: post_entries() sorts in Path order, which puts "a/b.md"
    # before "a-c.md" where SQLite puts it after, so an unchanged folder got a new generation on every run.
    now_skipped = sorted(plan.failed, key=lambda s: s.path)
    plan.dirty = plan.dirty or bool(plan.removed) or now_skipped != previous.skipped
    return plan


def update_index(
    posts_dir: Path | str,
    index_dir: Path | str,
    model: str | None = None,
    rebuild: bool = False,
    progress: BuildProgress | None = None,
    backend: str = "auto",
    lock_wait: float = 0.0,
    vectors: str = DEFAULT_VECTORS,
) -> BuildReport:
    """Bring the index in ``index_dir`` up to date with ``posts_dir``: scan the folder into a ``Plan``, embed
    the passages that have no vectors yet (the model resolved and loaded once), write a new generation.

    Raises ``BadInput`` (no such folder), ``IndexBusy``, ``IndexMismatch`` (another model), ``ModelNotFound``,
    ``IndexProblem`` (cannot write; the previous index is unchanged). ``vectors``: how vectors are made, one of
    ``VECTOR_METHODS``; an index made another way is re-embedded."""
    started = time.monotonic()
    posts_dir, index_dir = Path(posts_dir), Path(index_dir)
    if not posts_dir.is_dir():
        raise BadInput(f"{posts_dir}: posts folder not found")
    if vectors not in VECTOR_METHODS:
        raise BadInput(f"unknown way to make vectors {vectors!r}; expected one of {', '.join(VECTOR_METHODS)}")
    report = BuildReport()
    with gen.write_lock(index_dir, lock_wait):
        previous = _load_previous(index_dir, rebuild, vectors, delta=True)
        prefetch = None
        try:
            ref = _resolve_model(previous, model)
            prefetch = EncoderPrefetch(ref, backend, report)
            plan = scan(posts_dir, previous, prefetch.start)
            rows = len(plan.passages)
            if previous.delta is not None:
                dead, _ = previous.delta.tombstones()
                if plan.dirty and not previous.delta.worth_it(len(plan.passages), dead):
                    previous.delta.close()  # the delta has grown too big: merge (one segment, vectors reused)
                    previous = _load_previous(index_dir, rebuild, vectors)
                    plan = scan(posts_dir, previous, prefetch.start)
                    rows = len(plan.passages)
                else:
                    rows += int((~dead).sum())
            report.skipped, report.kept_previous, report.warned = plan.failed, plan.kept_previous, plan.warned
            report.added, report.changed = len(plan.added), len(plan.changed) - len(plan.added)
            report.removed = len(plan.removed)
            report.posts, report.passages = len(plan.stored), rows
            if not plan.dirty:
                # Still clear what killed builds left (.building-* folders, each up to an index in size): only
                # a publish used to, so after a kill they stayed for as long as the posts did not change.
                gen.collect_garbage(index_dir)
                report.seconds = time.monotonic() - started
                return report
            how = (backend, vectors, prefetch)
            _write_generation(index_dir, posts_dir, plan, previous, ref, how, progress, report, started)
        finally:
            if prefetch is not None:
                prefetch.close()
            if previous.delta is not None:
                previous.delta.close()
    return report


def _write_generation(index_dir, posts_dir, plan: Plan, previous, ref, how, progress, report, started) -> None:
    """Embed what is missing while the database is written beside it, then publish the generation: the whole
    of it, or (``previous.delta``) the base linked and a delta written (``build_delta.write_delta``)."""
    building = None
    backend, method, prefetch = how
    how = (backend, method)
    try:
        building = gen.new_generation(index_dir)
        if previous.delta is not None:
            try:
                vectors, sentence_vectors, method, encoder = embed_missing(
                    plan.passages, previous, ref, how, progress, report, prefetch
                )
            except (OSError, RuntimeError, sqlite3.Error) as exc:
                raise _EmbeddingFailed from exc
            files, segments = build_delta.write_delta(building, plan, previous.delta, vectors, sentence_vectors)
        else:
            # SQLite writes (FTS5 included) overlap the embedding: sqlite3 releases the GIL while it works.
            with ThreadPoolExecutor(max_workers=1) as background:
                database = background.submit(
                    write_database, building / DB_FILE, plan.stored, plan.passages, plan.failed
                )
                try:
                    vectors, sentence_vectors, method, encoder = embed_missing(
                        plan.passages, previous, ref, how, progress, report, prefetch
                    )
                except (OSError, RuntimeError, sqlite3.Error) as exc:
                    raise _EmbeddingFailed from exc  # not a write problem: re-raised as it was, below
                finally:
                    wait([database])  # an embedding error wins; the writer is never left running on a removed folder
                database.result()
            files = {DB_FILE: ""}
            files.update(dict.fromkeys(write_vector_files(building, vectors, sentence_vectors), ""))
            segments = {}
        manifest = gen.Manifest(
            model=ref.name,
            model_fingerprint=ref.fingerprint,
            dim=encoder.dim if encoder else previous.manifest.dim,
            chunker_version=CHUNKER_VERSION,
            encoder_kind=encoder.kind if encoder else previous.manifest.encoder_kind,
            posts_dir=str(posts_dir.resolve()),
            built_at=gen.Manifest.now(),
            build_seconds=0.0,
            counts={"posts": len(plan.stored), "passages": report.passages, "skipped": len(plan.failed)},
            files=files,
            vectors=method,
            segments=segments,
        )
        report.seconds = manifest.build_seconds = round(time.monotonic() - started, 3)
        report.generation = gen.publish(index_dir, building, manifest).name
    # A full disk, a read-only folder: faiss raises RuntimeError, SQLite sqlite3.OperationalError ("database
    # or disk is full"), which escaped as a traceback and left the half-written generation behind.
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        if building is not None:
            shutil.rmtree(building, ignore_errors=True)
        detail = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise gen.IndexProblem(
            f"{index_dir}: could not write the new index ({detail}); the previous index is unchanged"
        ) from None
    except BaseException as exc:  # a model problem, Ctrl-C: no half-written generation left behind
        if building is not None:
            shutil.rmtree(building, ignore_errors=True)
        if isinstance(exc, _EmbeddingFailed):
            raise exc.__cause__ from None
        raise


class _EmbeddingFailed(Exception):
    """Carries an error of the embedding past the handler that reports write errors (disk full, read-only)."""
