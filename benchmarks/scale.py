"""Benchmark: how the index scales, on synthetic stores of 10k, 100k, 1M passages.

    PYTHONPATH=src .venv/bin/python benchmarks/scale.py --passages 10000,100000[,1000000] [--json]
        [--source /work/exp/index-a] [--work /tmp/tripsearch-scale] [--keep] [--update-max N]

Per size it prints: disk bytes per passage; cold ``Index.open`` time and RSS (in a fresh subprocess, after the
imports); RSS after 100 queries; hybrid and dense p50/p95 with the question vector given (embedding excluded)
and through ``Index.search`` (embedding included); filtered (one year of dates) hybrid p50; recall@10 of the
dense search against an exact dense search; the time of ``update_index`` after editing one post (in a fresh
subprocess, imports excluded, model load included; null past ``--update-max`` passages). ``--json``: one JSON
object per size. Each store is synthesised and written in chunks of ``CHUNK`` passages, so 1M fits in RAM here
(about 50 minutes on this shared machine; 100k about 4 minutes plus the update).

How the synthetic store is made (embedding a million passages on this CPU is not the point):

* Text: every synthetic post copies the sections of one real post of the source index (a real-corpus index,
  read only) with the metadata recombined: its title, the authors of another real post, the tags of a third,
  a random date in 2012–2025. Each passage keeps the real passage's prose sentences, a quarter of them swapped
  for a sentence of another real passage, so the keyword index sees real words in new mixtures.
* Vectors: a copy of a real vector moved toward a per-post random direction and by per-vector noise,
  ``normalize(v + 0.25·u_post + 0.35·g)`` with ``u_post`` a random unit vector and ``g`` Gaussian of norm about
  1: a copy keeps cosine about 0.92 to its original, the passages of one synthetic post move together (a post is
  one neighbourhood, as in real posts), and the copies of one real passage form a tight cluster around it, like
  several reports of one talk. Sentence vectors are made the same way from the real sentence's vector (a swapped
  sentence brings its own).
* The store is written with the project's own functions (``write_database``, the vector writer, ``publish``), and
  each post is a real markdown file on disk whose size and mtime the database records, so an update reads only
  the edited post.
* Questions: the real questions of ``../shared/eval/dev.jsonl`` (cycled to 100), embedded once with the real
  encoder. The exact dense top 10 (0.3 passage cosine + 0.7 best-sentence cosine, as ``search.fusion``) is
  computed here from the generated vectors, independently of the index.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = "/work/exp/index-a"
QUESTIONS = ROOT.parent / "shared" / "eval" / "dev.jsonl"
N_QUERIES = 100
POST_SHIFT, NOISE, SWAP = 0.25, 0.35, 0.25
CHUNK = 50_000  # passages synthesised and written at a time (about 0.5 GB of sentence vectors)
GRAPH_SECONDS: dict[str, float] = {}  # build time of the passage graph and the sentence index, per size
FILTER = {"since": "2019-01-01", "until": "2019-12-31"}  # one year of fourteen: about 7% of the posts


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---- the source: a real-corpus index, read directly (its format is fixed) --------------------------------
def load_source(source: Path):
    import faiss

    from tripsearch.store.database import load_passages, load_posts, open_database

    generation = source / (source / "CURRENT").read_text().strip()
    manifest = json.loads((generation / "manifest.json").read_text())
    con = open_database(generation / "passages.sqlite")
    posts = load_posts(con)
    passages = load_passages(con, posts)
    con.close()
    vectors = faiss.read_index(str(generation / "vectors.faiss"))
    sentences = faiss.read_index(str(generation / "sentences.faiss"))
    vectors = vectors.reconstruct_n(0, vectors.ntotal)
    sentences = sentences.reconstruct_n(0, sentences.ntotal)
    return manifest, posts, passages, vectors, sentences


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def synthesize(n_passages: int, source, posts_dir: Path, rng: np.random.Generator, chunk: int = CHUNK):
    """Yields (stored posts, passages, passage vectors, sentence vectors) of about ``chunk`` passages at a time
    (whole posts), about ``n_passages`` in all; writes each post as a markdown file in ``posts_dir``. In chunks:
    a million passages and their six million sentence vectors (9 GB of float32) never sit in RAM at once."""
    from tripsearch.records import Passage, PostMeta, SentenceSpan
    from tripsearch.store.database import FileState, StoredPost

    _manifest, src_posts, src_passages, src_vectors, src_sentences = source
    by_post: dict[str, list[int]] = {}
    for row, p in enumerate(src_passages):
        by_post.setdefault(p.post.path, []).append(row)
    sentence_start = np.concatenate([[0], np.cumsum([len(p.sentences) for p in src_passages])])
    all_sentences = [  # (text, source sentence row) of every real prose sentence
        (p.text[s.start : s.end], int(sentence_start[row] + i))
        for row, p in enumerate(src_passages)
        for i, s in enumerate(p.sentences)
    ]
    metas = [p.meta for p in src_posts.values()]
    src_paths = list(by_post)
    dim = src_vectors.shape[1]
    days = (dt.date(2025, 12, 31) - dt.date(2012, 1, 1)).days
    posts_dir.mkdir(parents=True, exist_ok=True)
    made, j = 0, 0

    def compose(base: np.ndarray, shifts: np.ndarray, post_rows: list[int]) -> np.ndarray:
        noise = rng.standard_normal(base.shape).astype(np.float32) / np.sqrt(dim)
        return _unit(base + POST_SHIFT * shifts[post_rows] + NOISE * noise)

    while made < n_passages:
        stored, passages, vec_rows, sent_rows = [], [], [], []
        post_of_passage, post_of_sentence = [], []
        while made + len(passages) < n_passages and len(passages) < chunk:
            rows = by_post[src_paths[j % len(src_paths)]][: n_passages - made - len(passages)]
            base = src_passages[rows[0]].post
            path = f"{j // 1000:04d}/post-{j:07d}.md"
            meta = PostMeta(
                path=path,
                title=f"{base.title} #{j}",
                date=dt.date(2012, 1, 1) + dt.timedelta(days=int(rng.integers(days))),
                authors=metas[int(rng.integers(len(metas)))].authors,
                tags=metas[int(rng.integers(len(metas)))].tags,
                description=base.description,
                url=None,
                slug=f"post-{j}",
                language=base.language,
            )
            body = []
            for ordinal, row in enumerate(rows):
                src = src_passages[row]
                pieces, rows_of = [], []
                for i, s in enumerate(src.sentences):
                    if rng.random() < SWAP:
                        text, srow = all_sentences[int(rng.integers(len(all_sentences)))]
                    else:
                        text, srow = src.text[s.start : s.end], int(sentence_start[row] + i)
                    pieces.append(text)
                    rows_of.append(srow)
                text = " ".join(pieces) if pieces else src.text
                spans, at = [], 0
                for piece in pieces:
                    spans.append(SentenceSpan(at, at + len(piece), src.start_line, src.end_line, 0))
                    at += len(piece) + 1
                passages.append(
                    Passage(
                        id=f"{path}#{ordinal}",
                        post=meta,
                        session_title=src.session_title,
                        heading_path=src.heading_path,
                        ordinal=ordinal,
                        start_line=src.start_line,
                        end_line=src.end_line,
                        text=text,
                        content_hash=f"{j:07d}-{ordinal}",
                        sentences=tuple(spans),
                    )
                )
                vec_rows.append(row)
                sent_rows.extend(rows_of)
                post_of_passage.append(len(stored))
                post_of_sentence.extend([len(stored)] * len(rows_of))
                body.append(f"## {src.session_title or 'Notes'}\n\n{text}\n")
            file = posts_dir / path
            file.parent.mkdir(exist_ok=True)
            front = (
                f"---\ntitle: {json.dumps(meta.title)}\ndate: {meta.date.isoformat()}\n"
                f"authors: {json.dumps(list(meta.authors))}\ntags: {json.dumps(list(meta.tags))}\n---\n\n"
            )
            file.write_text(front + "\n".join(body))
            st = file.stat()
            stored.append(StoredPost(meta, FileState("synthetic", st.st_size, st.st_mtime_ns)))
            j += 1
        shifts = _unit(rng.standard_normal((len(stored), dim)))
        vectors = compose(src_vectors[vec_rows], shifts, post_of_passage)
        sentence_vectors = compose(src_sentences[sent_rows], shifts, post_of_sentence)
        made += len(passages)
        yield stored, passages, vectors, sentence_vectors


class ExactTop10:
    """Per question, the ids of the exact dense top 10 (the formula of ``search.fusion``, over every row), kept
    as the chunks go by: each chunk's best ten are merged with the best so far (ties keep row order, as a stable
    sort over all rows would)."""

    def __init__(self, questions: np.ndarray):
        self.questions = questions
        self.scores = np.full((len(questions), 0), -np.inf, dtype=np.float32)
        self.ids = np.empty((len(questions), 0), dtype=object)

    def add(self, passages, vectors: np.ndarray, sentence_vectors: np.ndarray) -> None:
        from tripsearch.search.fusion import SentenceMatrix, dense_scores

        matrix = SentenceMatrix(sentence_vectors, [len(p.sentences) for p in passages])
        ids = np.array([p.id for p in passages], dtype=object)
        passage_sims, sentence_sims = vectors @ self.questions.T, sentence_vectors @ self.questions.T
        scores, found = [], []
        for q in range(len(self.questions)):
            best = matrix.best_per_passage(np.ascontiguousarray(sentence_sims[:, q]), passage_sims[:, q])
            chunk = dense_scores(passage_sims[:, q], best)
            top = np.argsort(-chunk, kind="stable")[:10]
            both = np.concatenate([self.scores[q], chunk[top]])
            keep = np.argsort(-both, kind="stable")[:10]
            scores.append(both[keep])
            found.append(np.concatenate([self.ids[q], ids[top]])[keep])
        self.scores, self.ids = np.array(scores), np.array(found, dtype=object)

    def tops(self) -> list[list[str]]:
        return [list(row) for row in self.ids]


class FlatFile:
    """A FAISS flat inner-product file written row block by row block: the header of ``store.vectors`` (what
    ``faiss.write_index`` writes for an ``IndexFlatIP``; ``tests/test_scale.py`` checks the bytes are the same),
    then the raw float32 rows. ``write_vectors`` would hold every row twice in RAM."""

    def __init__(self, path: Path, dim: int):
        from tripsearch.store.vectors import _FLAT_HEADER

        self.path, self.dim, self.rows, self.header = path, dim, 0, _FLAT_HEADER
        self.fh = open(path, "wb")
        self.fh.write(b"\0" * _FLAT_HEADER.size)

    def add(self, rows: np.ndarray) -> None:
        self.fh.write(np.ascontiguousarray(rows, dtype="<f4").tobytes())
        self.rows += len(rows)

    def close(self) -> None:
        self.fh.seek(0)
        self.fh.write(self.header.pack(b"IxFI", self.dim, self.rows, 1 << 20, 1 << 20, 1, 0, self.rows * self.dim))
        self.fh.close()


def write_store(index_dir: Path, posts_dir: Path, manifest: dict, chunks, truth: ExactTop10):
    """A published generation written chunk by chunk with the project's own database functions
    (``create_database``, ``insert_posts``, ``insert_passages``, ``finish_database``), the flat vector format of
    ``store.vectors`` and ``store.ann``'s passage graph and sentence index past ``ANN_MIN_ROWS``, as ``build`` writes
    one (their build times go into ``GRAPH_SECONDS``). Returns
    (generation, posts, passages, sentences)."""
    from tripsearch.store import generations as gen
    from tripsearch.store import vectors as store_vectors
    from tripsearch.store.ann import ANN_FILE, ANN_MIN_ROWS, SENTENCE_ANN_FILE, write_ann, write_sentence_ann
    from tripsearch.store.database import DB_FILE, create_database, finish_database, insert_passages, insert_posts

    building = gen.new_generation(index_dir)
    dim = manifest["dim"]
    con = create_database(building / DB_FILE)
    flat = FlatFile(building / store_vectors.VECTORS_FILE, dim)
    sentence_flat = FlatFile(building / store_vectors.SENTENCES_FILE, dim)
    counts, post_of_row, n_posts = [], [], 0
    for stored, passages, vectors, sentence_vectors in chunks:
        position = insert_posts(con, stored, n_posts)
        chunk_counts, chunk_posts = insert_passages(con, flat.rows, passages, position)
        counts.extend(chunk_counts)
        post_of_row.extend(chunk_posts)
        n_posts += len(stored)
        flat.add(vectors)
        sentence_flat.add(sentence_vectors)
        truth.add(passages, vectors, sentence_vectors)
        print(f"  {flat.rows} passages written", file=sys.stderr, flush=True)
    finish_database(con, counts, post_of_row, [])
    con.close()
    flat.close()
    sentence_flat.close()
    names = [DB_FILE, store_vectors.VECTORS_FILE, store_vectors.SENTENCES_FILE]
    if flat.rows > ANN_MIN_ROWS:  # as store.vectors.write_vector_files decides
        started = time.perf_counter()
        write_ann(building / ANN_FILE, store_vectors.map_vectors(building / store_vectors.VECTORS_FILE, dim))
        names.append(ANN_FILE)
        GRAPH_SECONDS["passage_graph_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        write_sentence_ann(
            building / SENTENCE_ANN_FILE, store_vectors.map_vectors(building / store_vectors.SENTENCES_FILE, dim)
        )
        names.append(SENTENCE_ANN_FILE)
        GRAPH_SECONDS["sentence_index_s"] = round(time.perf_counter() - started, 1)
        print(f"  graphs written: {GRAPH_SECONDS}", file=sys.stderr, flush=True)
    m = gen.Manifest(
        model=manifest["model"],
        model_fingerprint=manifest["model_fingerprint"],
        dim=dim,
        chunker_version=manifest["chunker_version"],
        encoder_kind=manifest["encoder_kind"],
        posts_dir=str(posts_dir.resolve()),
        built_at=gen.Manifest.now(),
        build_seconds=0.0,
        counts={"posts": n_posts, "passages": flat.rows, "skipped": 0},
        files=dict.fromkeys(names, ""),
        vectors=manifest.get("vectors", ""),
    )
    return gen.publish(index_dir, building, m), n_posts, flat.rows, sentence_flat.rows


# ---- measuring, in fresh processes -------------------------------------------------------------------
def worker(index_dir: str, work: Path) -> dict:
    """Open the index cold and time the searches; runs in its own process."""
    import faiss  # noqa: F401  imports are not the open's cost: load them first

    from tripsearch import Index
    from tripsearch.search.filters import Filters

    questions = json.loads((work / "questions.json").read_text())
    qvecs = np.load(work / "questions.npy")
    truth = json.loads((work / "truth.json").read_text())
    start = time.perf_counter()
    idx = Index.open(index_dir)
    out = {"open_s": time.perf_counter() - start, "open_rss_mb": rss_mb()}
    none, year = Filters(), Filters.of(**FILTER)

    def timed(mode: str, filters, with_vector: bool = True) -> tuple[list[float], list]:
        times, results = [], []
        for q, v in zip(questions, qvecs):
            t = time.perf_counter()
            if with_vector:
                hits = [s.hit for s in idx.scored_passages(q, 10, filters, mode, v)]
            else:
                hits = idx.search(q, k=10, mode=mode, **(FILTER if filters.active else {}))
            times.append(time.perf_counter() - t)
            results.append(hits)
        return times, results

    hybrid, _ = timed("hybrid", none)
    out["rss_after_queries_mb"] = rss_mb()
    dense, dense_hits = timed("dense", none)
    filtered, filtered_hits = timed("hybrid", year)
    idx.search("warm the encoder up", k=1)
    hybrid_e, _ = timed("hybrid", none, with_vector=False)
    dense_e, _ = timed("dense", none, with_vector=False)
    recall = [len({h.passage_id for h in hits} & set(t)) / 10 for hits, t in zip(dense_hits, truth)]

    def ms(values, q):
        return round(1000 * float(np.percentile(values, q)), 2)

    out.update(
        hybrid_p50_ms=ms(hybrid, 50),
        hybrid_p95_ms=ms(hybrid, 95),
        dense_p50_ms=ms(dense, 50),
        dense_p95_ms=ms(dense, 95),
        hybrid_embed_p50_ms=ms(hybrid_e, 50),
        hybrid_embed_p95_ms=ms(hybrid_e, 95),
        dense_embed_p50_ms=ms(dense_e, 50),
        dense_embed_p95_ms=ms(dense_e, 95),
        filtered_p50_ms=ms(filtered, 50),
        filtered_min_hits=min(len(h) for h in filtered_hits),
        recall_at_10=round(statistics.mean(recall), 4),
    )
    return out


def update_worker(index_dir: str, posts_dir: str) -> dict:
    """Edit one post and time ``update_index``; runs in its own process."""
    from tripsearch.build import update_index

    post = sorted(Path(posts_dir).glob("*/*.md"))[0]
    with open(post, "a") as fh:
        fh.write("\nEdited for the scale benchmark: one new sentence about latency budgets.\n")
    start = time.perf_counter()
    report = update_index(posts_dir, index_dir)
    return {"update_one_post_s": time.perf_counter() - start, "update_changed": report.changed}


def _subprocess(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, __file__, *args], env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_size(n: int, source, work: Path, questions: list[str], qvecs: np.ndarray, args) -> dict:
    rng = np.random.default_rng(n)
    here = work / f"n{n}"
    shutil.rmtree(here, ignore_errors=True)
    here.mkdir(parents=True)
    started = time.perf_counter()
    truth = ExactTop10(qvecs)
    chunks = synthesize(n, source, here / "posts", rng)
    generation, n_posts, n_rows, n_sentences = write_store(here / "index", here / "posts", source[0], chunks, truth)
    (here / "truth.json").write_text(json.dumps(truth.tops()))
    (here / "questions.json").write_text(json.dumps(questions))
    np.save(here / "questions.npy", qvecs)
    made = time.perf_counter() - started
    size = sum(f.stat().st_size for f in generation.iterdir() if f.is_file())
    out = {"passages": n, "posts": n_posts, "sentences": n_sentences, "bytes_per_passage": round(size / n)}
    out["file_bytes_per_passage"] = {f.name: round(f.stat().st_size / n) for f in generation.iterdir() if f.is_file()}
    out.update(GRAPH_SECONDS)
    GRAPH_SECONDS.clear()
    out.update(_subprocess("--worker", str(here / "index"), str(here)))
    if args.update_max is not None and n > args.update_max:
        out["update_one_post_s"] = None  # skipped: --update-max
    else:
        out.update(_subprocess("--update-worker", str(here / "index"), str(here / "posts")))
    out["synthesis_s"] = round(made, 1)
    if not args.keep:
        shutil.rmtree(here, ignore_errors=True)
    return out


def questions_and_vectors(manifest: dict) -> tuple[list[str], np.ndarray]:
    from tripsearch.embed import load_encoder

    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    questions = [r["question"] for r in rows]
    questions = (questions * (N_QUERIES // len(questions) + 1))[:N_QUERIES]
    return questions, np.asarray(load_encoder(manifest["model"]).encode(questions), dtype=np.float32)


def table(results: list[dict]) -> str:
    keys = [
        ("passages", "passages"),
        ("bytes_per_passage", "disk bytes/passage"),
        ("open_s", "open s"),
        ("open_rss_mb", "open RSS MB"),
        ("rss_after_queries_mb", "RSS after 100 q MB"),
        ("hybrid_p50_ms", "hybrid p50 ms"),
        ("hybrid_p95_ms", "hybrid p95 ms"),
        ("dense_p50_ms", "dense p50 ms"),
        ("dense_p95_ms", "dense p95 ms"),
        ("hybrid_embed_p50_ms", "hybrid+embed p50 ms"),
        ("hybrid_embed_p95_ms", "hybrid+embed p95 ms"),
        ("dense_embed_p50_ms", "dense+embed p50 ms"),
        ("dense_embed_p95_ms", "dense+embed p95 ms"),
        ("filtered_p50_ms", "filtered p50 ms"),
        ("filtered_min_hits", "filtered min hits"),
        ("recall_at_10", "recall@10 vs exact"),
        ("update_one_post_s", "one-post update s"),
    ]
    lines = []
    for key, label in keys:
        cells = [f"{r.get(key):.2f}" if isinstance(r.get(key), float) else str(r.get(key)) for r in results]
        lines.append(f"{label:22}" + "".join(f"{c:>14}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", default="10000,100000")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="a real-corpus index, read only")
    parser.add_argument("--work", default="/tmp/tripsearch-scale")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic stores")
    parser.add_argument(
        "--update-max", type=int, default=None, help="skip the one-post update past this many passages (reported null)"
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--update-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], Path(args.worker[1]))))
        return
    if args.update_worker:
        print(json.dumps(update_worker(*args.update_worker)))
        return
    source = load_source(Path(args.source))
    questions, qvecs = questions_and_vectors(source[0])
    results = []
    for n in (int(x) for x in args.passages.split(",")):
        result = run_size(n, source, Path(args.work), questions, qvecs, args)
        results.append(result)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print(f"{n} passages: {json.dumps(result)}", file=sys.stderr, flush=True)
    if not args.json:
        print(table(results))


if __name__ == "__main__":
    main()
