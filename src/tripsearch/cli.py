"""The ``tripsearch`` command: a thin shell over the library. Heavy imports happen inside commands."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import click

from tripsearch.errors import TripsearchError  # stdlib only: keeps start-up light


def _passage_dict(p) -> dict:
    return {
        "id": p.id,
        "ordinal": p.ordinal,
        "session_title": p.session_title,
        "heading_path": list(p.heading_path),
        "start_line": p.start_line,
        "end_line": p.end_line,
        "words": p.word_count,
        "text": p.text,
    }


class _Commands(click.Group):
    """The one place the CLI turns a library error into a message: one line, no traceback, exit code by kind."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TripsearchError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tripsearch")
def main() -> None:
    """Search conference trip reports and answer questions from them."""


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def chunks(path: Path, as_json: bool) -> None:
    """Show how a post, or every post in a folder, is split into passages."""
    from tripsearch.passages import split_post
    from tripsearch.posts import read_folder
    from tripsearch.posts.reader import ReadResult, UnreadablePost, read_post

    if path.is_dir():
        result = read_folder(path)
    else:
        result = ReadResult()
        try:
            result.posts.append(read_post(path))
        except UnreadablePost as exc:
            from tripsearch.records import SkippedFile

            result.skipped.append(SkippedFile(path.name, str(exc)))
    posts = [(post, split_post(post)) for post in result.posts]
    words = [p.word_count for _, passages in posts for p in passages]
    summary = {
        "posts_read": len(result.posts),
        "files_skipped": [{"path": s.path, "reason": s.reason} for s in result.skipped],
        "passages": len(words),
        "words_per_passage": {
            "min": min(words, default=0),
            "median": statistics.median(words) if words else 0,
            "max": max(words, default=0),
        },
    }
    if as_json:
        out = {
            "posts": [
                {"path": post.path, "title": post.meta.title, "passages": [_passage_dict(p) for p in passages]}
                for post, passages in posts
            ],
            "summary": summary,
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    for post, passages in posts:
        click.secho(f"\n{post.path} — {post.meta.title} ({len(passages)} passages)", bold=True)
        for p in passages:
            where = " › ".join(p.heading_path) or "(no heading)"
            click.secho(f"  [{p.ordinal}] {where}  lines {p.start_line}-{p.end_line}, {p.word_count} words", fg="cyan")
            for line in p.text.splitlines():
                click.echo(f"      {line}")
    for skipped in result.skipped:
        click.secho(f"skipped {skipped.path}: {skipped.reason}", fg="yellow", err=True)
    if path.is_dir():
        w = summary["words_per_passage"]
        click.echo(
            f"\n{summary['posts_read']} posts read, {len(result.skipped)} files skipped, {summary['passages']} passages; "
            f"words per passage min {w['min']} / median {w['median']:g} / max {w['max']}"
        )


def _default_index() -> Path:
    import os

    return Path(os.environ.get("TRIPSEARCH_INDEX", "index"))


index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path),
    default=_default_index,
    show_default="index/ or $TRIPSEARCH_INDEX",
    help="Index folder.",
)


