"""The ``tripsearch eval`` command's work: score question files, with or without cross-validation.

Split from ``cli.py`` (which keeps the command's options and help) so that the commands there read as commands.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from tripsearch import Index
from tripsearch.errors import BadInput
from tripsearch.evaluate import load_question_files, load_questions
from tripsearch.evaluate import tables as t
from tripsearch.evaluate.crossval import ASK_MODE, Candidate, cross_validate_scored, score_candidates
from tripsearch.evaluate.folds import folds as make_folds
from tripsearch.search.modes import SearchMode


def run_eval(
    questions_files,
    index_dir: Path | str,
    modes: str,
    folds: int | None,
    train_files: tuple[Path, ...],
    posts: Path | None,
    as_json: bool,
) -> None:
    """``tripsearch eval`` (see its help in ``cli.py``): prints the tables, or JSON with ``as_json``. Raises
    ``BadInput`` for bad question files, ``--train`` without ``--folds`` or an id in both kinds of file."""
    if train_files and not folds:
        raise BadInput("--train adds training questions to cross-validation folds: give --folds K too")
    questions = load_question_files(questions_files, posts)
    extra = load_question_files(train_files, posts)
    if clash := {q.id for q in questions} & {q.id for q in extra}:
        raise BadInput(f"question id {sorted(clash)[0]!r} is in both the evaluated and the --train files")
    fold_list = make_folds(questions, folds) if folds else None  # bad K fails before the index is opened
    idx = Index.open(index_dir)
    chosen = [*(mode.value for mode in SearchMode), ASK_MODE] if modes == "all" else [modes]
    runs = chosen if ASK_MODE in chosen else [*chosen, ASK_MODE]  # the ask run gives the answer figures

    def progress(name: str, done: int, total: int) -> None:
        if done == total:
            click.echo(f"scored {total} questions: {name}", err=True)

    if folds:
        # The ask figures come from drafts (each question answered once, no decision) and the confidence model
        # fitted only inside each training fold: the shipped model was fitted on these very questions.
        from tripsearch.evaluate.confidence_cv import cross_validate_confidence, draft_questions

        runs = [m for m in runs if m != ASK_MODE]
    # With --folds and --mode rerank alone, no search-only run is left: the drafts below give everything.
    scored = score_candidates(idx, questions, [Candidate(m, m) for m in runs], progress=progress) if runs else {}
    if not folds:
        results = {m: [scored[m][q.id] for q in questions] for m in runs}
        if as_json:
            click.echo(json.dumps(t.plain_json(chosen, results), indent=2))
            return
        for m in chosen:
            click.echo("")
            click.echo("\n".join(t.search_table(m, results[m])))
        click.echo("")
        click.echo("\n".join(t.answers_table(results[ASK_MODE])))
        return
    drafted = draft_questions(idx, [*questions, *extra])
    progress(ASK_MODE, len(questions), len(questions))
    # Passage order of ask, for the search table (the same under every answer setting).
    scored[ASK_MODE] = {qid: d.result for qid, d in next(iter(drafted.values())).items()}
    cvs = {m: cross_validate_scored(fold_list, {m: scored[m]}) for m in runs}
    cvs[ASK_MODE] = cross_validate_confidence(fold_list, drafted, extra=extra)
    files = [(p.name, len(load_questions(p, posts))) for p in questions_files]
    if as_json:
        click.echo(json.dumps(t.cv_json(files, fold_list, chosen, cvs), indent=2))
        return
    click.echo("\n".join(t.cv_header(len(questions), files, fold_list)))
    if extra:
        click.echo(f"  + {len(extra)} training-only questions ({', '.join(p.name for p in train_files)}) in every")
        click.echo("    training fold, but for those about a post of the held-out fold; never scored")
    for m in chosen:
        click.echo("")
        click.echo("\n".join(t.cv_search_table(m, cvs[m])))
    click.echo("")
    click.echo("\n".join(t.cv_ask_table(cvs[ASK_MODE])))
