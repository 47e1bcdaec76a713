"""Passage and sentence vectors from one forward pass over each passage ("late chunking").

The build needs a vector per passage and one per prose sentence. Embedding each sentence again after its
passage read every token twice (~950k tokens for 2,376 passages of the real corpus). Here each passage is
tokenised once, with character offsets, and run through the transformer once; then

* a sentence vector is the mean of the token embeddings inside that sentence's character span, and
* the passage vector is the mean of all token embeddings of the pass (specials included, as
  sentence-transformers' mean pooling does), so a passage that fits the window gets exactly today's vector.

Late chunking: Günther et al. 2024, "Late Chunking: Contextual Chunk Embeddings Using Long-Context Embedding
Models", arXiv:2409.04701. Our measurements on the real corpus are in the report of issue 14.

A passage longer than the model's window (``max_seq_length`` tokens, specials included) is cut into
window-sized pieces, preferably at sentence ends; each piece repeats the passage's context prefix (post
title › headings) when that is short, and a sentence cut by a piece boundary is pooled over both pieces. No
token is dropped, where a plain encoder call truncates at the window.

Imports only numpy (the runtime it is given runs onnxruntime): never torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

TokenProgress = Callable[[int, int], None]  # (tokens embedded so far, tokens to embed)
METHOD = "late-chunk-1"  # recorded in the index manifest: a different method re-embeds the whole index
TWO_PASS = "two-pass-1"  # the passage (truncated at the window) and each sentence embedded on their own
# Padded tokens per batch (8 windows of 256). Measured with benchmarks/embed_settings.py (150 passages, 3 rounds,
# two-pass, medians): 1 thread x 2 in flight: 2048 -> 2,783 tokens/s, 4096 -> 2,830, 8192 -> 2,212; the same within
# noise up to 4096, and the smaller the budget the smaller onnxruntime's arena (peak RSS 746 MiB after 2048 runs).
# Again with the eager-attention export and late chunking (150 passages, 3 rounds): 2048 -> 1,761, 4096 -> 1,596.
TOKEN_BUDGET = 2048
MAX_REPEATED_PREFIX = 48  # tokens: a longer context prefix is kept in the first piece only


@dataclass(frozen=True)
class PassageInput:
    """One passage to embed: ``text`` is the whole embedding text (context prefix + "\\n" + passage text),
    ``offset`` where the passage text starts in it, ``spans`` the sentences' (start, end) character offsets
    in the passage text (``Passage.sentences``' first two fields)."""

    text: str
    offset: int
    spans: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, passage) -> PassageInput:
        """From a ``tripsearch.records.Passage``: its ``embedding_text()`` ends with its ``text``."""
        full = passage.embedding_text()
        offset = len(full) - len(passage.text)
        if offset < 0 or full[offset:] != passage.text:
            raise ValueError(f"passage {passage.id}: embedding_text() does not end with the passage text")
        return cls(full, offset, tuple((s[0], s[1]) for s in passage.sentences))


LATE, PASSAGE = -2, -1  # _Window.whole: pool passage and sentence runs / the passage only


@dataclass
class _Window:
    item: int
    ids: np.ndarray  # (L,) int64, specials included
    sentence: np.ndarray  # (L,) int32: sentence number in the item, -1 for specials, prefix and other tokens
    whole: int = LATE  # LATE: pool the passage and sentence runs; PASSAGE: the passage only; s >= 0: sentence s


def _specials(tokenizer) -> tuple[list[int], list[int]]:
    """Token ids the tokenizer's template puts before and after a single text ([CLS] and [SEP] for BERT)."""
    with_specials = tokenizer.encode("tripsearch").ids
    plain = tokenizer.encode("tripsearch", add_special_tokens=False).ids
    for start in range(len(with_specials) - len(plain) + 1):
        if with_specials[start : start + len(plain)] == plain:
            return with_specials[:start], with_specials[start + len(plain) :]
    return [], []


def _sentence_of_tokens(starts: np.ndarray, item: PassageInput) -> np.ndarray:
    """For each token (by its first character), the sentence it belongs to, or -1."""
    if not item.spans:
        return np.full(len(starts), -1, dtype=np.int32)
    s = np.array([a + item.offset for a, _ in item.spans])
    e = np.array([b + item.offset for _, b in item.spans])
    idx = np.searchsorted(s, starts, side="right") - 1
    inside = (idx >= 0) & (starts < e[np.maximum(idx, 0)])
    return np.where(inside, idx, -1).astype(np.int32)


