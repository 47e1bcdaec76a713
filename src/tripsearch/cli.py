"""The ``tripsearch`` command: a thin shell over the library. Heavy imports happen inside commands."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import click

from tripsearch.cli_output import answer_dict, hit_dict, passage_dict, print_answer, print_hit, print_warnings
from tripsearch.errors import TripsearchError  # stdlib only: keeps start-up light
from tripsearch.search.modes import SearchMode, mode_help  # stdlib only too


class _Commands(click.Group):
    """The one place the CLI turns an error into a message: one line on stderr, no traceback, exit code by kind.

    Library errors (``TripsearchError``) carry their own exit code (bad input 2, index 3, model 4); click's own
    usage errors (a bad ``--mode``, a missing argument) exit 2 as click does, but in one line too.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TripsearchError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(exc.exit_code)

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False  # so that usage errors reach the handler below instead of click's
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            click.secho("error: aborted", fg="red", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            where = f" (see `{exc.ctx.command_path} --help`)" if getattr(exc, "ctx", None) else ""
            click.secho(f"error: {exc.format_message()}{where}", fg="red", err=True)
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


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
    from tripsearch.passages.tokens import MODEL_MAX_TOKENS, SPECIAL_TOKENS, count_tokens
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
    # What the encoder sees: title › headings + text, with [CLS] and [SEP]; over MODEL_MAX_TOKENS is cut off.
    every = [p for _, passages in posts for p in passages]
    flat = [n + SPECIAL_TOKENS for n in count_tokens([p.embedding_text() for p in every])]
    tokens = {p.id: n for p, n in zip(every, flat)}
    summary = {
        "posts_read": len(result.posts),
        "posts_with_warnings": sum(1 for post in result.posts if post.warnings),
        "files_skipped": [{"path": s.path, "reason": s.reason} for s in result.skipped],
        "passages": len(words),
        "words_per_passage": {
            "min": min(words, default=0),
            "median": statistics.median(words) if words else 0,
            "max": max(words, default=0),
        },
        "tokens_per_passage": {
            "min": min(flat, default=0),
            "median": statistics.median(flat) if flat else 0,
            "max": max(flat, default=0),
            f"over_{MODEL_MAX_TOKENS}": sum(n > MODEL_MAX_TOKENS for n in flat),
        },
    }
    if as_json:
        out = {
            "posts": [
                {
                    "path": post.path,
                    "title": post.meta.title,
                    "warnings": list(post.warnings),
                    "passages": [passage_dict(p, tokens[p.id]) for p in passages],
                }
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
            size = f"{p.word_count} words, {tokens[p.id]} tokens"
            click.secho(f"  [{p.ordinal}] {where}  lines {p.start_line}-{p.end_line}, {size}", fg="cyan")
            for line in p.text.splitlines():
                click.echo(f"      {line}")
    print_warnings((post.path, message) for post in result.posts for message in post.warnings)
    for skipped in result.skipped:
        click.secho(f"skipped {skipped.path}: {skipped.reason}", fg="yellow", err=True)
    if path.is_dir():
        w, t = summary["words_per_passage"], summary["tokens_per_passage"]
        click.echo(
            f"\n{summary['posts_read']} posts read ({summary['posts_with_warnings']} with warnings), "
            f"{len(result.skipped)} files skipped, {summary['passages']} passages; "
            f"words per passage min {w['min']} / median {w['median']:g} / max {w['max']}; "
            f"tokens (model input) min {t['min']} / median {t['median']:g} / max {t['max']}, "
            f"{t[f'over_{MODEL_MAX_TOKENS}']} over {MODEL_MAX_TOKENS}"
        )


def _default_index() -> str:
    import os

    return os.environ.get("TRIPSEARCH_INDEX", "index")


def _index_target(ctx: click.Context, param: click.Parameter, value: str):
    """``--index``: a folder (a Path), or ``milvus://HOST:PORT/NAME`` kept as text (a Path would lose a slash)."""
    from tripsearch.store.targets import index_target

    return index_target(value)


index_option = click.option(
    "--index",
    "index_dir",
    default=_default_index,
    callback=_index_target,
    show_default="index/ or $TRIPSEARCH_INDEX",
    help="Index folder, or milvus://HOST:PORT/NAME for an index on a Milvus server.",
)


@main.command()
@click.argument("posts_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@index_option
@click.option(
    "--model", default=None, help="A sentence-transformers model folder or name (default all-MiniLM-L6-v2, bundled)."
)
@click.option("--rebuild", is_flag=True, help="Re-embed everything, e.g. to switch models.")
@click.option("--wait", type=float, default=0.0, help="Seconds to wait for another indexer to finish.")
def index(posts_dir: Path, index_dir: Path | str, model: str | None, rebuild: bool, wait: float) -> None:
    """Build or update the index of POSTS_DIR (only what changed is redone).

    Prints each post indexed with a warning and each file skipped, then a summary. Exits 2 when POSTS_DIR has
    no post files, or none of them could be indexed; a run that indexed at least one post exits 0.
    """
    from tqdm import tqdm

    from tripsearch.errors import BadInput
    from tripsearch.posts.reader import POST_SUFFIXES, post_files
    from tripsearch.store.targets import update_target

    if not post_files(posts_dir):  # checked first: an empty folder must not replace an index with nothing
        raise BadInput(f"no {'/'.join(POST_SUFFIXES)} files in {posts_dir}")

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
        report = update_target(posts_dir, index_dir, model=model, rebuild=rebuild, progress=progress, lock_wait=wait)
    finally:
        if bar is not None:
            bar.close()  # first, so an error starts on a line of its own
    if report.encoder_status:
        click.echo(report.encoder_status, err=True)
    print_warnings((w.path, w.message) for w in report.warned)
    for skipped in report.skipped:
        kept = " (kept the indexed version)" if skipped.path in report.kept_previous else ""
        click.secho(f"skipped {skipped.path}: {skipped.reason}{kept}", fg="yellow", err=True)
    click.echo(report.summary())
    if not report.posts:
        raise BadInput(f"no post in {posts_dir} could be indexed ({len(report.skipped)} files skipped, see above)")


def _read_queries(queries: tuple[str, ...]) -> list[str]:
    if queries:
        return list(queries)
    if sys.stdin is None or sys.stdin.isatty():
        raise click.UsageError("give a question, or questions one per line on stdin")
    return [line.strip() for line in sys.stdin if line.strip()]


def _open_index(index_dir: Path | str):
    from tripsearch import Index

    return Index.open(index_dir)


def _date_value(ctx: click.Context, param: click.Parameter, value: str | None):
    """``--since``/``--until``: a date written in full, or a usage error naming the option."""
    if value is None:
        return None
    from tripsearch.posts.dates import BadDate, parse_date

    try:
        return parse_date(value)
    except BadDate as exc:
        raise click.BadParameter(str(exc)) from None


def filter_options(func):
    for option in reversed(
        [
            click.option("--author", default=None, help="Only posts by this author (part of the name)."),
            click.option("--tag", default=None, help="Only posts with this tag or category."),
            click.option(
                "--since", default=None, callback=_date_value, help="Only posts on or after this date (YYYY-MM-DD)."
            ),
            click.option("--until", default=None, callback=_date_value, help="Only posts on or before this date."),
            click.option("--post", default=None, help="Only this post (its path, or part of it)."),
        ]
    ):
        func = option(func)
    return func


@main.command()
@click.argument("queries", nargs=-1)
@index_option
@click.option("-k", "k", type=click.IntRange(1, 1000), default=5, show_default=True, help="How many passages.")
@click.option(
    "--mode",
    type=click.Choice([mode.value for mode in SearchMode]),
    default=SearchMode.HYBRID.value,
    show_default=True,
    help=mode_help(),
)
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


@main.command()
@index_option
def verify(index_dir) -> None:
    """Check every file of the live index against its checksum. Opening checks only headers, sizes and counts
    of an index over 64 MB; this reads every byte (exit 3 naming the file that does not match)."""
    idx = _open_index(index_dir)
    checked = idx.verify()
    click.echo(f"{idx.generation}: {len(idx.manifest.files)} files, {checked:,} bytes, every checksum matches")


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


@main.command()
@click.argument("questions", nargs=-1)
@index_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=3, show_default=True, help="Supporting passages.")
@filter_options
@click.option("--cross-encoder", default=None, help="A sentence-transformers CrossEncoder folder to rerank with.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question (with its signals).")
@click.option("--explain", is_flag=True, help="Print the signals and why it answered or abstained.")
def ask(questions, index_dir, k, author, tag, since, until, post, cross_encoder, as_json, explain) -> None:
    """Answer QUESTIONS from the reports, with citations; says so when the reports don't."""
    _answer_each(
        questions,
        index_dir,
        as_json,
        run=lambda idx, q: idx.ask(
            q, k=k, author=author, tag=tag, since=since, until=until, post=post, cross_encoder=cross_encoder
        ),
        to_json=lambda q, answer: answer_dict(answer),
        show=lambda answer: print_answer(answer, explain),
    )


@main.command(name="eval")
@click.argument(
    "questions_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@index_option
@click.option(
    "--mode",
    "modes",
    # "rerank" is evaluate.crossval.ASK_MODE: the passage order of Index.ask (imported only when eval runs)
    type=click.Choice([*(mode.value for mode in SearchMode), "rerank", "all"]),
    default="hybrid",
    show_default=True,
)
@click.option(
    "--folds",
    type=click.IntRange(2, None),
    default=None,
    help="Cross-validate over K folds grouped by post: per-fold figures, mean and spread.",
)
@click.option(
    "--train",
    "train_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Training-only questions (with --folds): in every training fold, never scored; "
    "e.g. benchmarks/data/train_questions.jsonl.",
)
@click.option(
    "--posts",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The posts folder, for question files whose evidence gives offsets instead of quotes.",
)
@click.option("--json", "as_json", is_flag=True)
def eval_command(**options) -> None:
    """Score search and answers on question files (the format of ../shared/eval/dev.jsonl), concatenated.

    Search figures per mode; ask figures (ask hit@1, answer sentence right) and the abstention confusion table
    from Index.ask. With --folds K, every figure is given per held-out fold with its mean and spread, and the ask
    figures use a confidence model and threshold fitted on the other folds only (evaluate.confidence_cv), with
    the --train questions added to every training fold."""
    from tripsearch.cli_eval import run_eval  # the evaluation stack loads only when eval runs

    run_eval(**options)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
