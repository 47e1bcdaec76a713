"""One error root for the library: every problem a user can act on is a ``TripsearchError``.

Each edge (the CLI's click group, the app) catches the root once and shows ``str(exc)``: one line that
names the file, model or value and says what to do. ``exit_code`` tells the CLI what kind it was.
Stdlib only: the CLI imports this at start-up.
"""

from __future__ import annotations


class TripsearchError(Exception):
    """Root of the errors a user can act on; the message names the file or value and the problem."""

    exit_code = 1


class BadInput(TripsearchError, ValueError):
    """Something given to us cannot be read: a post, a front-matter field, a date, a mode, a question file."""

    exit_code = 2


class PassageNotFound(BadInput, KeyError):
    """No passage with that id in this index."""


class IndexProblem(TripsearchError):
    """An index folder that is missing, broken, busy, or built with another model; the message names the file."""

    exit_code = 3


class IndexNotFound(IndexProblem):
    """No index in the folder yet."""


class IndexCorrupt(IndexProblem):
    """A file of the index is damaged, truncated or does not match its manifest."""


class IndexBusy(IndexProblem):
    """Another indexer holds the write lock."""


class IndexUnreachable(IndexProblem):
    """The server that holds the index (a ``milvus://`` address) does not answer."""


class IndexMismatch(IndexProblem):
    """The index was built with another model or format than the one asked for."""


class ModelProblem(TripsearchError):
    """The embedding model cannot be had or used."""

    exit_code = 4


class ModelNotFound(ModelProblem):
    """The model folder (or name) does not resolve to a model on this machine."""


class OnnxUnavailable(ModelProblem):
    """No usable ONNX export for this model. ``reason`` says why; ``broken`` if an export exists but is unusable."""

    def __init__(self, reason: str, *, broken: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.broken = broken