def plan_windows(items: Sequence[PassageInput], tokenizer, max_seq_length: int, method: str = METHOD) -> list[_Window]:
    """Tokenise every passage once (``tokenizer``: a ``tokenizers.Tokenizer`` without truncation or padding)
    and cut it into windows of at most ``max_seq_length`` tokens, specials included.

    ``method`` ``METHOD`` (late chunking): each passage in window-sized pieces, sentences pooled inside them.
    ``TWO_PASS``: exactly what embedding the passage and then each sentence on its own gives — the passage
    truncated at the window, each sentence tokenised alone — in the same batches, so both share the runs."""
    head, tail = _specials(tokenizer)
    room = max_seq_length - len(head) - len(tail)
    head_ids, tail_ids = np.array(head, dtype=np.int64), np.array(tail, dtype=np.int64)
    head_sid, tail_sid = np.full(len(head), -1, np.int32), np.full(len(tail), -1, np.int32)

    def window(n: int, ids: np.ndarray, sid: np.ndarray, whole: int) -> _Window:
        return _Window(n, np.concatenate([head_ids, ids, tail_ids]), np.concatenate([head_sid, sid, tail_sid]), whole)

    windows: list[_Window] = []
    encodings = tokenizer.encode_batch([it.text for it in items], add_special_tokens=False)
    if method == TWO_PASS:
        owners = [(n, s) for n, it in enumerate(items) for s in range(len(it.spans))]
        texts = [
            items[n].text[items[n].offset + items[n].spans[s][0] : items[n].offset + items[n].spans[s][1]]
            for n, s in owners
        ]
        for (n, s), enc in zip(owners, tokenizer.encode_batch(texts, add_special_tokens=False), strict=True):
            ids = np.array(enc.ids[:room], dtype=np.int64)
            windows.append(window(n, ids, np.full(len(ids), s, np.int32), s))
        for n, enc in enumerate(encodings):
            ids = np.array(enc.ids[:room], dtype=np.int64)
            windows.append(window(n, ids, np.full(len(ids), -1, np.int32), PASSAGE))
        return windows
    for n, (item, enc) in enumerate(zip(items, encodings, strict=True)):
        ids = np.array(enc.ids, dtype=np.int64)
        starts = np.array([o[0] for o in enc.offsets], dtype=np.int64)
        sid = _sentence_of_tokens(starts, item)
        if len(ids) <= room:
            pieces = [(ids, sid)]
        else:
            pieces = _pieces(ids, sid, int(np.searchsorted(starts, item.offset)), room)
        windows.extend(window(n, piece_ids, piece_sid, LATE) for piece_ids, piece_sid in pieces)
    return windows


