"""Passage sizes in tokens of the embedding model's own tokenizer: what the encoder really sees.

Counting words by spaces made a 1,900-character Chinese talk "49 words", and 24% of English passages ran
past the model's window and were silently truncated. The bundled all-MiniLM-L6-v2 tokenizer (BERT
WordPiece, one token per CJK character) is loaded once, lazily, from its ``tokenizer.json`` with the
``tokenizers`` library (Rust, batch encoding). Sizing always uses the bundled model's tokenizer, whatever
model embeds, so that a post splits the same way everywhere.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# all-MiniLM-L6-v2's ``sentence_bert_config.json``: max_seq_length 256. Text past it is cut off unseen.
MODEL_MAX_TOKENS = 256
SPECIAL_TOKENS = 2  # [CLS] and [SEP], added to every input (the tokenizer's TemplateProcessing)


@functools.lru_cache(maxsize=1)
def tokenizer():
    """The bundled model's tokenizer, with its padding and truncation (to 128) switched off: we count, not cut."""
    from tokenizers import Tokenizer

    from tripsearch.embed.models import model_path

    tok = Tokenizer.from_file(str(Path(model_path(None)) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


@dataclass(frozen=True)
class TokenMap:
    """Where the tokens of one text begin (character offsets, ascending), to count the tokens of any slice.

    WordPiece never makes a token across whitespace or punctuation, so a slice cut at a sentence end or a
    space holds exactly the tokens that start inside it. Built with numpy (a 10 MB post has 1.6 million
    tokens: a Python loop over them took seconds), searched as lists with ``bisect``.
    """

    starts: list[int]  # ascending
    word_ends: list[int]  # character offset where each pre-tokenized word ends: safe places to cut
    space_ends: list[int]  # the word ends followed by whitespace or the end: the best places to cut

    def count(self, start: int = 0, end: int | None = None) -> int:
        """Tokens starting in ``text[start:end]`` (special tokens not included)."""
        hi = len(self.starts) if end is None else bisect.bisect_left(self.starts, end)
        return hi - bisect.bisect_left(self.starts, start)

    def cut_before(self, start: int, limit: int) -> int:
        """The furthest word end after ``start`` such that ``text[start:cut]`` holds at most ``limit`` tokens.

        At least one word is taken, so a single word longer than ``limit`` still makes progress.
        """
        first = bisect.bisect_left(self.starts, start)
        if first >= len(self.starts):
            return start
        bound = self.starts[first + limit] if first + limit < len(self.starts) else self.word_ends[-1]
        for ends in (self.space_ends, self.word_ends):  # between words if we can, else inside one (CJK, URLs)
            i = bisect.bisect_right(ends, bound) - 1
            if i >= 0 and ends[i] > start:
                return ends[i]
        return self.word_ends[bisect.bisect_right(self.word_ends, start)]


def token_maps(texts: list[str]) -> list[TokenMap]:
    """One ``TokenMap`` per text, encoded in one batch."""
    if not texts:
        return []
    maps = []
    for text, encoding in zip(texts, tokenizer().encode_batch(texts, add_special_tokens=False)):
        offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        words = np.asarray(encoding.word_ids, dtype=np.int64)  # no special tokens: never None
        last = np.ones(len(words), dtype=bool)  # the last token of each word (ids ascend along the text)
        last[:-1] = words[1:] != words[:-1]
        word_ends = offsets[last, 1].tolist()
        space_ends = [e for e in word_ends if e >= len(text) or text[e].isspace()]
        maps.append(TokenMap(offsets[:, 0].tolist(), word_ends, space_ends))
    return maps


def count_tokens(texts: list[str]) -> list[int]:
    """Tokens of each text, special tokens not included; one batch."""
    if not texts:
        return []
    return [len(e.ids) for e in tokenizer().encode_batch(texts, add_special_tokens=False)]
