"""One Unicode normal form for everything we store and everything we compare against it.

Text typed on one system arrives in NFC, on another (macOS file names, some editors and input methods) in
NFD: "café" is then two different strings. Posts, metadata, queries and filter values all pass through
``nfc`` so that they compare equal however they were typed (Unicode Standard Annex #15).
"""

from __future__ import annotations

import unicodedata


def nfc(text: str) -> str:
    """``text`` in Normalization Form C (composed). Cheap when already NFC (``is_normalized`` first)."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)
