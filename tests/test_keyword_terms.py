"""Keyword terms: CJK words inside sentences, symbol-bearing terms (C++, C#, node.js), quoted phrases, NFC.

Unit tests of the term functions, then FTS5 behaviour on small real SQLite databases written by
``write_database``, then the field cases C09 (CJK) and C15 (a table) indexed with the real model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import sqlite3
import unicodedata

import pytest
from conftest import SHARED

from tripsearch.answer.features import QuestionTerms, named_terms, term_set
from tripsearch.records import Passage, PostMeta
from tripsearch.search.filters import Filters
from tripsearch.search.keyword import keyword_rows, query_terms
from tripsearch.search.terms import fts_text, term_expression, tokens, words
from tripsearch.store.database import (
    FTS_VERSION,
    FileState,
    StoredPost,
    fts_query,
    fts_version,
    load_passages,
    load_posts,
    open_database,
    write_database,
)

FIELD_CASES = SHARED / "field-cases"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


# ---- the term functions -------------------------------------------------------------------------------------
def test_cjk_runs_become_bigrams_and_glued_latin_its_own_token():
    assert tokens("随后用eBPF替换了旧的") == ["随后", "后用", "ebpf", "替换", "换了", "了旧", "旧的"]
    assert tokens("RBSとSteepを使って") == ["rbs", "と", "steep", "を使", "使っ", "って"]
    assert tokens("쿠버네티스") == ["쿠버", "버네", "네티", "티스"]  # Hangul too


def test_symbol_bearing_terms_stay_apart_from_their_plain_words():
    cpp, csharp, c = (tokens(t) for t in ("C++", "C#", "C"))
    assert len({cpp[0], csharp[0], c[0]}) == 3 and c == ["c"] and "c" not in cpp + csharp
    assert "net" not in tokens(".NET") and tokens(".NET") != tokens("NET")
    # Inner punctuation: the parts stay (phrases still match), the whole is one more token, after the text.
    node = tokens("node.js runtime")
    assert node[:3] == ["node", "js", "runtime"] and len(node) == 4
    assert tokens("service-47")[:2] == ["service", "47"] and tokens("service-47")[2] != tokens("service-470")[2]
    assert tokens("plain english words, nothing else.") == ["plain", "english", "words", "nothing", "else"]
    assert tokens("a multi-account, built-in setup") == ["a", "multi", "account", "built", "in", "setup"]
    assert words("Is C++ faster than C# on x86_64 with v1.28?") == [
        "Is", "C++", "faster", "than", "C#", "on", "x86_64", "with", "v1.28",
    ]  # fmt: skip


def test_query_terms_phrases_bigrams_and_symbols():
    assert query_terms('How does "tail sampling" work in C++?') == ["tail sampling", "work", "c++"]
    assert query_terms("告警数量") == ["告警", "警数", "数量"]
    assert query_terms("用eBPF替换") == ["ebpf", "替换"]  # a lone CJK character is dropped like a lone letter
    assert query_terms('an unpaired " quote') == ["unpaired", "quote"]
    assert query_terms("C") == ["c"]  # nothing else to search for: the letter itself
    assert query_terms("node.js multi-account") == ["node.js", "node", "js", "multi", "account"]


def test_fts_queries_quote_every_token():
    for hostile in ['" OR x NEAR(', "a* AND NOT b", "col:term", '"', "^start", "C++ -- OR"]:
        query = fts_query(query_terms(hostile))
        if query:  # every piece is a quoted string, OR, or the prefix star of a lone CJK character
            con = sqlite3.connect(":memory:")
            con.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61 remove_diacritics 2')")
            con.execute("SELECT * FROM t WHERE t MATCH ?", (query,)).fetchall()  # no syntax error
    assert term_expression("型") == '"型" *'
    assert term_expression("!!!") is None


def test_nfd_text_and_queries_are_the_same_terms():
    assert fts_text(nfd("Café Zürich")) == "Café Zürich"
    assert query_terms(nfd("Zürich café")) == ["zürich", "café"]
    assert term_set(nfd("Die Größe")) == term_set("Die Größe")


def test_filters_compare_nfc_and_casefolded():
    meta = PostMeta(path="2023/café.md", title="t", date=None, authors=("José Müller",), tags=("kubernetes",))
    passage = _passage(meta, 0, "text")
    assert Filters.of(author=nfd("josé müller")).accepts(passage)
    assert Filters.of(author="JOSÉ").accepts(passage) and not Filters.of(author="Jose").accepts(passage)
    assert Filters.of(tag="Kubernetes").accepts(passage)
    assert Filters.of(post=nfd("café.md")).accepts(passage)
    nfd_meta = PostMeta(path=nfd("2023/café.md"), title="t", date=None, authors=(nfd("José"),), tags=(nfd("ökö"),))
    nfd_passage = _passage(nfd_meta, 0, "text")
    assert Filters.of(author="josé", tag="ÖKÖ", post="café").accepts(nfd_passage)


def test_answer_terms_agree_with_the_index():
    assert named_terms("Did anyone compare C++ with Rust?") == ["C++", "Rust"]
    assert named_terms("告警数量减少了多少？") == []  # CJK runs have no case: never taken for names
    assert "eBPF" in named_terms("我们在KubeCon上听的eBPF演讲")
    assert named_terms("How does the in-browser CouchDB-style database sync?") == ["CouchDB"]
    terms = QuestionTerms("告警数量减少了多少？")
    assert terms.coverage(term_set("告警数量减少了百分之六十")) >= 0.5
    cpp = QuestionTerms("C++ templates")
    assert cpp.coverage(term_set("C templates")) == 0.5 and cpp.coverage(term_set("C++ templates")) == 1.0


# ---- FTS5 on a small real database --------------------------------------------------------------------------
def _passage(meta: PostMeta, ordinal: int, text: str, heading: str = "Talk") -> Passage:
    return Passage(f"{meta.path}#{ordinal}", meta, heading, (heading,), ordinal, 1, 2, text, f"h{ordinal}", ())


TEXTS = [
    "We rewrote the hot loop in C++ and it got four times faster.",
    "The team moved the service from C to Rust; C was too risky.",
    "Their C# code base runs on .NET with ASP.NET Core.",
    "The net result: nothing changed for the users at all.",
    "Tail latency and sampling budgets were discussed at length, then tail calls.",
    "With tail sampling the collector keeps only slow traces.",
    "山田さんはRBSとSteepを使って既存のRailsアプリに段階的に型を導入した。",
    "告警数量减少了百分之六十，值班工程师的压力明显下降。",
    "쿠버네티스 클러스터를 업그레이드했습니다.",
    "The frontend uses node.js and the build runs on x86_64 with Kubernetes v1.28.",
    "The js bundle and the node pool were resized.",
    nfd("Der Vortrag über Größenordnungen von Datenbanken in Zürich."),
]


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("fts") / "passages.sqlite"
    meta = PostMeta(path="post.md", title="Tiny conf", date=dt.date(2024, 1, 1))
    passages = [_passage(meta, i, t) for i, t in enumerate(TEXTS)]
    write_database(path, [StoredPost(meta, FileState("x", 1, 1))], passages, [])
    con = open_database(path)
    yield con
    con.close()


def _found(con, question: str) -> list[int]:
    return [row for row, _ in keyword_rows(con, question, limit=20)]


def test_fts_finds_symbol_terms_apart(tiny_db):
    assert _found(tiny_db, "C++") == [0]
    assert _found(tiny_db, "C#") == [2]
    assert _found(tiny_db, "C")[0] == 1 and 0 not in _found(tiny_db, "C")
    assert _found(tiny_db, ".NET") == [2] and _found(tiny_db, "net result")[0] == 3
    assert _found(tiny_db, "node.js")[0] == 9  # the exact identifier first, then node … js apart
    assert _found(tiny_db, "x86_64") == [9] and _found(tiny_db, "v1.28") == [9]


def test_fts_quoted_phrase_is_a_phrase(tiny_db):
    assert _found(tiny_db, '"tail sampling"') == [5]
    assert _found(tiny_db, '"node.js and"') == [9] and _found(tiny_db, '"node.js pool"') == []
    assert set(_found(tiny_db, "tail sampling")[:2]) == {4, 5}  # unquoted: either word, as before


def test_fts_cjk_words_inside_sentences(tiny_db):
    assert _found(tiny_db, "告警") == [7] and _found(tiny_db, "压力") == [7]
    assert _found(tiny_db, "Steep") == [6] and _found(tiny_db, "RBS") == [6]
    assert _found(tiny_db, "使って") == [6]  # a Japanese word in kana
    assert _found(tiny_db, "型") == [6]  # one character: a prefix of its bigrams
    assert _found(tiny_db, "클러스터") == [8]  # Korean
    assert _found(tiny_db, '"值班工程师"') == [7] and _found(tiny_db, '"工程值班"') == []


def test_fts_nfd_text_found_by_nfc_query_and_back(tiny_db):
    assert _found(tiny_db, "Größenordnungen") == [11]
    assert _found(tiny_db, nfd("Zürich Vortrag")) == [11]


def test_fts_version_is_recorded(tiny_db):
    assert fts_version(tiny_db) == FTS_VERSION


# ---- field cases, indexed with the real model ---------------------------------------------------------------
@pytest.fixture(scope="module")
def cjk_index(tmp_path_factory):
    from tripsearch import Index

    posts = FIELD_CASES / "C09-cjk" / "posts"
    if not posts.is_dir():
        pytest.skip(f"{posts}: field case not here")
    idx = Index.build(posts, tmp_path_factory.mktemp("c09") / "index")
    yield idx
    idx.close()


@pytest.mark.parametrize(
    "query, post",
    [
        ("告警", "qcon-beijing.md"),
        ("值班工程师", "qcon-beijing.md"),
        ("eBPF", "qcon-beijing.md"),
        ("iptables", "qcon-beijing.md"),
        ("灰度发布", "qcon-beijing.md"),
        ("Steep", "rubykaigi-ja.md"),
        ("しりとり", "rubykaigi-ja.md"),
        ("段階的", "rubykaigi-ja.md"),
    ],
)
def test_c09_keyword_search_finds_cjk_words_and_glued_latin(cjk_index, query, post):
    hits = cjk_index.search(query, k=3, mode="keyword")
    assert hits and hits[0].path == post and query in hits[0].text, (query, hits[:1])
    assert all(query in h.text for h in hits)  # nothing that merely shares a character


def test_c09_cjk_question_is_not_unknown_words(cjk_index):
    question = "告警数量减少了多少？"
    assert cjk_index.unknown_words(named_terms(question)) == []
    content = query_terms(question)
    assert len(cjk_index.unknown_words(content)) <= len(content) // 3  # 了多, 多少: question words, not topic
    assert cjk_index.unknown_words(["C++"]) == ["C++"]


def test_c09_ask_answers_a_chinese_question(cjk_index):
    answer = cjk_index.ask("告警数量减少了多少？")
    assert not answer.abstained and "百分之六十" in answer.sentences[0].text, (answer.reason, answer.confidence)


def test_c15_quoted_identifier_ranks_its_row_first(tmp_path):
    from tripsearch import Index

    posts = FIELD_CASES / "C15-tables" / "posts"
    if not posts.is_dir():
        pytest.skip(f"{posts}: field case not here")
    idx = Index.build(posts, tmp_path / "index")
    try:
        rows = [p.text for p in idx.passages]
        assert sum("service-47 " in t for t in rows) == 1 and sum("service" in t for t in rows) > 1
        for query in ('"service-47"', "service-47"):
            hits = idx.search(query, k=3, mode="keyword")
            assert hits and "service-47 " in hits[0].text, query
            assert all("service-47 " not in h.text for h in hits[1:])
    finally:
        idx.close()


def test_an_index_of_an_older_fts_version_is_rewritten_without_embedding(cjk_index, tmp_path):
    """A database written before FTS_VERSION (raw text in the FTS rows) is rewritten by the next update."""
    from tripsearch.build import update_index
    from tripsearch.store import generations as gen
    from tripsearch.store.database import DB_FILE

    index_dir = shutil.copytree(cjk_index.index_dir, tmp_path / "index")
    generation = next(index_dir.glob("gen-*"))
    con = sqlite3.connect(generation / DB_FILE)
    con.execute("PRAGMA user_version = 0")
    con.commit()
    con.close()
    manifest = gen.read_manifest(generation, verify=False)
    manifest.files[DB_FILE] = gen.sha256(generation / DB_FILE)
    (generation / gen.MANIFEST).write_text(json.dumps(dataclasses.asdict(manifest)))
    report = update_index(FIELD_CASES / "C09-cjk" / "posts", index_dir)
    assert not report.nothing_changed and report.embedded == 0 and not report.model_loaded
    con = open_database(gen.current_generation(index_dir) / DB_FILE)
    try:
        assert fts_version(con) == FTS_VERSION
        assert len(load_passages(con, load_posts(con))) == len(cjk_index.passages)
    finally:
        con.close()
