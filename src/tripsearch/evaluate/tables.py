"""What ``tripsearch eval`` prints: text tables and JSON, with folds (cross-validated) and without."""

from __future__ import annotations

from collections.abc import Sequence

from tripsearch.evaluate.crossval import ASK_MODE, CVResult, Figures, Spread, figures_by_type, figures_of

SEARCH = (("hit@1", "hit1"), ("R@5", "recall5"), ("R@10", "recall10"), ("MRR@10", "mrr10"))
ASK = (("ask hit@1", "ask_hit1"), ("sentence right", "sentence_right"))
DASH = "-"
# The mean/std/min/max rows of the ask table: rates behind its columns (abstained: the share of each kind).
RATE_COLUMNS = ("ask_hit1", "sentence_right", "abstain_unanswerable", "abstain_answerable")


def _num(value: float | None, width: int = 6) -> str:
    return f"{value:>{width}.3f}" if value is not None else f"{DASH:>{width}}"


def _pm(s: Spread | None) -> str:
    return f"{s.mean:.3f} ± {s.std:.3f}" if s is not None else DASH


def _ratio(x: int, n: int) -> str:
    return f"{x} / {n}" if n else DASH


# -- cross-validated -------------------------------------------------------------------------------------------


def cv_header(questions: int, files: Sequence[tuple[str, int]], fold_list) -> list[str]:
    """The question files and the folds' sizes."""
    answerable = sum(q.answerable for fold in fold_list for q in fold)
    sizes = "  ".join(
        f"{i}: {sum(q.answerable for q in fold)}+{sum(not q.answerable for q in fold)}"
        for i, fold in enumerate(fold_list, start=1)
    )
    return [
        f"{questions} questions ({', '.join(f'{name} {n}' for name, n in files)}): {answerable} answerable, "
        f"{questions - answerable} unanswerable; {len(fold_list)} folds grouped by post",
        f"  fold sizes, answerable+unanswerable: {sizes}",
        "  figures are those of each held-out fold; mean ± sample std (and min, max) across folds",
    ]


def _stat_rows(cv: CVResult, names: Sequence[str], widths: Sequence[int], lead: int) -> list[str]:
    spreads = cv.spreads()
    rows = []
    for stat in ("mean", "std", "min", "max"):
        cells = [_num(getattr(spreads[n], stat) if spreads[n] else None, w) for n, w in zip(names, widths)]
        if names[-1] == "words" and spreads["words"]:  # words per passage: whole words are precise enough
            cells[-1] = f"{getattr(spreads['words'], stat):>{widths[-1]}.0f}"
        rows.append(f"  {stat:<{lead}}" + " ".join(cells))
    return rows


def _chosen(cv: CVResult) -> bool:
    return len({f.chosen for f in cv.folds}) > 1


def cv_search_table(mode: str, cv: CVResult) -> list[str]:
    """Per-fold search figures of one mode, their mean/std/min/max, and per question type mean ± std."""
    names, widths = [n for _, n in SEARCH] + ["words"], [6, 6, 6, 7, 6]
    chosen = _chosen(cv)
    lines = [f"mode {mode} — search, answerable questions with evidence"]
    lines.append(f"  {'fold':<6}{'n':>4} " + " ".join(f"{h:>{w}}" for (h, _), w in zip(SEARCH, widths)) + "  words")
    for f in cv.folds:
        g = f.figures
        cells = " ".join(_num(getattr(g, n), w) for n, w in zip(names[:-1], widths))
        words = f"{g.words:>7.0f}" if g.words is not None else f"{DASH:>7}"
        lines.append(f"  {f.fold:<6}{g.retrieved:>4} {cells}{words}" + (f"  chose {f.chosen}" if chosen else ""))
    lines += _stat_rows(cv, names, widths, lead=11)
    pooled = cv.pooled()
    lines.append(
        f"  {'all':<6}{pooled.retrieved:>4} "
        + " ".join(_num(getattr(pooled, n), w) for n, w in zip(names[:-1], widths))
    )
    lines.append("  by type: mean ± std over the folds holding the type (n: questions in all folds)")
    lines.append(f"  {'type':<14}{'n':>4}  " + "".join(f"{h:>17}" for h, _ in SEARCH))
    type_spreads, totals = cv.type_spreads(), figures_by_type(cv.results)
    for t, sp in type_spreads.items():
        if not totals[t].retrieved:
            continue
        lines.append(f"  {t:<14}{totals[t].retrieved:>4}  " + "".join(f"{_pm(sp[n]):>17}" for _, n in SEARCH))
    return lines


