"""Stage 4: store passages (SQLite + FTS5) and their vectors (FAISS) as immutable generations."""
