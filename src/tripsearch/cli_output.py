"""What the CLI prints: passages, hits and answers as JSON objects or as coloured text for a terminal.

Split from ``cli.py`` so that the commands read as commands; nothing here opens an index or loads a model.
"""

from __future__ import annotations

import click

from tripsearch.present import talks_line


def passage_dict(p, tokens: int) -> dict:
    return {
        "id": p.id,
        "ordinal": p.ordinal,
        "session_title": p.session_title,
        "heading_path": list(p.heading_path),
        "start_line": p.start_line,
        "end_line": p.end_line,
        "words": p.word_count,
        "tokens": tokens,
        "text": p.text,
    }


def print_warnings(warnings) -> None:
    """``warnings``: (post path, message) pairs, printed as ``warning PATH: message`` on stderr."""
    for path, message in warnings:
        click.secho(f"warning {path}: {message}", fg="yellow", err=True)


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
        "talks": [
            {"heading_path": list(t.heading_path), "start_line": t.start_line, "end_line": t.end_line}
            for t in hit.talks
        ],
        "text": hit.text,
    }


def highlighted(text: str, spans) -> str:
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
    if len(hit.talks) > 1:  # short talks embedded together: name each, with its own lines
        click.secho(f"    talks: {talks_line(hit)}", fg="cyan")
    for line in highlighted(hit.text, hit.highlights).splitlines():
        click.echo(f"    {line}")


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
        "explanation": list(answer.explanation),
        "signals": {name: round(value, 4) for name, value in answer.signals.items()},
    }


def print_explanation(answer) -> None:
    """``ask --explain``: why it answered or abstained, then every signal the confidence was computed from."""
    click.secho("  Why this answer?", bold=True)
    for line in answer.explanation:
        click.echo(f"    - {line}")
    if answer.signals:
        click.echo("    signals: " + ", ".join(f"{k}={v:.3g}" for k, v in answer.signals.items()))


def print_answer(answer, explain: bool = False) -> None:
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
    if explain:
        print_explanation(answer)
    for rank, hit in enumerate(answer.hits, start=1):
        print_hit(rank, hit)