def _pieces(ids: np.ndarray, sid: np.ndarray, prefix_len: int, room: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Window-sized pieces of one long passage, cut at sentence ends where one is in the second half of a piece."""
    repeat = prefix_len if prefix_len <= min(MAX_REPEATED_PREFIX, room // 4) else 0
    prefix_ids, prefix_sid = ids[:repeat], np.full(repeat, -1, np.int32)
    body_ids, body_sid = ids[repeat:], sid[repeat:]
    fits = room - repeat
    cuts = np.flatnonzero(body_sid[1:] != body_sid[:-1]) + 1  # positions where a new sentence (or gap) begins
    pieces, start = [], 0
    while start < len(body_ids):
        end = min(start + fits, len(body_ids))
        if end < len(body_ids):
            inside = cuts[(cuts > start + fits // 2) & (cuts <= end)]
            if len(inside):
                end = int(inside[-1])
        pieces.append(
            (np.concatenate([prefix_ids, body_ids[start:end]]), np.concatenate([prefix_sid, body_sid[start:end]]))
        )
        start = end
    return pieces


def _batches(windows: list[_Window], token_budget: int) -> list[list[int]]:
    """Window numbers grouped into batches of similar length, each at most ``token_budget`` padded tokens."""
    order = sorted(range(len(windows)), key=lambda w: len(windows[w].ids))
    batches: list[list[int]] = []
    current: list[int] = []
    for w in order:
        if current and (len(current) + 1) * len(windows[w].ids) > token_budget:
            batches.append(current)
            current = []
        current.append(w)
    if current:
        batches.append(current)
    return batches


def _run_batch(runtime, windows: list[_Window], batch: list[int], pad_id: int):
    """Token embeddings of one batch, pooled per window: (window number, sum of all tokens, count, sentence sums)."""
    width = max(len(windows[w].ids) for w in batch)
    ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, w in enumerate(batch):
        ids[row, : len(windows[w].ids)] = windows[w].ids
        mask[row, : len(windows[w].ids)] = 1
    hidden = runtime.token_embeddings(ids, mask)
    out = []
    for row, w in enumerate(batch):
        length = len(windows[w].ids)
        states, sid = hidden[row, :length], windows[w].sentence
        if windows[w].whole >= 0:  # a sentence embedded on its own: mean pooling over the whole window
            out.append((w, None, length, [(windows[w].whole, states.sum(axis=0), length)]))
            continue
        runs = np.concatenate([[0], np.flatnonzero(sid[1:] != sid[:-1]) + 1])
        sums = np.add.reduceat(states, runs, axis=0)
        lengths = np.diff(np.append(runs, length))
        late = windows[w].whole == LATE
        sentences = [(int(sid[r]), sums[k], int(lengths[k])) for k, r in enumerate(runs) if late and sid[r] >= 0]
        out.append((w, states.sum(axis=0), length, sentences))
    return out


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def embed_passages(
    runtime,
    items: Sequence[PassageInput],
    max_seq_length: int,
    dim: int,
    *,
    method: str = METHOD,
    workers: int = 2,
    token_budget: int = TOKEN_BUDGET,
    progress: TokenProgress | None = None,
    fallback: Callable[[list[str]], np.ndarray] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unit-length passage vectors (len(items), dim) and, per item, its sentence vectors (len(spans), dim).

    ``runtime``: anything with ``raw_tokenizer`` (a ``tokenizers.Tokenizer``, no truncation or padding),
    ``pad_id`` and ``token_embeddings(ids, mask) -> (B, T, dim)`` — ``tripsearch.embed.runtime.Runtime`` or the
    sentence-transformers adapter — for a mean-pooling model. ``workers`` batches run at once (onnxruntime
    releases the GIL, so padding and pooling of one batch overlap the inference of the other).
    ``progress(done, total)`` counts tokens, specials and repeated prefixes included. ``fallback`` embeds the text of a sentence that has no token of its own (e.g. only characters
    the tokenizer drops); without one such a sentence gets its passage's vector.
    """
    windows = plan_windows(items, runtime.raw_tokenizer, max_seq_length, method)
    total = sum(len(w.ids) for w in windows)
    passage_sum: list[np.ndarray | None] = [None] * len(items)
    passage_count = np.zeros(len(items), dtype=np.int64)
    sentence_sum = [None] * len(items)
    sentence_count = [np.zeros(len(it.spans), dtype=np.int64) for it in items]
    done = 0
    if progress:
        progress(0, total)  # the bar starts now, so its rate and ETA include the first batch
    pool = ThreadPoolExecutor(max_workers=max(workers, 1))
    try:
        jobs = [
            pool.submit(_run_batch, runtime, windows, batch, runtime.pad_id)
            for batch in _batches(windows, token_budget)
        ]
        for job in jobs:
            for w, total_sum, length, sentences in job.result():
                item = windows[w].item
                if passage_sum[item] is None:
                    passage_sum[item] = np.zeros(dim, dtype=np.float64)
                    sentence_sum[item] = np.zeros((len(items[item].spans), dim), dtype=np.float64)
                if total_sum is not None:
                    passage_sum[item] += total_sum
                    passage_count[item] += length
                for s, vec, count in sentences:
                    sentence_sum[item][s] += vec
                    sentence_count[item][s] += count
                done += length
            if progress:
                progress(done, total)
    finally:  # on an error or Ctrl-C the queued batches never start; running ones take well under a second
        pool.shutdown(wait=True, cancel_futures=True)
    passages = np.zeros((len(items), dim), dtype=np.float32)
    sentences_out: list[np.ndarray] = []
    orphans: list[tuple[int, int]] = []
    for n, item in enumerate(items):
        if passage_sum[n] is None:  # no tokens at all (empty text): cannot happen for a real passage
            passage_sum[n], sentence_sum[n] = np.zeros(dim), np.zeros((len(item.spans), dim))
            passage_count[n] = 1
        passages[n] = passage_sum[n] / max(passage_count[n], 1)
        counts = sentence_count[n]
        block = sentence_sum[n] / np.maximum(counts, 1)[:, None]
        for s in np.flatnonzero(counts == 0):
            block[s] = passages[n]
            orphans.append((n, int(s)))
        sentences_out.append(block)
    passages = _unit(passages)
    sentences_out = [_unit(b) if len(b) else np.zeros((0, dim), dtype=np.float32) for b in sentences_out]
    if orphans and fallback is not None:
        texts = [
            items[n].text[items[n].offset + items[n].spans[s][0] : items[n].offset + items[n].spans[s][1]]
            for n, s in orphans
        ]
        for (n, s), vec in zip(orphans, _unit(np.asarray(fallback(texts), dtype=np.float32)), strict=True):
            sentences_out[n][s] = vec
    return passages, sentences_out


def embed_separately(
    encode, items: Sequence[PassageInput], dim: int, progress: TokenProgress | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``TWO_PASS`` through ``encode``, for models whose pooling is not mean: each passage and then each sentence
    embedded on its own (a passage longer than the window is truncated). ``progress`` counts texts."""
    texts = [it.text for it in items]
    sentences = [it.text[it.offset + a : it.offset + b] for it in items for a, b in it.spans]
    total = len(texts) + len(sentences)
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0], total)

    vectors = encode(texts + sentences, batch_size=32, progress=tick)
    blocks, first = [], len(texts)
    for it in items:
        blocks.append(vectors[first : first + len(it.spans)].reshape(-1, dim))
        first += len(it.spans)
    return vectors[: len(texts)], blocks