@main.command()
@click.argument("posts_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@index_option
@click.option(
    "--model", default=None, help="A sentence-transformers model folder or name (default all-MiniLM-L6-v2, bundled)."
)
@click.option("--rebuild", is_flag=True, help="Re-embed everything, e.g. to switch models.")
@click.option("--wait", type=float, default=0.0, help="Seconds to wait for another indexer to finish.")
def index(posts_dir: Path, index_dir: Path, model: str | None, rebuild: bool, wait: float) -> None:
    """Build or update the index of POSTS_DIR (only what changed is redone)."""
    from tqdm import tqdm

    from tripsearch.build import update_index

    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            # Counts tokens, the unit the model's work is proportional to (passages differ tenfold in length),
            # so the rate is steady and the ETA honest; tqdm shows both.
            bar = tqdm(
                total=total,
                unit="tok",
                unit_scale=True,
                desc="embedding passages",
                dynamic_ncols=True,
                file=sys.stderr,
            )
        bar.update(done - bar.n)

    try:
        report = update_index(posts_dir, index_dir, model=model, rebuild=rebuild, progress=progress, lock_wait=wait)
    finally:
        if bar is not None:
            bar.close()  # first, so an error starts on a line of its own
    if report.encoder_status:
        click.echo(report.encoder_status, err=True)
    for skipped in report.skipped:
        kept = " (kept the indexed version)" if skipped.path in report.kept_previous else ""
        click.secho(f"skipped {skipped.path}: {skipped.reason}{kept}", fg="yellow", err=True)
    click.echo(report.summary())


def _read_queries(queries: tuple[str, ...]) -> list[str]:
    if queries:
        return list(queries)
    if sys.stdin is None or sys.stdin.isatty():
        raise click.UsageError("give a question, or questions one per line on stdin")
    return [line.strip() for line in sys.stdin if line.strip()]


def _open_index(index_dir: Path):
    from tripsearch import Index

    return Index.open(index_dir)


def filter_options(func):
    for option in reversed(
        [
            click.option("--author", default=None, help="Only posts by this author (part of the name)."),
            click.option("--tag", default=None, help="Only posts with this tag or category."),
            click.option("--since", default=None, help="Only posts on or after this date (YYYY-MM-DD)."),
            click.option("--until", default=None, help="Only posts on or before this date."),
            click.option("--post", default=None, help="Only this post (its path, or part of it)."),
        ]
    ):
        func = option(func)
    return func


def hit_dict(hit) -> dict:
    return {
        "passage_id": hit.passage_id,
        "score": round(hit.score, 6),
        "path": hit.path,
        "post_title": hit.post_title,
        "session_title": hit.session_title,
        "heading_path": list(hit.heading_path),
        "start_line": hit.start_line,
        "end_line": hit.end_line,
        "date": hit.date.isoformat() if hit.date else None,
        "authors": list(hit.authors),
        "tags": list(hit.tags),
        "url": hit.url,
        "dense_rank": hit.dense_rank,
        "keyword_rank": hit.keyword_rank,
        "highlights": [list(span) for span in hit.highlights],
        "text": hit.text,
    }


def _highlighted(text: str, spans) -> str:
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], click.style(text[start:end], fg="yellow", bold=True, underline=True)]
        last = end
    return "".join(out + [text[last:]])


def print_hit(rank: int, hit) -> None:
    date = hit.date.isoformat() if hit.date else "undated"
    click.secho(f"{rank:>2}. [{hit.score:.4f}] {hit.post_title} ({date})", bold=True)
    if hit.session_title:
        click.secho(f"    {' › '.join(hit.heading_path)}", fg="cyan")
    click.secho(f"    {hit.path}:{hit.start_line}-{hit.end_line}", fg="bright_black")
    for line in _highlighted(hit.text, hit.highlights).splitlines():
        click.echo(f"    {line}")


