"""tripsearch: semantic search and question answering over conference trip reports.

from tripsearch import Index
idx = Index.build("sample/posts", "index")
idx.search("how did they cut Lambda cold starts?", k=5)
"""

__all__ = ["Index"]


def __getattr__(name: str):
    # Lazy, so `import tripsearch` (and the CLI's start-up) costs nothing until the index is used.
    if name == "Index":
        from tripsearch.index import Index

        return Index
    raise AttributeError(f"module 'tripsearch' has no attribute {name!r}")
