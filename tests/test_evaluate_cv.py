"""Cross-validated evaluation: folds grouped by post, the answer-sentence rule, the tuning hook, and `eval --folds`."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import dataclass

import pytest
from conftest import SAMPLE_QUESTIONS, SHARED

from tripsearch.errors import BadInput
from tripsearch.evaluate import answer_sentence_right, load_question_files, load_questions, sentence_right
from tripsearch.evaluate.crossval import Candidate, QuestionResult, cross_validate, cross_validate_scored
from tripsearch.evaluate.folds import folds, posts_of
from tripsearch.evaluate.questions import Question

DEV_FILES = [SHARED / "eval" / "dev.jsonl", SHARED / "eval" / "dev2.jsonl"]


def q(qid: str, *files: str, answerable: bool = True, answer: str = "", qtype: str = "topic") -> Question:
    return Question(qid, f"question {qid}?", answerable, qtype, answer, tuple((f, f"quote in {f}") for f in files))


def handmade() -> list[Question]:
    return [
        q("a1", "a.md"),
        q("a2", "a.md", "b.md"),  # joins a and b
        q("b1", "b.md"),
        q("c1", "c.md"),
        q("c2", "c.md"),
        q("d1", "d.md"),
        q("e1", "e.md"),
        q("f1", "f.md"),
        q("u1", answerable=False, qtype="unanswerable"),
        q("u2", answerable=False, qtype="unanswerable", answer="Unanswerable: closest is d.md, which has no number."),
        q("u3", answerable=False, qtype="unanswerable"),
        q("u4", answerable=False, qtype="unanswerable"),
    ]


def assert_no_post_in_two_folds(fold_list) -> None:
    where: dict[str, int] = {}
    for i, fold in enumerate(fold_list):
        for question in fold:
            for post in posts_of(question):
                assert where.setdefault(post, i) == i, f"{post} is in folds {where[post]} and {i}"


def fold_ids(fold_list) -> list[set[str]]:
    return [{x.id for x in fold} for fold in fold_list]


def test_folds_group_questions_by_post_and_spread_the_rest():
    questions = handmade()
    fold_list = folds(questions, 3)
    assert sorted(x.id for fold in fold_list for x in fold) == sorted(x.id for x in questions)
    assert_no_post_in_two_folds(fold_list)
    ids = fold_ids(fold_list)
    together = [s for s in ids if "a1" in s][0]
    assert {"a1", "a2", "b1"} <= together  # union-find through the two-post question
    assert "u2" in [s for s in ids if "d1" in s][0]  # an unanswerable question joins the post its answer names
    # balanced: three groups of one unanswerable question without a post land in three different folds
    assert sorted(sum(x in s for x in ("u1", "u3", "u4")) for s in ids) == [1, 1, 1]
    assert max(map(len, fold_list)) - min(map(len, fold_list)) <= 3  # the largest group has 3 questions


def test_folds_are_deterministic_whatever_the_input_order():
    questions = handmade()
    shuffled = questions[:]
    random.Random(7).shuffle(shuffled)
    assert fold_ids(folds(questions, 4)) == fold_ids(folds(shuffled, 4))
    assert [x.id for x in folds(questions, 4)[0]] == [
        x.id for x in questions if x.id in fold_ids(folds(questions, 4))[0]
    ]


def test_folds_reject_impossible_k():
    with pytest.raises(BadInput, match="at least 2"):
        folds(handmade(), 1)
    with pytest.raises(BadInput, match="groups by post"):
        folds([q("a1", "a.md"), q("a2", "a.md"), q("b1", "b.md")], 3)


def test_dev_folds_never_share_a_post():
    if not all(p.is_file() for p in DEV_FILES):
        pytest.skip(f"the dev question files are not here ({DEV_FILES[0].parent})")
    questions = load_question_files(DEV_FILES)
    assert len(questions) == 122
    for k in range(2, 11):
        fold_list = folds(questions, k)
        assert_no_post_in_two_folds(fold_list)
        assert sum(map(len, fold_list)) == len(questions)
        assert max(map(len, fold_list)) - min(map(len, fold_list)) <= 2
        unanswerable = [sum(not x.answerable for x in fold) for fold in fold_list]
        assert max(unanswerable) - min(unanswerable) <= 1


@dataclass(frozen=True)
class _Cite:
    path: str


@dataclass(frozen=True)
class _Sentence:
    text: str
    citation: _Cite


@dataclass(frozen=True)
class _Answer:
    sentences: tuple
    abstained: bool


QUOTE = "The team cut the median cold start from 6.2 seconds to 400 milliseconds with SnapStart and a smaller jar."


def test_answer_sentence_right_rule():
    # inside a quote, holding one, sharing a run of 60 % of the shorter one: right
    assert sentence_right("They cut the median cold start from 6.2 seconds to 400 milliseconds.", QUOTE)
    assert sentence_right(f"In short: {QUOTE} Everyone clapped loudly at the end of it all.", QUOTE)
    six_of_ten = "Oddly the median cold start from 6.2 seconds was wrong here"  # 10 words, a run of 6 shared
    assert sentence_right(six_of_ten, QUOTE)
    five_of_ten = "Oddly the median cold start from nine seconds was wrong here"  # a run of 5 of 10: below 60 %
    assert not sentence_right(five_of_ten, QUOTE)
    assert sentence_right("the **median** cold start from 6.2 seconds to 400 milliseconds", f"[{QUOTE}](https://x.org)")
    question = Question("x", "?", True, "factoid", "", (("post.md", QUOTE),))
    right = _Sentence("They cut the median cold start from 6.2 seconds to 400 milliseconds.", _Cite("post.md"))
    assert answer_sentence_right(_Answer((right,), False), question)
    assert not answer_sentence_right(_Answer((right,), True), question)  # an abstention is wrong
    assert not answer_sentence_right(_Answer((), True), question)
    elsewhere = _Sentence(right.text, _Cite("other.md"))
    assert not answer_sentence_right(_Answer((elsewhere,), False), question)  # the same words from another post


def test_question_files_need_unique_ids(tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    one.write_text('{"id": "x1", "question": "a?"}\n{"id": "x2", "question": "b?"}\n', encoding="utf-8")
    two.write_text('{"id": "x2", "question": "c?"}\n', encoding="utf-8")
    assert [x.id for x in load_question_files([one])] == ["x1", "x2"]
    with pytest.raises(BadInput, match=r"two\.jsonl.*'x2'.*one\.jsonl"):
        load_question_files([one, two])


def _fake_run(index, question: Question, settings) -> QuestionResult:
    """A candidate that finds the answer at rank ``settings[question's post]`` (default: not at all)."""
    post = next(iter(sorted(posts_of(question))), "")
    rank = settings.get(post) if question.answerable else None
    return QuestionResult(question.id, question.type, question.answerable, question.answerable, rank, 100.0)


def test_cross_validate_chooses_on_the_other_folds_and_never_trains_on_a_held_out_post():
    questions = handmade()
    if all(p.is_file() for p in DEV_FILES):
        questions += load_question_files(DEV_FILES)
    posts = {p for x in questions for p in posts_of(x)}
    good = Candidate("good", dict.fromkeys(posts, 1))
    bad = Candidate("bad", dict.fromkeys(posts, 3))
    fold_list = folds(questions, 5)
    seen: list[set[str]] = []

    def objective(results) -> float:
        seen.append({r.id for r in results})
        ranks = [r.rank for r in results if r.retrieved]
        return sum(1 / r for r in ranks if r) / max(len(ranks), 1)

    scored = {c.name: {x.id: _fake_run(None, x, c.settings) for x in questions} for c in (bad, good)}
    cv = cross_validate_scored(fold_list, scored, objective)
    assert [f.chosen for f in cv.folds] == ["good"] * 5
    ids_by_fold = fold_ids(fold_list)
    post_of_id = {x.id: posts_of(x) for x in questions}
    for i, f in enumerate(cv.folds):
        assert set(f.held_out) == ids_by_fold[i]
        trained = seen[2 * i] | seen[2 * i + 1]  # the objective saw only the other folds' questions
        assert trained == {x.id for x in questions} - ids_by_fold[i]
        trained_posts = {p for qid in trained for p in post_of_id[qid]}
        held_posts = {p for qid in f.held_out for p in post_of_id[qid]}
        assert not trained_posts & held_posts
    assert cv.pooled().hit1 == 1.0 and cv.spreads()["hit1"].std == 0.0

    # Ties go to the first candidate (today's default), and cross_validate runs each candidate once per question.
    calls = []

    def counting_run(index, question, settings):
        calls.append((question.id, settings is good.settings))
        return _fake_run(index, question, settings)

    twin = Candidate("twin", good.settings)
    cv = cross_validate(None, questions, 4, [good, twin], run=counting_run)
    assert [f.chosen for f in cv.folds] == ["good"] * 4
    assert len(calls) == 2 * len(questions)


def _eval(sample_index_dir, *args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tripsearch", "eval", str(SAMPLE_QUESTIONS), "--index", str(sample_index_dir), *args]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_cli_eval_folds_prints_per_fold_mean_and_confusion(sample_index_dir):
    out = _eval(sample_index_dir, "--folds", "3", "--mode", "all")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for mode in ("hybrid", "dense", "keyword", "hybrid-rrf", "rerank"):
        assert f"mode {mode} — search" in text
    assert "3 folds grouped by post" in text
    ask = text[text.index("ask — Index.ask") :]
    lines = ask.splitlines()
    assert [line.split()[0] for line in lines[2:9]] == ["1", "2", "3", "mean", "std", "min", "max"]
    confusion = text[text.index("abstention confusion table") :].splitlines()
    answerable = confusion[2].split()
    unanswerable = confusion[3].split()
    questions = load_questions(SAMPLE_QUESTIONS)
    assert answerable[0] == "answerable" and int(answerable[3]) == sum(x.answerable for x in questions)
    assert unanswerable[0] == "unanswerable" and int(unanswerable[3]) == sum(not x.answerable for x in questions)

    data = json.loads(_eval(sample_index_dir, "--folds", "3", "--mode", "all", "--json").stdout)
    assert sorted(qid for fold in data["folds"] for qid in fold) == sorted(x.id for x in questions)
    hybrid = data["modes"]["hybrid"]
    per_fold = [f["figures"]["hit1"] for f in hybrid["per_fold"]]
    assert len(per_fold) == 3
    assert hybrid["spread"]["hit1"]["mean"] == pytest.approx(sum(per_fold) / 3, abs=1e-3)
    answerable_row = data["ask"]["confusion"]["answerable"]
    assert answerable_row["answered"] + answerable_row["abstained"] == sum(x.answerable for x in questions)
    assert set(hybrid["spread_by_type"]) == {x.type for x in questions}

    # Without folds: today's figures, and each question held out once gives the same pooled figures.
    plain = json.loads(_eval(sample_index_dir, "--mode", "all", "--json").stdout)
    modes = {r["mode"]: r for r in plain["retrieval"]}
    for mode in ("hybrid", "rerank"):
        assert data["modes"][mode]["all_folds"]["hit1"] == modes[mode]["overall"]["hit1"]
        assert data["modes"][mode]["all_folds"]["mrr10"] == modes[mode]["overall"]["mrr10"]
    # The ask figures differ on purpose: with folds, the confidence model and its threshold are fitted on the
    # other folds only (evaluate.confidence_cv); without, the shipped model decides. The questions are the same.
    for kind in ("answerable", "unanswerable"):
        assert sum(plain["answers"]["confusion"][kind].values()) == sum(data["ask"]["confusion"][kind].values())


def test_cli_eval_folds_of_the_ask_mode_alone(sample_index_dir):
    # --mode rerank scores nothing but the drafts: it used to fail with "candidates need distinct names, got []".
    out = _eval(sample_index_dir, "--folds", "3", "--mode", "rerank")
    assert out.returncode == 0, out.stderr
    assert "mode rerank — search" in out.stdout and "mode hybrid — search" not in out.stdout
    assert "ask — Index.ask" in out.stdout


def test_cli_eval_without_folds_keeps_todays_output(sample_index_dir):
    out = _eval(sample_index_dir)
    assert out.returncode == 0, out.stderr
    assert "mode hybrid" in out.stdout and "  overall " in out.stdout
    assert "top answer sentence overlaps an evidence quote" in out.stdout
    assert "answer sentence right" in out.stdout and "abstention confusion table" in out.stdout


def test_cli_eval_bad_inputs_are_one_line_errors(sample_index_dir, tmp_path):
    out = _eval(sample_index_dir, str(SAMPLE_QUESTIONS))  # the same file twice: every id repeats
    assert out.returncode == 2 and "ids must be unique" in out.stderr and "Traceback" not in out.stderr
    out = _eval(sample_index_dir, "--folds", "50")
    assert out.returncode == 2 and "groups by post" in out.stderr and "Traceback" not in out.stderr


def test_evidence_given_as_offsets_is_read_from_the_posts_folder(tmp_path):
    posts = tmp_path / "posts"
    posts.mkdir()
    text = "# Day 1\n\nThe keynote ran long. Kafka moved to KRaft — finally.\n"
    (posts / "p.md").write_text(text, encoding="utf-8")
    start = text.index("Kafka")
    end = text.index("finally.") + len("finally.")
    qfile = tmp_path / "train.jsonl"
    record = {
        "id": "t1",
        "question": "What did Kafka move to?",
        "evidence": [{"file": "p.md", "start": start, "end": end}],
    }
    qfile.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    assert load_questions(qfile, posts)[0].evidence == (("p.md", "Kafka moved to KRaft — finally."),)
    with pytest.raises(BadInput, match=r"train\.jsonl:1: evidence gives offsets into p\.md; pass the posts folder"):
        load_questions(qfile)
    record["evidence"][0]["end"] = len(text) + 5
    qfile.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"train\.jsonl:1: evidence offsets .* lie outside"):
        load_questions(qfile, posts)


def test_training_questions_about_a_held_out_post_are_left_out():
    from tripsearch.evaluate.folds import apart_from

    held = [q("a1", "blog/a.md"), q("u2", answerable=False, qtype="unanswerable", answer="Closest is d.md.")]
    extra = [
        q("x1", "a.md"),  # the same post, named without its folder
        q("x2", "b.md"),
        q("x3", "d.md"),  # the post the held-out unanswerable question names
        q("x4", answerable=False, qtype="unanswerable", answer="Unanswerable: closest is a.md."),
        q("x5", answerable=False, qtype="unanswerable", answer="Unanswerable: closest is e.md."),
    ]
    assert [x.id for x in apart_from(held, extra)] == ["x2", "x5"]


def test_cli_eval_trains_on_extra_questions_only_inside_folds(sample_index_dir, tmp_path):
    # Training-only questions: counted in no figure, and refused without --folds or with a clashing id.
    questions = load_questions(SAMPLE_QUESTIONS)
    extra = tmp_path / "train.jsonl"
    lines = [
        {**vars(x), "id": f"t-{x.id}", "evidence": [{"file": f, "quote": quote} for f, quote in x.evidence]}
        for x in questions
    ]
    extra.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    out = _eval(sample_index_dir, "--folds", "3", "--mode", "rerank", "--train", str(extra))
    assert out.returncode == 0, out.stderr
    assert f"+ {len(questions)} training-only questions (train.jsonl)" in out.stdout
    confusion = out.stdout[out.stdout.index("abstention confusion table") :].splitlines()
    assert int(confusion[2].split()[3]) + int(confusion[3].split()[3]) == len(questions)  # extras never scored
    out = _eval(sample_index_dir, "--train", str(extra))
    assert out.returncode == 2 and "give --folds K too" in out.stderr and "Traceback" not in out.stderr
    out = _eval(sample_index_dir, "--folds", "3", "--train", str(SAMPLE_QUESTIONS))
    assert out.returncode == 2 and "in both the evaluated and the --train files" in out.stderr
