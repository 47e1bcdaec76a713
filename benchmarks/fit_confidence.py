"""Refit the shipped confidence model (``src/tripsearch/answer/confidence.json``), reproducibly, in one command:

    PYTHONPATH=src python benchmarks/fit_confidence.py --index INDEX_DIR ../shared/eval/dev.jsonl ../shared/eval/dev2.jsonl \
        --train benchmarks/data/train_questions.jsonl --posts ../shared/corpus/trip-reports

Drafts every question once with the current search and answer stage, prints the cross-validated ask figures of
the confidence model (setting, threshold and coefficients fitted only inside training folds; the same table as
``tripsearch eval --folds``), then chooses the setting by cross-validation on all questions, fits it on all of
them (the standard final refit) and writes the JSON: feature names, standardisation, coefficients, threshold,
rules, and the cross-validated figures it was shipped with; when cross-validation chose the learned sentence
ranker, its weights go to ``sentence_ranker.json`` beside it. Deterministic: the same index and questions give the
same file. Re-run it after changing search or the answer stage. ``--out -`` prints the JSON instead.
``--train``: training-only questions (ours, ``benchmarks/data/README.md``), added to every cross-validation
training fold (but for those about a held-out post) and to the final refit; the figures are those of the
evaluated files' held-out folds only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import replace
from pathlib import Path

from tripsearch import Index
from tripsearch.answer.confidence import MODEL_FILE
from tripsearch.answer.sentence_ranker import RANKER_FILE
from tripsearch.evaluate import load_question_files, load_questions
from tripsearch.evaluate import tables as t
from tripsearch.evaluate.confidence_cv import (
    _sentence_objective,
    cross_validate_confidence,
    draft_questions,
    final_model,
)
from tripsearch.evaluate.folds import folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", nargs="+", type=Path)
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", default=str(MODEL_FILE))
    parser.add_argument("--train", nargs="*", type=Path, default=[], help="training-only question files")
    parser.add_argument("--posts", type=Path, default=None, help="posts folder, for evidence given as offsets")
    args = parser.parse_args()
    questions = load_question_files(args.questions, args.posts)
    extra = load_question_files(args.train, args.posts)
    fold_list = folds(questions, args.folds)
    index = Index.open(args.index)
    drafted = draft_questions(index, [*questions, *extra])
    cv = cross_validate_confidence(fold_list, drafted, extra=extra)
    print(
        "\n".join(
            t.cv_header(
                len(questions), [(p.name, len(load_questions(p, args.posts))) for p in args.questions], fold_list
            )
        ),
        file=sys.stderr,
    )
    print("\n".join(t.cv_ask_table(cv)), file=sys.stderr)
    for f in cv.folds:
        print(f"  fold {f.fold}: chose {f.chosen} (training objective {f.train_objective:.3f})", file=sys.stderr)
    ids = [q.id for q in questions]
    for name, by_id in drafted.items():  # descriptive: every setting on all questions, before abstaining
        print(
            f"  answer setting {name}: sentence right + ask hit@1 before abstaining {_sentence_objective(ids, by_id):.3f}",
            file=sys.stderr,
        )
    model, ranker = final_model([*questions, *extra], drafted, args.folds)
    pooled = cv.pooled()
    spreads = cv.spreads()
    notes = {
        "fitted": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        "questions": [p.name for p in args.questions],
        "training_questions": [f"{p.name} ({len(extra)})" for p in args.train],
        "index_generation": index.generation.name,
        "command": "PYTHONPATH=src python benchmarks/fit_confidence.py --index INDEX "
        + " ".join(map(str, args.questions))
        + (" --train " + " ".join(map(str, args.train)) + " --posts POSTS" if args.train else ""),
        "cross_validated": {
            "folds": args.folds,
            "ask_hit1": round(spreads["ask_hit1"].mean, 4),
            "sentence_right": round(spreads["sentence_right"].mean, 4),
            "abstained_unanswerable": f"{pooled.abstained_unanswerable}/{pooled.unanswerable}",
            "abstained_answerable": f"{pooled.abstained_answerable}/{pooled.answerable}",
        },
    }
    model = model.__class__(**{**model.__dict__, "notes": notes})
    print(f"final setting {model.setting}, threshold {model.threshold:.3f}, answer {model.answer}", file=sys.stderr)
    if ranker is not None:
        ranker = replace(ranker, notes=notes)
        print(f"sentence ranker {ranker.setting}: {len(ranker.features)} features", file=sys.stderr)
    if args.out == "-":
        print(model.to_json(), end="")
        if ranker is not None:
            print(ranker.to_json(), end="")
    else:
        Path(args.out).write_text(model.to_json(), encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
        if ranker is not None:
            ranker_out = Path(args.out).with_name(RANKER_FILE.name)
            ranker_out.write_text(ranker.to_json(), encoding="utf-8")
            print(f"wrote {ranker_out}", file=sys.stderr)


if __name__ == "__main__":
    main()
