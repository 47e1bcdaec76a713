"""tripsearch in the browser: ask the trip reports, read the answer, filter, follow the source.

    streamlit run app.py -- --posts sample/posts --index index
    (or TRIPSEARCH_POSTS / TRIPSEARCH_INDEX; the defaults are the bundled sample corpus and index/;
    the index may be milvus://HOST:PORT/NAME, an index on a Milvus server)

A thin shell over the library: everything it shows comes from ``tripsearch.Index``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

import streamlit as st

from tripsearch.errors import IndexNotFound, IndexProblem, IndexUnreachable, TripsearchError
from tripsearch.present import citation_line, escape, group_by_post, highlighted_html, talks_line, where
from tripsearch.search.blocks import mark_sentences
from tripsearch.search.modes import SearchMode, mode_help
from tripsearch.store.targets import index_target, live_state, update_target

ROOT = Path(__file__).resolve().parent


def settings() -> tuple[Path, Path | str]:
    parser = argparse.ArgumentParser(prog="app.py")
    parser.add_argument("--posts", default=os.environ.get("TRIPSEARCH_POSTS", str(ROOT / "sample" / "posts")))
    parser.add_argument("--index", default=os.environ.get("TRIPSEARCH_INDEX", str(ROOT / "index")))
    args, _ = parser.parse_known_args(sys.argv[1:])
    return Path(args.posts), index_target(args.index)


@st.cache_resource(show_spinner="Loading the model…")
def shared_encoder(model: str, fingerprint: str):
    """One encoder per server, kept across re-indexes (same model, same fingerprint)."""
    from tripsearch.embed import load_encoder

    return load_encoder(model)


@st.cache_resource(show_spinner="Opening the index…", max_entries=2)
def open_index(index_dir: str, generation: str, model: str, fingerprint: str):
    """One loaded index per server and generation (``store.targets.live_state``'s key): a re-index makes a new
    generation, loaded once."""
    from tripsearch import Index

    return Index.open(index_target(index_dir), encoder=shared_encoder(model, fingerprint))


def reindex(posts_dir: Path, index_dir: Path | str) -> None:
    bar = st.sidebar.progress(0.0, text="Re-indexing…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=f"Embedding {done}/{total}")

    try:
        report = update_target(posts_dir, index_dir, progress=progress)
    except (TripsearchError, OSError) as exc:
        st.sidebar.error(f"Re-index failed: {exc}. The previous index is still in use.")
        return
    bar.empty()
    st.sidebar.success(report.summary())
    for warned in report.warned:
        st.sidebar.warning(escape(f"{warned.path}: {warned.message}"))
    for skipped in report.skipped:
        st.sidebar.warning(f"Skipped {skipped.path}: {skipped.reason}")


def sidebar(idx) -> dict:
    m = idx.manifest
    st.sidebar.header("Index")
    st.sidebar.caption(
        f"{len(idx.posts)} posts · {len(idx.passages)} passages · model {m.model} · built {m.built_at[:16].replace('T', ' ')} UTC"
    )
    st.sidebar.header("Filters")
    facets = idx.facets()  # every author and tag, the date range: asked of the store seam
    titles = {meta.path: meta.title for meta in idx.posts.values()}
    author = st.sidebar.selectbox("Author", ["(any)", *facets.authors])
    tag = st.sidebar.selectbox("Tag", ["(any)", *facets.tags])
    post = st.sidebar.selectbox(
        "Post", ["(any)"] + sorted(titles, key=titles.get), format_func=lambda p: titles.get(p, p)
    )
    since = until = None
    if facets.first and st.sidebar.checkbox("Limit dates"):
        since = st.sidebar.date_input("From", facets.first, min_value=dt.date(1990, 1, 1))
        until = st.sidebar.date_input("To", facets.last, min_value=dt.date(1990, 1, 1))
    st.sidebar.header("Search")
    mode = st.sidebar.radio("Mode", [mode.value for mode in SearchMode], horizontal=True, help=mode_help())
    k = st.sidebar.slider("Results", 1, 20, 5)
    return {
        "author": None if author == "(any)" else author,
        "tag": None if tag == "(any)" else tag,
        "post": None if post == "(any)" else post,
        "since": since,
        "until": until,
        "mode": mode,
        "k": k,
    }


def show_why(answer) -> None:
    """The "Why this answer?" expander: why it answered or abstained, and the signals (as ``ask --explain``)."""
    with st.expander("Why this answer?"):
        for line in answer.explanation:
            st.markdown(f"- {escape(line)}")
        if answer.signals:
            st.caption(escape(", ".join(f"{k}={v:.3g}" for k, v in answer.signals.items())))


def show_answer(answer) -> None:
    if answer.abstained:
        st.info(f"The reports don't seem to answer this: {answer.reason}.")
        show_why(answer)
        return
    st.subheader("Answer")
    for sentence in answer.sentences:
        url = f" · [original]({sentence.citation.url})" if sentence.citation.url else ""
        st.markdown(f"> {highlighted_html(sentence.text, [])}", unsafe_allow_html=True)
        st.caption(escape(citation_line(sentence.citation)) + url)
    st.caption(f"confidence {answer.confidence:.2f}")
    show_why(answer)


def show_hits(idx, hits) -> None:
    st.subheader("Passages")
    for path, post_hits in group_by_post(hits):
        first = post_hits[0]
        meta = idx.posts.get(path)
        date = first.date.isoformat() if first.date else "undated"
        authors = ", ".join(first.authors) or "unknown author"
        with st.container(border=True):
            st.markdown(f"**{highlighted_html(first.post_title, [])}**", unsafe_allow_html=True)
            link = f" · [original]({meta.url})" if meta and meta.url else ""
            st.caption(escape(f"{date} · {authors} · {', '.join(first.tags)}") + link)
            for hit in post_hits:
                title = " › ".join(hit.heading_path) or "(introduction)"
                st.markdown(f"*{highlighted_html(title, [])}* — `{where(hit)}`", unsafe_allow_html=True)
                if len(hit.talks) > 1:  # short talks embedded together: each named, with its own lines
                    st.caption(escape(f"talks: {talks_line(hit)}"))
                st.markdown(highlighted_html(hit.text, hit.highlights), unsafe_allow_html=True)
                with st.expander("Related talks"):
                    for other in idx.related(hit.passage_id, k=3):
                        st.markdown(
                            f"- {highlighted_html(other.post_title, [])} › {highlighted_html(other.session_title or '(introduction)', [])} — `{where(other)}`",
                            unsafe_allow_html=True,
                        )


def main() -> None:
    st.set_page_config(page_title="tripsearch", page_icon="🧳", layout="wide")
    st.title("tripsearch")
    st.caption("Ask the conference trip reports.")
    posts_dir, index_dir = settings()
    if st.sidebar.button("Re-index posts folder", help=str(posts_dir)):
        reindex(posts_dir, index_dir)
    # The app's one handler for the library's error root: what went wrong, in a line, and what to do.
    try:
        page(posts_dir, index_dir)
    except IndexUnreachable as exc:
        st.error(f"The index server does not answer: {exc}")
    except IndexNotFound:
        st.info(f"No index yet in `{index_dir}`. Use **Re-index posts folder** to build one from `{posts_dir}`.")
    except IndexProblem as exc:
        st.error(f"The index cannot be opened: {exc}. Use **Re-index posts folder** to rebuild it.")
    except TripsearchError as exc:
        st.error(f"Search failed: {exc}")


def page(posts_dir: Path, index_dir: Path | str) -> None:
    """The page for one index: filters in the sidebar, the question form, the answer and its passages."""
    live = live_state(index_dir)
    if live is None:
        raise IndexNotFound(f"{index_dir}: no index here yet")
    idx = open_index(str(index_dir), live.key, live.model, live.fingerprint)
    if not idx.passages:
        st.warning(f"The index is empty: no passages were found in `{idx.manifest.posts_dir}`.")
        return
    options = sidebar(idx)
    with st.form("ask"):
        question = st.text_input("Question", placeholder="What did they say about multi-account strategy?")
        st.form_submit_button("Ask")
    if not question.strip():
        return
    filters = {key: options[key] for key in ("author", "tag", "post", "since", "until")}
    answer = idx.ask(question, k=options["k"], **filters)
    if options["mode"] == SearchMode.HYBRID:  # the mode Index.ask searches with: its hits are the answer's
        hits = list(answer.hits)
    else:
        found = idx.search(question, k=options["k"], mode=options["mode"], **filters)
        hits = [mark_sentences(h, answer.sentences) for h in found]
    if not hits:
        st.warning("No passages match this question with these filters.")
        return
    show_answer(answer)
    show_hits(idx, hits)


main()
