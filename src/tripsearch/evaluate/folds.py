"""K folds of a question set, grouped by post, so that what is tuned on some posts is scored on others.

Questions about one post never sit in two folds: questions are grouped by the posts of their evidence, and a
question with evidence in several posts joins those posts' groups into one (union-find). An unanswerable
question has no evidence, but its ``answer`` often names the post that comes closest (a near miss about that
post); the post files it names join it to that post's group the same way. The rest, unanswerable questions that
name no post, are groups of one.

Groups are placed largest first (ties by their smallest question id) into the fold where they add least to the
sum of squares of the folds' answerable and unanswerable counts, so folds come out balanced in size and in their
share of unanswerable questions. Nothing is random: the same questions and K always give the same folds,
whatever the input order.
"""

from __future__ import annotations

import re

from tripsearch.errors import BadInput
from tripsearch.evaluate.questions import Question

# A post file named in an unanswerable question's ``answer`` ("Closest is zerokspot__32c3.md (...)").
POST_FILE = re.compile(r"[\w.@+-]+\.(?:md|markdown)\b")


def posts_of(question: Question) -> set[str]:
    """The posts a question is about: its evidence files, or for an unanswerable one the post files its answer
    names (compared by file name, so a name without its folder still matches)."""
    if question.evidence:
        return {file for file, _ in question.evidence}
    if question.answerable:
        return set()
    return set(POST_FILE.findall(question.answer))


def _key(file: str) -> str:
    return file.rsplit("/", 1)[-1]


def post_groups(questions: list[Question]) -> list[list[int]]:
    """Positions in ``questions``, in connected groups: two questions share a group when they share a post
    (transitively). Groups and their members are in input order."""
    parent = list(range(len(questions)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, q in enumerate(questions):
        for post in posts_of(q):
            j = owner.setdefault(_key(post), i)
            parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(questions)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def folds(questions: list[Question], k: int = 5) -> list[list[Question]]:
    """``k`` folds of ``questions`` (each in input order), no post's questions in two folds.

    Raises ``BadInput`` when ``k`` < 2 or there are fewer groups of questions than folds."""
    if k < 2:
        raise BadInput(f"--folds must be at least 2, not {k}")
    groups = post_groups(questions)
    if len(groups) < k:
        raise BadInput(f"{k} folds asked, but the {len(questions)} questions form only {len(groups)} groups by post")
    groups.sort(key=lambda g: (-len(g), min(questions[i].id for i in g)))
    answerable, unanswerable = [0] * k, [0] * k
    fold_of: dict[int, int] = {}
    for group in groups:
        ga = sum(questions[i].answerable for i in group)
        gu = len(group) - ga
        # Adding (ga, gu) to fold f raises the sum of squares by 2·(a_f·ga + u_f·gu) + const: pick the least.
        f = min(range(k), key=lambda f: (answerable[f] * ga + unanswerable[f] * gu, answerable[f] + unanswerable[f], f))
        answerable[f] += ga
        unanswerable[f] += gu
        for i in group:
            fold_of[i] = f
    out: list[list[Question]] = [[] for _ in range(k)]
    for i, q in enumerate(questions):
        out[fold_of[i]].append(q)
    return out


def apart_from(held: list[Question], extra: list[Question]) -> list[Question]:
    """The questions of ``extra`` (training-only questions, never scored) that share no post with ``held``: a
    training question about a held-out post would teach the model about the very report it is scored on."""
    held_posts = {_key(post) for q in held for post in posts_of(q)}
    return [q for q in extra if not {_key(post) for post in posts_of(q)} & held_posts]