def cv_ask_table(cv: CVResult) -> list[str]:
    """Per-fold ask figures and abstention counts, mean/std/min/max, by type, and the confusion table."""
    lines = [
        "ask — Index.ask on every question (abstaining on an answerable question is a miss)",
        f"  {'fold':<6}{'ans':>4}{'unans':>6}  {'ask hit@1':>9}  {'sentence right':>14}"
        f"  {'abstained: unanswerable':>23}  {'answerable':>10}",
    ]
    for f in cv.folds:
        g = f.figures
        lines.append(
            f"  {f.fold:<6}{g.answerable:>4}{g.unanswerable:>6}  {_num(g.ask_hit1, 9)}  {_num(g.sentence_right, 14)}"
            f"  {_ratio(g.abstained_unanswerable, g.unanswerable):>23}  {_ratio(g.abstained_answerable, g.answerable):>10}"
            + (f"  chose {f.chosen}" if _chosen(cv) else "")
        )
    spreads = cv.spreads()
    for stat in ("mean", "std", "min", "max"):
        vals = [getattr(spreads[n], stat) if spreads[n] else None for n in RATE_COLUMNS]
        lines.append(f"  {stat:<16}  {_num(vals[0], 9)}  {_num(vals[1], 14)}  {_num(vals[2], 23)}  {_num(vals[3], 10)}")
    p = cv.pooled()
    lines.append(
        f"  {'all':<6}{p.answerable:>4}{p.unanswerable:>6}  {_num(p.ask_hit1, 9)}  {_num(p.sentence_right, 14)}"
        f"  {_ratio(p.abstained_unanswerable, p.unanswerable):>23}  {_ratio(p.abstained_answerable, p.answerable):>10}"
    )
    lines.append("  by type: mean ± std over the folds holding the type; abstained: all folds")
    lines.append(f"  {'type':<14}{'n':>4}  {'ask hit@1':>17}{'sentence right':>17}{'abstained':>12}")
    totals = figures_by_type(cv.results)
    for t, sp in cv.type_spreads().items():
        g = totals[t]
        n = g.answerable + g.unanswerable
        abstained = g.abstained_answerable + g.abstained_unanswerable
        lines.append(
            f"  {t:<14}{n:>4}  {_pm(sp['ask_hit1']):>17}{_pm(sp['sentence_right']):>17}{_ratio(abstained, n):>12}"
        )
    return lines + [""] + confusion_table(p, "abstention confusion table (all folds, each question held out once)")


def confusion_table(f: Figures, title: str) -> list[str]:
    c = f.confusion()
    lines = [title, f"  {'':14}{'answered':>9}{'abstained':>10}{'total':>7}"]
    for kind in ("answerable", "unanswerable"):
        row = c[kind]
        lines.append(f"  {kind:<14}{row['answered']:>9}{row['abstained']:>10}{row['answered'] + row['abstained']:>7}")
    return lines


def cv_dict(cv: CVResult) -> dict:
    """Everything of a cross-validated run, for ``--json``: per fold (with per type), spreads, pooled."""
    return {
        "per_fold": [
            {
                "fold": f.fold,
                "chosen": f.chosen,
                "train_objective": round(f.train_objective, 4),
                "held_out": list(f.held_out),
                "figures": f.figures.as_dict(),
                "confusion": f.figures.confusion(),
                "by_type": {t: g.as_dict() for t, g in f.by_type.items()},
            }
            for f in cv.folds
        ],
        "spread": {n: s.as_dict() if s else None for n, s in cv.spreads().items()},
        "spread_by_type": {
            t: {n: s.as_dict() if s else None for n, s in sp.items()} for t, sp in cv.type_spreads().items()
        },
        "all_folds": cv.pooled().as_dict(),
        "all_folds_by_type": {t: g.as_dict() for t, g in figures_by_type(cv.results).items()},
        "confusion": cv.pooled().confusion(),
    }


