"""Question files: one JSON object per line, the format of ``../shared/eval/dev.jsonl``.

``{"id", "question", "answerable" (default true), "type" (default "other"), "answer", "evidence": [{"file", "quote"}]}``.
Unanswerable questions have ``answerable: false``; their ``answer`` may say which post comes closest.
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


def load_questions(path: Path | str) -> list[Question]:
    """The questions of one file, in file order. Raises ``BadInput`` naming the file and line of a bad record."""
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
                    tuple((e["file"], e["quote"]) for e in q.get("evidence") or []),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"{path}:{n}: not a question record ({exc})") from None
    return questions


def load_question_files(paths) -> list[Question]:
    """Several question files, concatenated in order. Ids must be unique across them: a repeated id would make
    per-question results and folds ambiguous, so it raises ``BadInput`` naming both files."""
    questions, seen = [], {}
    for path in paths:
        for q in load_questions(path):
            if q.id in seen:
                where = "twice in it" if seen[q.id] == str(path) else f"also in {seen[q.id]}"
                raise BadInput(f"{path}: question id {q.id!r} is {where}; ids must be unique across question files")
            seen[q.id] = str(path)
            questions.append(q)
    return questions
