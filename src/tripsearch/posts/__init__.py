"""Stage 1: read a folder of blog posts into typed ``Post`` records."""

from tripsearch.posts.reader import ReadResult, read_folder, read_post

__all__ = ["ReadResult", "read_folder", "read_post"]
