"""Question files: one JSON object per line, the format of ``../shared/eval/dev.jsonl``.

``{"id", "question", "answerable" (default true), "type" (default "other"), "answer", "evidence": [{"file", "quote"}]}``.
Unanswerable questions have ``answerable: false``; their ``answer`` may say which post comes closest.

An evidence entry may give ``"start"`` and ``"end"`` (character offsets into the post file, read as UTF-8)
instead of ``"quote"``: the quote is then read from the posts folder when the file is loaded. The project's own
training questions (``benchmarks/data/train_questions.jsonl``) are stored that way, so that no post text is
copied into the repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tripsearch.errors import BadInput


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answerable: bool
    type: str
    answer: str
    evidence: tuple[tuple[str, str], ...]  # (file, quote)

    @property
    def posts(self) -> frozenset[str]:
        """The posts (paths relative to the posts folder) its evidence is in."""
        return frozenset(file for file, _ in self.evidence)


def _quote(entry: dict, posts: Path | None, where: str) -> str:
    """The quote of one evidence entry: given, or read from ``posts`` / file at [start:end)."""
    if "quote" in entry:
        return entry["quote"]
    if posts is None:
        raise BadInput(f"{where}: evidence gives offsets into {entry['file']}; pass the posts folder (--posts)")
    path = Path(posts) / entry["file"]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{where}: cannot read {path} for its evidence ({exc})") from None
    start, end = int(entry["start"]), int(entry["end"])
    if not 0 <= start < end <= len(text):
        raise BadInput(f"{where}: evidence offsets {start}-{end} lie outside {path} ({len(text)} characters)")
    return text[start:end]


def load_questions(path: Path | str, posts: Path | str | None = None) -> list[Question]:
    """The questions of one file, in file order. ``posts``: the posts folder, needed only for evidence given as
    offsets (see the module doc). Raises ``BadInput`` naming the file and line of a bad record."""
    questions = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
            questions.append(
                Question(
                    q["id"],
                    q["question"],
                    bool(q.get("answerable", True)),
                    q.get("type", "other"),
                    q.get("answer") or "",
                    tuple((e["file"], _quote(e, posts, f"{path}:{n}")) for e in q.get("evidence") or []),
                )
            )
        except BadInput:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"{path}:{n}: not a question record ({exc})") from None
    return questions


def load_question_files(paths, posts: Path | str | None = None) -> list[Question]:
    """Several question files, concatenated in order (``posts`` as for ``load_questions``). Ids must be unique
    across them: a repeated id would make per-question results and folds ambiguous, so it raises ``BadInput``
    naming both files."""
    questions, seen = [], {}
    for path in paths:
        for q in load_questions(path, posts):
            if q.id in seen:
                where = "twice in it" if seen[q.id] == str(path) else f"also in {seen[q.id]}"
                raise BadInput(f"{path}: question id {q.id!r} is {where}; ids must be unique across question files")
            seen[q.id] = str(path)
            questions.append(q)
    return questions