@main.command()
@click.argument("queries", nargs=-1)
@index_option
@click.option("-k", "k", type=click.IntRange(1, 1000), default=5, show_default=True, help="How many passages.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "keyword"]), default="hybrid", show_default=True)
@filter_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query.")
def query(queries, index_dir, k, mode, author, tag, since, until, post, as_json) -> None:
    """Search the index. Several QUERIES, or one per line on stdin, share one loaded index."""

    def show(hits) -> None:
        if not hits:
            click.echo("    no passages match")
        for rank, hit in enumerate(hits, start=1):
            print_hit(rank, hit)

    _answer_each(
        queries,
        index_dir,
        as_json,
        run=lambda idx, q: idx.search(q, k=k, mode=mode, author=author, tag=tag, since=since, until=until, post=post),
        to_json=lambda q, hits: {"query": q, "mode": mode, "hits": [hit_dict(h) for h in hits]},
        show=show,
    )


def _answer_each(raw_questions, index_dir, as_json: bool, run, to_json, show) -> None:
    """What query and ask share: one loaded index, the questions in turn, each as JSON or as text."""
    questions = _read_queries(raw_questions)
    idx = _open_index(index_dir)
    for question in questions:
        result = run(idx, question)
        if as_json:
            click.echo(json.dumps(to_json(question, result), ensure_ascii=False))
            continue
        click.secho(f"\n{question}", bold=True, underline=True)
        show(result)


def answer_dict(answer) -> dict:
    return {
        "question": answer.question,
        "abstained": answer.abstained,
        "reason": answer.reason,
        "confidence": round(answer.confidence, 4),
        "answer": [
            {
                "text": s.text,
                "score": round(s.score, 4),
                "passage_id": s.passage_id,
                "start": s.start,
                "end": s.end,
                "citation": {
                    "post_title": s.citation.post_title,
                    "session_title": s.citation.session_title,
                    "date": s.citation.date.isoformat() if s.citation.date else None,
                    "path": s.citation.path,
                    "start_line": s.citation.start_line,
                    "end_line": s.citation.end_line,
                    "url": s.citation.url,
                },
            }
            for s in answer.sentences
        ],
        "hits": [hit_dict(h) for h in answer.hits],
    }


@main.command()
@click.argument("questions", nargs=-1)
@index_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=3, show_default=True, help="Supporting passages.")
@filter_options
@click.option("--cross-encoder", default=None, help="A sentence-transformers CrossEncoder folder to rerank with.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question.")
def ask(questions, index_dir, k, author, tag, since, until, post, cross_encoder, as_json) -> None:
    """Answer QUESTIONS from the reports, with citations; says so when the reports don't."""
    _answer_each(
        questions,
        index_dir,
        as_json,
        run=lambda idx, q: idx.ask(
            q, k=k, author=author, tag=tag, since=since, until=until, post=post, cross_encoder=cross_encoder
        ),
        to_json=lambda q, answer: answer_dict(answer),
        show=print_answer,
    )


def print_answer(answer) -> None:
    if answer.abstained:
        click.secho(f"  The reports don't seem to answer this ({answer.reason}).", fg="magenta")
    for s in answer.sentences:
        c = s.citation
        click.echo(f"  » {click.style(s.text, bold=True)}")
        date = c.date.isoformat() if c.date else "undated"
        where = f"{c.post_title} › {c.session_title}" if c.session_title else c.post_title
        click.secho(
            f"    — {where} ({date}), {c.path}:{c.start_line}-{c.end_line}" + (f" {c.url}" if c.url else ""), fg="cyan"
        )
    if answer.sentences:
        click.echo(f"  confidence {answer.confidence:.2f}")
    for rank, hit in enumerate(answer.hits, start=1):
        print_hit(rank, hit)


@main.command(name="eval")
@click.argument("questions_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@index_option
@click.option(
    "--mode",
    "modes",
    type=click.Choice(["hybrid", "dense", "keyword", "hybrid-rrf", "rerank", "all"]),
    default="hybrid",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True)
def eval_command(questions_file: Path, index_dir: Path, modes: str, as_json: bool) -> None:
    """Score retrieval on a question file (the format of ../shared/eval/dev.jsonl)."""
    from tripsearch.evaluate import evaluate, evaluate_answers, load_questions

    questions = load_questions(questions_file)
    idx = _open_index(index_dir)
    all_modes = ["hybrid", "dense", "keyword", "hybrid-rrf", "rerank"]
    reports = [evaluate(idx, questions, mode=m) for m in (all_modes if modes == "all" else [modes])]
    answers = evaluate_answers(idx, questions)
    if as_json:
        click.echo(json.dumps({"retrieval": [r.as_dict() for r in reports], "answers": answers.as_dict()}, indent=2))
        return
    for report in reports:
        click.secho(f"\nmode {report.mode}", bold=True)
        click.echo(f"  {'':14} {'n':>3} {'hit@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'words':>6}")
        for name, s in [("overall", report.overall), *sorted(report.by_type.items())]:
            click.echo(
                f"  {name:14} {s.n:>3} {s.hit1:>6.3f} {s.recall5:>6.3f} {s.recall10:>6.3f} {s.mrr10:>7.3f} {s.words:>6.0f}"
            )
    a = answers
    click.secho("\nanswers", bold=True)
    click.echo(
        f"  top answer sentence overlaps an evidence quote: {a.top_sentence_correct:.3f} of {a.answerable} answerable"
    )
    click.echo(
        f"  abstained on {a.abstained_unanswerable} of {a.unanswerable} unanswerable, {a.abstained_answerable} of {a.answerable} answerable"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
