"""What the keyword index sees of a text, and the same transformation applied to a query.

SQLite's ``unicode61`` tokenizer splits only at spaces and punctuation, so three kinds of term were lost:

* Chinese, Japanese and Korean write words without spaces: ``告警数量减少了`` was one token, and no word inside
  it (``告警``) could be found, nor a Latin word glued to it (``用eBPF替换``). Each CJK run is rewritten as
  overlapping character bigrams, as Lucene's CJKAnalyzer / CJKBigramFilter does (a lone CJK character stays a
  unigram); a 2-character word is then one bigram and a longer one a phrase of bigrams. Latin text glued to a
  CJK run becomes its own token.
* Symbol-bearing terms: ``C++``, ``C#`` and ``C`` were all the token ``c``; ``.NET`` was ``net``. A term with a
  trailing ``++``/``#`` or a leading dot is written in place as one synthetic token. An identifier or version
  with inner punctuation (``node.js``, ``service-47``, ``v1.28``, ``x86_64``, ``ASP.NET``) keeps its parts in
  place (so ``node js`` and phrases still match) and also gets a synthetic token, appended after the column's
  text so it never breaks the adjacency of a phrase. Hyphenated English words (``multi-account``) are words.
* Text in another Unicode normal form: everything passes through ``nfc`` first.

Synthetic tokens are ``zz`` + hex of the case-folded term + ``zz``: letters and digits only, so ``unicode61``
keeps them whole, and the porter stemmer leaves them alone (no English suffix ends in ``zz``).
English text without such terms comes out unchanged, so its BM25 scores do not move.

The query side (``term_expression``) applies the same ``index_text`` to a term and quotes every token it
produces, so no user text ever becomes FTS5 syntax.
"""

from __future__ import annotations

import re

from tripsearch.unicode import nfc

