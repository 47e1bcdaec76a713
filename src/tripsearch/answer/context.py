"""Per-index structures of the answer stage, built once per loaded ``Index`` and reused by every question.

The ``Understander`` (events, years, authors and talks learnt from the index's metadata) takes ~0.2 s to build
for the real corpus (``docs/answer-signals.md``); a question takes ~1 ms. It is kept in a weak map keyed by the
index, so a closed or dropped index takes its structures with it, and built under a lock, so the app's threads
build it once.
"""

from __future__ import annotations

import threading
import weakref

from tripsearch.answer.understand import Understander

_understanders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def understander_of(index) -> Understander:
    """The ``Understander`` of ``index`` (an ``Index``), built on first use from its passages."""
    found = _understanders.get(index)
    if found is None:
        with _lock:
            found = _understanders.get(index)
            if found is None:
                found = Understander.from_passages(index.passages, index.unknown_words)
                _understanders[index] = found
    return found
