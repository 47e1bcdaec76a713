"""Issue 7: readers keep working while an index is rebuilt under them; writers take turns.

One process re-indexes again and again (alternating edits of one post) while three reader processes query
in a loop: two open the live index afresh for every query, one keeps the index it opened first for the whole
run (its generation is garbage-collected under it). Zero errors, and every answer comes from one
generation: a search restricted to the edited post returns all its passages, all of one version.

Two writers at once: the second gets ``IndexBusy`` with a clear message, or waits with ``--wait``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from reliability_support import (  # noqa: F401  (fixtures)
    corpus_versions,
    fast_encoder,
    index_state,
    indexer_command,
    lock_is_held,
    say,
    slow,
    wait_for,
    write_post,
)

from tripsearch.build import update_index
from tripsearch.errors import IndexProblem
from tripsearch.store.generations import IndexBusy

INDEX_PROBLEM = IndexProblem.exit_code  # what the CLI exits with for an index it cannot open, write or use

TESTS = Path(__file__).resolve().parent
REINDEXES = 6
PAUSE = 0.05  # between a reader's queries: three readers flat out on 2 cores made each re-index take 8 s

WRITER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[4])
    from reliability_support import write_post
    from tripsearch.build import update_index
    posts, index, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    for version in range(2, rounds + 2):
        write_post(posts, 1, version, sections=2 if version % 2 else 3)  # alternate: 2 talks, 3 talks
        started = time.monotonic()
        report = update_index(posts, index)
        print(json.dumps({"version": version, "generation": report.generation,
                          "seconds": round(time.monotonic() - started, 2)}), flush=True)
""")

READER = textwrap.dedent("""
    import json, re, sys, time
    from pathlib import Path
    from tripsearch import Index
    from tripsearch.embed.onnx import OnnxEncoder
    index, stop, ready, kind = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    marker = re.compile(r"\\bmk1v(\\d+)\\b")
    encoder = OnnxEncoder(None)
    held = Index.open(index, encoder=encoder) if kind == "long-lived" else None
    ready.write_text("ok")
    queries, errors, problems, versions, generations = 0, 0, [], set(), set()
    modes = ["hybrid", "dense", "keyword"]
    while not stop.exists():
        mode = modes[queries % 3]
        try:
            idx = held or Index.open(index, encoder=encoder)
            hits = idx.search(f"what did the speaker say, takeaway {queries}", k=100, mode=mode, post="post1.md")
            found = {v for h in hits for v in marker.findall(h.text)}
            rows = [p for p in idx.passages if p.post.path == "post1.md"]
            expected = {v for p in rows for v in marker.findall(p.text)}
            if len(found) != 1 or found != expected or len(hits) != len(rows):
                problems.append(f"{mode}: versions {sorted(found)} in {len(hits)} hits; generation holds {sorted(expected)} in {len(rows)}")
            versions |= found
            generations.add(idx.generation.name)
            if idx is not held:
                idx.close()
        except Exception as exc:
            errors += 1
            problems.append(f"{mode}: {type(exc).__name__}: {exc}")
        queries += 1
        time.sleep(float(sys.argv[5]))
    print(json.dumps({"kind": kind, "queries": queries, "errors": errors, "problems": problems[:20],
                      "versions": sorted(versions), "generations": len(generations)}))
""")