# Han (with extension A, compatibility ideographs and the supplementary planes), Hiragana, Katakana (with the
# phonetic extensions and half-width forms), Hangul syllables and jamo.
_CJK_CHARS = (
    "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)
CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")
_ALNUM = r"[^\W_]"
# A word with optional inner punctuation (. _ - /), an optional leading dot (.NET) and an optional trailing ++ or #
# (C++, C#, F#). Only ever applied to text without CJK characters (see _split_scripts).
_COMPOUND = re.compile(rf"(?<!\w)((?:(?<![\w.])\.)?)({_ALNUM}+(?:[._\-/]{_ALNUM}+)*)(\+\+|#)?(?![\w+#])")
_TOKEN = re.compile(_ALNUM + "+")
# Cheap test for a piece of text that may hold such a term at all: most sentences do not (answer-stage speed).
_MAYBE_COMPOUND = re.compile(r"[._\-/][^\W_]|\+\+|#")


def synthetic(term: str) -> str:
    """The one token that stands for a symbol-bearing term: ``C++`` → ``zz632b2bzz``."""
    return "zz" + term.casefold().encode().hex() + "zz"


def bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of a CJK run; a single character stays itself."""
    return [run] if len(run) < 2 else [run[i : i + 2] for i in range(len(run) - 1)]


def _split_scripts(text: str) -> list[tuple[bool, str]]:
    """(is_cjk, piece) in order, covering the whole text."""
    pieces, at = [], 0
    for m in CJK_RUN.finditer(text):
        if m.start() > at:
            pieces.append((False, text[at : m.start()]))
        pieces.append((True, m.group()))
        at = m.end()
    if at < len(text):
        pieces.append((False, text[at:]))
    return pieces


def _is_identifier(body: str) -> bool:
    """Inner punctuation that makes a name (node.js, x86_64, I/O) or a version (v1.28, service-47), not an
    English compound (multi-account, built-in, CouchDB-style): those are written with a hyphen, a space or
    neither, so they are searched by their words, as before. Measured: treating them as identifiers too
    cost keyword recall on our dev questions (built-in, third-party, free-software)."""
    return _TOKEN.fullmatch(body) is None and (re.search(r"[._/]", body) is not None or any(c.isdigit() for c in body))


def index_text(text: str) -> tuple[str, list[str]]:
    """(text rewritten for the tokenizer, synthetic tokens to append after it). See the module docstring."""
    out: list[str] = []
    tail: list[str] = []
    for is_cjk, piece in _split_scripts(nfc(text)):
        if is_cjk:
            out.append(" " + " ".join(bigrams(piece)) + " ")
            continue

        def rewrite(m: re.Match) -> str:
            lead, body, trail = m.groups()
            if lead or trail:  # C++, C#, .NET: the bare word would match plain C / net
                return synthetic(m.group())
            if _is_identifier(body):  # node.js, v1.28: parts stay, the whole is added
                tail.append(synthetic(body))
            return m.group()

        out.append(_COMPOUND.sub(rewrite, piece) if _MAYBE_COMPOUND.search(piece) else piece)
    return "".join(out), tail


def fts_text(text: str) -> str:
    """The string stored in an FTS column for ``text``."""
    body, tail = index_text(text)
    return f"{body} {' '.join(tail)}" if tail else body


def tokens(text: str) -> list[str]:
    """The tokens of ``text`` as the keyword index sees them (lower-cased; not stemmed)."""
    return _TOKEN.findall(fts_text(text).lower())


def words(text: str) -> list[str]:
    """The words of a question as typed (NFC): plain words, symbol-bearing terms (``C++``, ``node.js``) and
    CJK runs, each whole, in order. What ``named_terms`` and ``query_terms`` start from."""
    found: list[str] = []
    for is_cjk, piece in _split_scripts(nfc(text)):
        if is_cjk:
            found.append(piece)
            continue
        for m in _COMPOUND.finditer(piece):
            lead, body, trail = m.groups()
            found.extend([m.group()] if lead or trail or _is_identifier(body) else _TOKEN.findall(body))
    return found


def is_cjk(word: str) -> bool:
    return CJK_RUN.fullmatch(word) is not None


def is_symbolic(word: str) -> bool:
    """A term the index keeps apart from its plain words: ``C++``, ``.NET``, ``node.js``, ``v1.28``."""
    return not is_cjk(word) and _TOKEN.fullmatch(word) is None


def term_expression(term: str) -> str | None:
    """An FTS5 expression matching ``term`` (a word, a symbol-bearing term, a CJK run or a phrase).

    The term's tokens in order form one quoted phrase; the synthetic token of a single identifier is OR-ed
    with it (``node.js``: the exact identifier, or the words ``node js`` side by side; not inside a longer
    phrase, which must match word by word). A lone CJK character is a prefix query, as it is indexed only
    inside bigrams. Every token is letters and digits only and is quoted: never FTS5 syntax.
    """
    body, tail = index_text(term)
    if len(term.split()) > 1:
        tail = []
    phrase = [t.lower() for t in _TOKEN.findall(body)]
    alternatives = []
    if phrase:
        star = " *" if len(phrase) == 1 and len(phrase[0]) == 1 and is_cjk(phrase[0]) else ""
        alternatives.append(f'"{" ".join(phrase)}"{star}')
    alternatives.extend(f'"{t}"' for t in tail)
    return " OR ".join(dict.fromkeys(alternatives)) or None


def parts(term: str) -> list[str]:
    """The plain words of an identifier (``node.js`` → node, js; ``v1.28`` → v1, 28); empty for any other term,
    ``C++`` and ``.NET`` included: their plain word is another term."""
    body, tail = index_text(term)
    return [t.lower() for t in _TOKEN.findall(body)] if tail else []


def coverage_keys(term: str) -> list[str]:
    """The tokens by which the answer stage checks that a sentence covers ``term``: the words of a phrase or of
    ``node.js`` (coverage is a soft measure), the one token of ``C++``, the bigrams of a CJK run.
    Single letters (the parts of ``I/O``) say nothing about a sentence and are left out, as in ``query_terms``."""
    found = [t.lower() for t in _TOKEN.findall(index_text(term)[0])]
    return [t for t in found if len(t) > 1 or t.isdigit() or is_cjk(t)]


_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|「([^」]+)」')


def split_quoted(question: str) -> tuple[list[str], str]:
    """(quoted phrases, the rest of the question). An unpaired quote mark is just punctuation."""
    question = nfc(question)
    phrases = [next(g for g in m.groups() if g is not None).strip() for m in _QUOTED.finditer(question)]
    return [p for p in phrases if p], _QUOTED.sub(" ", question)
