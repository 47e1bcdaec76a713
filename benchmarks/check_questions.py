"""Check a question file against an index, one line per problem:

    PYTHONPATH=src python benchmarks/check_questions.py benchmarks/data/train_questions.jsonl \
        --index INDEX_DIR --posts ../shared/corpus/trip-reports

An answerable question needs evidence whose post the index holds and of which some passage holds the quote (the
rule the figures use, ``evaluate.is_answer``: otherwise it could never count as found); an unanswerable one has no
evidence and names the post that comes closest in its ``answer`` (``evaluate.folds.posts_of``: that is how folds
keep it with that post's questions). Ids are unique (``load_question_files``). Exit status 1 on any problem.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

from tripsearch import Index
from tripsearch.evaluate import holds_quote, load_question_files
from tripsearch.evaluate.folds import posts_of


def problems(questions, index: Index) -> list[str]:
    """One line per problem of ``questions`` (``Question``s) against ``index``."""
    passages = index.passages
    texts = defaultdict(list)
    for p in passages.fetch(list(range(len(passages)))):
        texts[p.post.path].append(p.text)
    known = {path.rsplit("/", 1)[-1] for path in texts}
    out = []
    for q in questions:
        if q.answerable and not q.evidence:
            out.append(f"{q.id}: answerable but gives no evidence")
        for file, quote in q.evidence:
            if file not in texts:
                out.append(f"{q.id}: the index holds no post {file}")
            elif not any(holds_quote(text, quote) for text in texts[file]):
                out.append(f"{q.id}: no passage of {file} holds the quote {quote[:50]!r}")
        if not q.answerable and (q.evidence or not posts_of(q) or not posts_of(q) <= known):
            out.append(f"{q.id}: unanswerable needs no evidence and its answer naming the closest indexed post")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", nargs="+", type=Path)
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--posts", type=Path, default=None, help="posts folder, for evidence given as offsets")
    args = parser.parse_args()
    questions = load_question_files(args.questions, args.posts)
    found = problems(questions, Index.open(args.index))
    print("\n".join(found) if found else "", end="\n" if found else "")
    kinds = Counter(q.type for q in questions)
    print(
        f"{len(questions)} questions ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}): {len(found)} problem(s)"
    )
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
