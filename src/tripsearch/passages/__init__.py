"""Stage 2: split posts into per-session passages."""

from tripsearch.passages.splitter import CHUNKER_VERSION, split_post

__all__ = ["CHUNKER_VERSION", "split_post"]
