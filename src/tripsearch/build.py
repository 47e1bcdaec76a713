"""Build or update an index from a posts folder, incrementally.

Unchanged files (same size and mtime, or same bytes) are not read again; unchanged passages (same text)
are not embedded again; when nothing changed nothing is written and no model is loaded. A post that
was indexed and now fails to read keeps its indexed version, and is reported.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tripsearch.errors import BadInput
from tripsearch.passages import CHUNKER_VERSION, split_post
from tripsearch.posts.reader import UnreadablePost, parse_post, post_files, post_name, read_post_bytes
from tripsearch.records import Passage, PostWarning, SkippedFile
from tripsearch.store import generations as gen
from tripsearch.store.database import (
    DB_FILE,
    FTS_VERSION,
    FileState,
    StoredPost,
    fts_version,
    load_passages,
    load_posts,
    load_skipped,
    open_database,
    write_database,
)
from tripsearch.store.vectors import SENTENCES_FILE, VECTORS_FILE, all_vectors, read_vectors, write_vectors

BuildProgress = Callable[[int, int], None]  # (texts embedded so far, texts to embed): passages and sentences


@dataclass
class BuildReport:
    posts: int = 0
    passages: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    # Posts indexed with a field or their front matter unknown, one entry per warning. Only files read by this
    # run: an unchanged file is not read again, so its warnings were reported by the run that read it.
    warned: list[PostWarning] = field(default_factory=list)
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

    @property
    def nothing_changed(self) -> bool:
        return not self.generation

    @property
    def posts_with_warnings(self) -> int:
        return len({w.path for w in self.warned})

    def summary(self) -> str:
        """One line: "indexed N posts (W with warnings), S files skipped; P passages (...) in T s"."""
        skipped = f"{len(self.skipped)} files skipped"
        if self.nothing_changed:  # then no post was read, so none was warned about
            return (
                f"index up to date: {self.posts} posts, {skipped}, {self.passages} passages, nothing changed "
                f"({self.seconds:.2f} s)"
            )
        counts = f"{self.posts_with_warnings} with warnings), {skipped}"
        rate = f", {self.embedded / self.seconds:.1f} passages/s overall" if self.embedded and self.seconds else ""
        return (
            f"indexed {self.posts} posts ({counts}; {self.passages} passages (+{self.added} ~{self.changed} "
            f"-{self.removed} posts; {self.embedded} passages embedded, {self.reused} reused) in {self.seconds:.1f} s{rate}"
        )


@dataclass
class _Previous:
    manifest: gen.Manifest | None = None
    posts: dict[str, StoredPost] = field(default_factory=dict)
    passages_by_post: dict[str, list[Passage]] = field(default_factory=dict)
    vectors_by_hash: dict[str, np.ndarray] = field(default_factory=dict)
    sentence_vectors_by_hash: dict[str, np.ndarray] = field(default_factory=dict)  # (n sentences, dim)
    skipped: list[SkippedFile] = field(default_factory=list)
    fts_version: int = FTS_VERSION  # of its keyword index: another one means the database is written afresh


def _load_previous(index_dir: Path, model: str | None, rebuild: bool) -> _Previous:
    from tripsearch.embed.models import ModelNotFound, fingerprint, model_name, model_path

    try:
        live = gen.current_generation(index_dir)
    except gen.IndexCorrupt:
        # A CURRENT that names nothing usable is treated like a corrupt manifest (below): build afresh. Raising
        # here left the index broken for good, since only a successful build rewrites CURRENT.
        return _Previous()
    if live is None or rebuild:
        return _Previous()
    try:
        manifest = gen.read_manifest(live)
    except gen.IndexCorrupt:
        return _Previous()  # nothing trustworthy to reuse: build afresh beside it
    wanted = model_name(model) if model else manifest.model
    try:
        found = fingerprint(model_path(wanted)) if wanted == manifest.model else None
    except ModelNotFound as exc:  # the model folder the index was built with is gone: was a traceback
        raise gen.IndexMismatch(
            f"{live / gen.MANIFEST}: this index was built with model {manifest.model}, which is not there any more "
            f"({exc}). Put it back, or rebuild with --rebuild (and --model) to switch models."
        ) from None
    if wanted != manifest.model or found != manifest.model_fingerprint:
        raise gen.IndexMismatch(
            f"{live / gen.MANIFEST}: this index was built with model {manifest.model} "
            f"(fingerprint {manifest.model_fingerprint}); asked for {wanted}. "
            "Vectors of two models cannot be mixed: rebuild with --rebuild, or use another --index folder."
        )
    con = open_database(live / DB_FILE)
    try:
        posts = load_posts(con)
        passages = load_passages(con, posts)
        skipped = load_skipped(con)
        keyword_version = fts_version(con)
    finally:
        con.close()
    vectors = all_vectors(read_vectors(live / VECTORS_FILE, manifest.dim))
    sentence_vectors = all_vectors(read_vectors(live / SENTENCES_FILE, manifest.dim))
    previous = _Previous(manifest, posts, {}, {}, {}, skipped, keyword_version)
    first = 0
    for row, passage in enumerate(passages):
        previous.passages_by_post.setdefault(passage.post.path, []).append(passage)
        previous.vectors_by_hash[passage.content_hash] = vectors[row]
        previous.sentence_vectors_by_hash[passage.content_hash] = sentence_vectors[
            first : first + len(passage.sentences)
        ]
        first += len(passage.sentences)
    return previous


def update_index(
    posts_dir: Path | str,
    index_dir: Path | str,
    model: str | None = None,
    rebuild: bool = False,
    progress: BuildProgress | None = None,
    backend: str = "auto",
    lock_wait: float = 0.0,
) -> BuildReport:
    """Bring the index in ``index_dir`` up to date with ``posts_dir``."""
    started = time.monotonic()
    posts_dir, index_dir = Path(posts_dir), Path(index_dir)
    if not posts_dir.is_dir():
        raise BadInput(f"{posts_dir}: posts folder not found")
    report = BuildReport()
    with gen.write_lock(index_dir, lock_wait):
        previous = _load_previous(index_dir, model, rebuild)
        same_chunker = previous.manifest is not None and previous.manifest.chunker_version == CHUNKER_VERSION
        stored: list[StoredPost] = []
        passages: list[Passage] = []
        seen: set[str] = set()
        # A keyword index of another FTS_VERSION is rewritten from the stored passages; their vectors are reused.
        changed_anything = previous.manifest is None or not same_chunker or previous.fts_version != FTS_VERSION
        for path in post_files(posts_dir):
            rel = post_name(path, posts_dir)  # printable even when the file name is not UTF-8
            seen.add(rel)
            old = previous.posts.get(rel)
            try:
                st = path.stat()
                if old and same_chunker and (old.state.size, old.state.mtime_ns) == (st.st_size, st.st_mtime_ns):
                    stored.append(old)
                    passages.extend(previous.passages_by_post.get(rel, []))
                    continue
                # Not path.read_bytes(): that hung on a FIFO, read /dev/zero without end and had no size limit.
                data, st = read_post_bytes(path, posts_dir)
                state = FileState(hashlib.sha1(data).hexdigest(), st.st_size, st.st_mtime_ns)
                if old and same_chunker and old.state.source_hash == state.source_hash:
                    stored.append(StoredPost(old.meta, state))  # touched, not changed
                    passages.extend(previous.passages_by_post.get(rel, []))
                    changed_anything = True  # the new mtime is worth saving: next time no read at all
                    continue
                post = parse_post(rel, data)
                new_passages = split_post(post)
                if not new_passages:  # was stored silently as a post nobody could ever find: say so
                    raise UnreadablePost("no text to index (only front matter, markup, comments or scripts)")
                report.warned.extend(PostWarning(rel, message) for message in post.warnings)
            except (UnreadablePost, OSError) as exc:
                reason = str(exc) if isinstance(exc, UnreadablePost) else f"cannot read: {exc.strerror or exc}"
                report.skipped.append(SkippedFile(rel, reason))
                if old:  # nothing already indexed is lost to a bad edit
                    report.kept_previous.append(rel)
                    stored.append(old)
                    passages.extend(previous.passages_by_post.get(rel, []))
                continue
            except Exception as exc:  # a bug of ours in one post must not stop the build
                report.skipped.append(SkippedFile(rel, f"unexpected {type(exc).__name__}: {exc}"))
                continue
            changed_anything = True
            report.added += old is None
            report.changed += old is not None
            stored.append(StoredPost(post.meta, state))
            passages.extend(new_passages)
        report.removed = len(set(previous.posts) - seen)
        # Compared in path order, the order they are stored in: post_files() sorts Paths, which put "a/b.md"
        # before "a-c.md" where SQLite puts it after, so an unchanged folder got a new generation on every run.
        now_skipped = sorted(report.skipped, key=lambda s: s.path)
        changed_anything = changed_anything or report.removed > 0 or now_skipped != previous.skipped
        report.posts, report.passages = len(stored), len(passages)
        if not changed_anything:
            # Still clear what killed builds left (.building-* folders, each up to an index in size): only
            # a publish used to, so after a kill they stayed for as long as the posts did not change.
            gen.collect_garbage(index_dir)
            report.seconds = time.monotonic() - started
            return report
        vectors, sentence_vectors, encoder = _vectors_for(passages, previous, model, backend, progress, report)
        manifest = gen.Manifest(
            model=encoder.name if encoder else previous.manifest.model,
            model_fingerprint=encoder.fingerprint if encoder else previous.manifest.model_fingerprint,
            dim=encoder.dim if encoder else previous.manifest.dim,
            chunker_version=CHUNKER_VERSION,
            encoder_kind=encoder.kind if encoder else previous.manifest.encoder_kind,
            posts_dir=str(posts_dir.resolve()),
            built_at=gen.Manifest.now(),
            build_seconds=0.0,
            counts={"posts": len(stored), "passages": len(passages), "skipped": len(report.skipped)},
            files={DB_FILE: "", VECTORS_FILE: "", SENTENCES_FILE: ""},
        )
        building = None
        try:
            building = gen.new_generation(index_dir)
            write_database(building / DB_FILE, stored, passages, report.skipped)
            write_vectors(building / VECTORS_FILE, vectors)
            write_vectors(building / SENTENCES_FILE, sentence_vectors)
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
    return report


def _vectors_for(passages, previous: _Previous, model, backend, progress, report: BuildReport):
    """Passage and sentence vectors in row order: reused by content hash where possible, the rest embedded.

    Each passage is embedded whole (with its post title and headings) and sentence by sentence: a
    question usually matches one sentence of a talk, and a whole-passage vector dilutes it.
    """
    missing = [i for i, p in enumerate(passages) if p.content_hash not in previous.vectors_by_hash]
    report.embedded, report.reused = len(missing), len(passages) - len(missing)
    encoder = None
    if missing or previous.manifest is None:
        from tripsearch.embed import ensure_fast_encoder, load_encoder

        name = model or (previous.manifest.model if previous.manifest else None)
        if backend == "auto":
            # Export once (cached by model fingerprint) so queries never need torch; when the export is
            # verified equal, the build uses it too: it is the faster of the two on this CPU.
            report.encoder_status = ensure_fast_encoder(name)
        encoder = load_encoder(name, backend=backend)
        report.model_loaded, report.encoder_kind = True, encoder.kind
    dim = encoder.dim if encoder else previous.manifest.dim
    texts = [passages[i].embedding_text() for i in missing]
    sentence_texts = [passages[i].text[s[0] : s[1]] for i in missing for s in passages[i].sentences]
    new_vectors = np.zeros((0, dim), dtype=np.float32)
    if missing:
        done, total = [0], len(texts) + len(sentence_texts)

        def tick(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], total)

        new_vectors = encoder.encode(texts + sentence_texts, batch_size=32, progress=tick)
    fresh = dict(zip(missing, new_vectors[: len(texts)]))
    fresh_sentences, first = {}, len(texts)
    for i in missing:
        fresh_sentences[i] = new_vectors[first : first + len(passages[i].sentences)]
        first += len(passages[i].sentences)
    vectors = np.zeros((len(passages), dim), dtype=np.float32)
    blocks = []
    for i, passage in enumerate(passages):
        if i in fresh:
            vectors[i], block = fresh[i], fresh_sentences[i]
        else:
            vectors[i] = previous.vectors_by_hash[passage.content_hash]
            block = previous.sentence_vectors_by_hash[passage.content_hash]
        blocks.append(block.reshape(-1, dim))
    sentence_vectors = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
    return vectors, sentence_vectors, encoder
