"""The ``tripsearch`` command: a thin shell over the library. Heavy imports happen inside commands."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import click


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
            path = " › ".join(p.heading_path) or "(no heading)"
            click.secho(f"  [{p.ordinal}] {path}  lines {p.start_line}-{p.end_line}, {p.word_count} words", fg="cyan")
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