def cv_json(files: Sequence[tuple[str, int]], fold_list, modes: Sequence[str], cvs: dict[str, CVResult]) -> dict:
    """``eval --folds --json``: the files, the folds' question ids, each mode's ``cv_dict`` and the ask run's."""
    return {
        "questions": sum(n for _, n in files),
        "files": dict(files),
        "folds": [[q.id for q in fold] for fold in fold_list],
        "modes": {m: cv_dict(cvs[m]) for m in modes},
        "ask": cv_dict(cvs[ASK_MODE]),
    }


# -- without folds: today's output, plus the ask figures --------------------------------------------------------


def search_table(mode: str, results) -> list[str]:
    lines = [f"mode {mode}", f"  {'':14} {'n':>3} {'hit@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'words':>6}"]
    overall = figures_of(results)
    for name, s in [("overall", overall), *figures_by_type(results).items()]:
        if name != "overall" and not s.retrieved:
            continue
        words = f"{s.words:>6.0f}" if s.words is not None else f"{DASH:>6}"
        lines.append(
            f"  {name:14} {s.retrieved:>3} {_num(s.hit1)} {_num(s.recall5)} {_num(s.recall10)} {_num(s.mrr10, 7)} {words}"
        )
    return lines


def answers_table(results) -> list[str]:
    a = figures_of(results)
    lines = [
        "answers",
        f"  top answer sentence overlaps an evidence quote: {_num(a.top_overlaps, 0)} of {a.answerable} answerable",
        f"  abstained on {a.abstained_unanswerable} of {a.unanswerable} unanswerable, "
        f"{a.abstained_answerable} of {a.answerable} answerable",
        f"  ask hit@1 (top supporting passage holds an evidence quote; abstaining is a miss): {_num(a.ask_hit1, 0)}",
        f"  answer sentence right (first sentence inside, holding, or a 60% run of a quote; abstaining is wrong): "
        f"{_num(a.sentence_right, 0)}",
        f"  {'type':<14}{'n':>4}  {'ask hit@1':>9}  {'sentence right':>14}  {'abstained':>10}",
    ]
    for t, g in figures_by_type(results).items():
        n = g.answerable + g.unanswerable
        abstained = g.abstained_answerable + g.abstained_unanswerable
        lines.append(
            f"  {t:<14}{n:>4}  {_num(g.ask_hit1, 9)}  {_num(g.sentence_right, 14)}  {_ratio(abstained, n):>10}"
        )
    return lines + [""] + confusion_table(a, "abstention confusion table")


def retrieval_dict(mode: str, results) -> dict:
    """Today's JSON shape of one mode's search figures (``Scores.as_dict``)."""

    def scores(f: Figures) -> dict:
        return {
            "n": f.retrieved,
            **{n: round(getattr(f, n) or 0.0, 4) for n in ("hit1", "recall5", "recall10", "mrr10", "words")},
        }

    by_type = {t: scores(f) for t, f in figures_by_type(results).items() if f.retrieved}
    return {"mode": mode, "overall": scores(figures_of(results)), "by_type": by_type}


def plain_json(modes: Sequence[str], results: dict[str, list]) -> dict:
    """``eval --json`` without folds: today's shape (``retrieval``, ``answers``), the answers with the ask figures."""
    return {
        "retrieval": [retrieval_dict(m, results[m]) for m in modes],
        "answers": answers_dict(results[ASK_MODE]),
    }


def answers_dict(results) -> dict:
    a = figures_of(results)
    return {
        "answerable": a.answerable,
        "unanswerable": a.unanswerable,
        "top_sentence_correct": round(a.top_overlaps or 0.0, 4),
        "abstained_answerable": a.abstained_answerable,
        "abstained_unanswerable": a.abstained_unanswerable,
        "ask_hit1": a.ask_hit1,
        "sentence_right": a.sentence_right,
        "confusion": a.confusion(),
        "by_type": {t: g.as_dict() for t, g in figures_by_type(results).items()},
    }
