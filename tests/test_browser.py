"""The app as people use it: a real `streamlit run` server and a real headless Chromium (Debian's).

A hostile post is indexed beside the sample: script and ``onerror`` markup in its prose (inline code
and raw HTML) and markdown/HTML in its title and author. The page must show that markup as text and
never run it. The last screenshot goes to docs/app.png for the README.

Needs /usr/bin/chromium (Debian package ``chromium``; Playwright never downloads a browser here).
Without it the test is skipped locally, and fails in CI (CI=true), where .ci/run installs it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_POSTS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = ROOT / "docs" / "app.png"
SERVER_START_SECONDS = 120
RENDER_MS = 180_000  # bounded waits only; nothing here asserts on speed

HOSTILE_NAME = "2024-06-12-polyglotconf.md"
HOSTILE_POST = """---
title: "PolyglotConf 2024 <img src=x onerror=\\"window.__pwned=5\\"> [click me](https://evil.example/)"
date: 2024-06-12
author: Eve <b>Mallory</b>
url: "javascript:window.__pwned=6"
tags: [security, frontend]
---

## Sanitising comments at Glacierbank - Halla Sigurdardottir

Halla Sigurdardottir explained how Glacierbank renders user comments in its banking app. Her favourite test payload is "`<script>window.__pwned=1</script>`", and the second one is `<img src=x onerror="window.__pwned=2">`; both must show up as text.

Raw HTML in a comment like <img src=x onerror="window.__pwned=3"> or <script>window.__pwned=4</script> is the classic attack, she said.

The Glacierbank team cut their sanitiser latency from 40 ms to 3 ms by replacing a regex blocklist with an allowlist parser called Fjordclean.
"""
HOSTILE_QUESTION = "What was Halla Sigurdardottir's favourite test payload?"
HOSTILE_ANSWER = 'Her favourite test payload is "<script>window.__pwned=1</script>", and the second one is <img src=x onerror="window.__pwned=2">'
LAMBDA_QUESTION = "How did the payments company cut Lambda cold starts?"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing; install Debian's chromium (`apt-get install chromium`) to run the browser test"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install -e '.[dev]')"
    return None


# Skip before any fixture runs (not after building an index); in CI never skip: the browser fixture fails.
pytestmark = pytest.mark.skipif(not _in_ci() and _missing() is not None, reason=str(_missing()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False


@pytest.fixture(scope="module")
def corpus(sample_index_dir, tmp_path_factory):
    """The sample posts plus the hostile post, indexed (the sample index reused, only the new post embedded)."""
    from tripsearch.build import update_index

    root = tmp_path_factory.mktemp("browser")
    posts = shutil.copytree(SAMPLE_POSTS, root / "posts")  # copy2 keeps mtimes: the sample passages are reused
    (posts / HOSTILE_NAME).write_text(HOSTILE_POST, encoding="utf-8")
    index = shutil.copytree(sample_index_dir, root / "index")
    report = update_index(posts, index)
    assert report.posts == 8 and report.added == 1 and not report.skipped, report.summary()
    return posts, index


@pytest.fixture(scope="module")
def server(corpus, tmp_path_factory):
    posts, index = corpus
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--", "--posts", str(posts), "--index", str(index),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIPSEARCH_")}  # the flags decide
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not _healthy(f"{url}/_stcore/health"):
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit not healthy after {SERVER_START_SECONDS} s:\n{log_path.read_text(errors='replace')}"
                )
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    log_text = log_path.read_text(errors="replace")
    assert "Traceback" not in log_text, log_text


@pytest.fixture(scope="module")
def browser():
    if _missing():
        pytest.fail(f"{_missing()}. CI must run the browser test: .ci/run installs chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _ask(page, question: str) -> None:
    box = page.get_by_label("Question")
    box.fill(question)
    box.press("Enter")  # the input is in an st.form: Enter submits it


def _wait_until_idle(page) -> None:
    """Until Streamlit's "Running…" indicator is gone (it is there while the script runs)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=RENDER_MS)


def _wait_for_text(page, selector: str, text: str) -> None:
    """Until an element matching ``selector`` shows ``text``. Markdown with HTML (the answer, the passages)
    renders a moment after the rest of the page, so wait for that text itself, not for its neighbours."""
    page.wait_for_function(
        "([selector, text]) => [...document.querySelectorAll(selector)].some(e => e.innerText.includes(text))",
        arg=[selector, text],
        timeout=RENDER_MS,
    )


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), 1) if needle in line)


def test_answer_in_a_real_browser_shows_hostile_markup_as_text(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server, timeout=RENDER_MS)
        page.get_by_label("Question").wait_for(timeout=RENDER_MS)

        # The hostile post: its answer sentence and citation, the markup shown as text.
        _ask(page, HOSTILE_QUESTION)
        line = _line_of(HOSTILE_POST, "favourite test payload")
        citation = f"{HOSTILE_NAME}:{line}-{line}"
        _wait_for_text(page, '[data-testid="stCaptionContainer"]', citation)
        _wait_for_text(page, "blockquote", HOSTILE_ANSWER)
        _wait_for_text(page, '[data-testid="stMarkdownContainer"] mark', "favourite test payload")
        _wait_until_idle(page)
        text = page.inner_text("body")
        assert HOSTILE_ANSWER in text
        assert citation in text
        assert "<script>window.__pwned=1</script>" in text
        assert '<img src=x onerror="window.__pwned=2">' in text
        # Title and author: shown literally, in the citation line too; their markdown makes no link.
        assert 'PolyglotConf 2024 <img src=x onerror="window.__pwned=5"> [click me](https://evil.example/)' in text
        assert "Eve <b>Mallory</b>" in text
        assert page.locator("a", has_text="click me").count() == 0
        assert page.locator('a[href^="javascript:"]').count() == 0

        # Nothing ran: no flag set, no dialog, no injected element, no page error.
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert dialogs == []
        assert page.locator('img[src="x"]').count() == 0
        assert not page.evaluate("[...document.scripts].some(s => s.text.includes('__pwned'))")
        assert not page.locator("b", has_text="Mallory").count()
        assert errors == []

        # An ordinary question, for the README's screenshot.
        _ask(page, LAMBDA_QUESTION)
        _wait_for_text(page, '[data-testid="stCaptionContainer"]', "2023-11-28-reinvent-day-1.md:")
        _wait_for_text(page, "blockquote", "cold")
        _wait_until_idle(page)
        text = page.inner_text("body")
        assert "Answer" in text and "Passages" in text
        assert (
            "SVC301 - Cutting Lambda cold starts in a payments API (2023-11-28), 2023-11-28-reinvent-day-1.md:" in text
        )
        assert not any(
            "favourite test payload" in q for q in page.locator("blockquote").all_inner_texts()
        )  # the new answer
        assert page.evaluate("typeof window.__pwned") == "undefined" and dialogs == []

        # Streamlit scrolls inside its main block, so grow the viewport to the content for a whole-page shot.
        height = page.evaluate(
            '() => Math.max(...[...document.querySelectorAll(\'[data-testid="stMain"], [data-testid="stAppViewContainer"]\')]'
            ".map(e => e.scrollHeight), document.body.scrollHeight)"
        )
        page.set_viewport_size({"width": 1400, "height": min(max(int(height), 1000), 6000)})
        _wait_until_idle(page)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert SCREENSHOT.stat().st_size > 10_000
    finally:
        page.close()