@slow
def test_readers_during_reindexing(tmp_path, fast_encoder, say):
    posts, index_dir = tmp_path / "posts", tmp_path / "index"
    posts.mkdir()
    for n in range(1, 5):
        write_post(posts, n, 1, sections=2)
    update_index(posts, index_dir)
    stop = tmp_path / "stop"
    readers = []
    for i, kind in enumerate(["reopening", "reopening", "long-lived"]):
        ready = tmp_path / f"ready{i}"
        proc = subprocess.Popen(
            [sys.executable, "-c", READER, str(index_dir), str(stop), str(ready), kind, str(PAUSE)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        readers.append((proc, ready))
    try:
        assert wait_for(lambda: all(r.exists() or p.poll() is not None for p, r in readers), 120, 0.05)
        started = time.monotonic()
        writer = subprocess.run(
            [sys.executable, "-c", WRITER, str(posts), str(index_dir), str(REINDEXES), str(TESTS)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        seconds = time.monotonic() - started
    finally:
        stop.write_text("stop")
        outputs = [(p, *p.communicate(timeout=120)) for p, _ in readers]
    assert writer.returncode == 0, writer.stderr[-3000:]
    published = [json.loads(line) for line in writer.stdout.splitlines()]
    assert len(published) == REINDEXES and all(p["generation"] for p in published)
    results = []
    for proc, out, err in outputs:
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    for r in results:
        assert r["errors"] == 0 and not r["problems"], r
        assert r["queries"] > 0
    reopening = [r for r in results if r["kind"] == "reopening"]
    assert all(len(r["versions"]) >= 3 for r in reopening), "readers did not see the index change under them"
    long_lived = next(r for r in results if r["kind"] == "long-lived")
    assert long_lived["versions"] == ["1"] and long_lived["generations"] == 1
    assert index_state(index_dir, fast_encoder).versions == corpus_versions(posts)
    total = sum(r["queries"] for r in results)
    say(
        f"concurrency: {REINDEXES} re-indexes in {seconds:.1f} s ({', '.join(str(p['seconds']) for p in published)} s each) "
        f"while 3 readers served {total} queries ({', '.join(str(r['queries']) for r in results)}), "
        f"errors {sum(r['errors'] for r in results)}; versions seen: {[r['versions'] for r in results]}"
    )


@slow
def test_two_writers_at_once(tmp_path, fast_encoder, say):
    posts, index_dir = tmp_path / "posts", tmp_path / "index"
    posts.mkdir()
    for n in range(1, 8):
        write_post(posts, n, 1, sections=4)
    update_index(posts, index_dir)
    for n in range(1, 8):  # a --rebuild of all of it: the first writer holds the lock for a few seconds
        write_post(posts, n, 2, sections=4)

    first = subprocess.Popen(
        indexer_command(posts, index_dir, "--rebuild"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    third = None
    try:
        assert wait_for(lambda: lock_is_held(index_dir) or first.poll() is not None, 60), (
            "the first writer never took the lock"
        )
        assert first.poll() is None, "the first writer finished before the second could start: nothing tested"
        # In the library: refused at once, or waits.
        try:
            update_index(posts, index_dir)
            raise AssertionError("a second writer was let in")
        except IndexBusy as exc:
            assert "another `tripsearch index` is updating this index" in str(exc)
        # From the command line: a clear error (exit 2, no traceback)...
        second = subprocess.run(indexer_command(posts, index_dir), capture_output=True, text=True, timeout=120)
        still_running = first.poll() is None
        # ...or, with --wait, a turn after the first.
        third = subprocess.Popen(
            indexer_command(posts, index_dir, "--wait", "120"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out1, err1 = first.communicate(timeout=300)
        out3, err3 = third.communicate(timeout=300)
    finally:  # only on failure: both are waited for above
        for proc in (first, third):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert still_running, "the first writer finished while the second ran: inconclusive"
    assert second.returncode == INDEX_PROBLEM, (second.stdout, second.stderr)
    assert "another `tripsearch index` is updating this index" in second.stderr and "Traceback" not in second.stderr
    assert first.returncode == 0, err1[-2000:]
    assert third.returncode == 0 and "index up to date" in out3, (out3, err3[-2000:])  # the first did the work
    assert (
        index_state(index_dir, fast_encoder).versions
        == corpus_versions(posts)
        == {f"post{n}.md": 2 for n in range(1, 8)}
    )
    say(
        f"two writers: second refused ({second.stderr.strip().splitlines()[-1]}); with --wait it waited and found: {out3.strip()}"
    )
