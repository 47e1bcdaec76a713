"""Where an index lives: an index folder, or ``milvus://HOST:PORT/NAME`` on a Milvus server (issue 15).

``milvus_address`` is the one test of which it is; ``Index``, the CLI and the app ask it and go to
``build.update_index`` / ``store.opened`` for a folder, ``store.milvus_build`` / ``store.milvus_opened`` for an
address. Stdlib only at import: the CLI imports this at start-up, pymilvus is imported when a server is used.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from tripsearch.build import BuildProgress, BuildReport

SCHEME = "milvus://"  # as store.milvus_schema.SCHEME (not imported: that module pulls in the keyword machinery)
POSTS_PROPERTY = "tripsearch.posts_dir"  # the folder a server index was built from (Index.update's default)


def milvus_address(target: str | Path | None) -> str | None:
    """``target`` as a ``milvus://`` address when it is one, else None (an index folder).

    A ``Path`` made from an address has lost one slash (``Path("milvus://h:1/n")`` is ``milvus:/h:1/n``): it is
    given back, so that callers which turned every ``--index`` into a Path still reach the server."""
    if target is None:
        return None
    text = str(target).strip()
    if text.lower().startswith(SCHEME):  # a scheme is case-insensitive (RFC 3986): MILVUS:// is one too
        return SCHEME + text[len(SCHEME) :]
    if isinstance(target, Path) and text.lower().startswith("milvus:/"):
        return SCHEME + text[len("milvus:/") :]
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text):
        # http://…, s3://…: not a folder to create (it used to build ./http:/host/…), and not a server we know.
        from tripsearch.errors import BadInput

        raise BadInput(f"{text}: not an index folder nor a {SCHEME}HOST:PORT/NAME address")
    return None


def index_target(value: str | Path) -> str | Path:
    """What ``--index`` or ``TRIPSEARCH_INDEX`` names: the address as text, or the folder as a Path."""
    return milvus_address(value) or Path(value)


def update_target(
    posts_dir: Path | str,
    target: str | Path,
    model: str | None = None,
    rebuild: bool = False,
    progress: BuildProgress | None = None,
    lock_wait: float = 0.0,
) -> BuildReport:
    """Build or update the index at ``target`` from ``posts_dir``: ``build.update_index`` for a folder,
    ``store.milvus_build.build_milvus`` for an address (then the posts folder is recorded with the collection, as
    a folder's manifest records it). Raises what those raise (``BadInput``, ``IndexProblem`` and its kinds,
    ``ModelProblem``); ``lock_wait`` applies to a folder only (a server index has no write lock: one writer)."""
    address = milvus_address(target)
    if address is None:
        from tripsearch.build import update_index

        return update_index(posts_dir, target, model=model, rebuild=rebuild, progress=progress, lock_wait=lock_wait)
    from tripsearch.store.milvus_build import build_milvus
    from tripsearch.store.milvus_schema import connect, parse_address, server_errors

    parsed = parse_address(address)
    report = build_milvus(parsed, posts_dir, model=model, rebuild=rebuild, progress=progress)
    if report.generation:  # something was written: say where from (nothing changed: nothing written)
        client = connect(parsed)
        try:
            with server_errors(parsed, "recording the posts folder"):
                client.alter_collection_properties(
                    report.generation, properties={POSTS_PROPERTY: str(Path(posts_dir).resolve())}
                )
        finally:
            client.close()
    return report


class LiveState(NamedTuple):
    """What identifies the live build of an index (it changes when a build publishes) and its model."""

    key: str
    model: str
    fingerprint: str


def live_state(target: str | Path) -> LiveState | None:
    """The live build of ``target`` (None: no index there yet), cheap enough to ask on every page of the app.
    For a folder the key is the generation folder's name; for a server index, the collection and the time of
    its last write (an incremental update writes in place). Raises ``IndexProblem`` kinds (damaged pointer,
    unreachable server)."""
    address = milvus_address(target)
    if address is None:
        from tripsearch.store.generations import current_generation, read_manifest

        generation = current_generation(Path(target))
        if generation is None:
            return None
        manifest = read_manifest(generation, verify=False)
        return LiveState(generation.name, manifest.model, manifest.model_fingerprint)
    from tripsearch.store.milvus import live_collection
    from tripsearch.store.milvus_schema import connect, parse_address, properties, server_errors

    parsed = parse_address(address)
    client = connect(parsed)
    try:
        with server_errors(parsed, "reading the index"):
            collection = live_collection(client, parsed)
            if collection is None:
                return None
            record = properties(client, collection)
    finally:
        client.close()
    return LiveState(
        f"{collection}@{record.get('built_at', '')}", record.get("model", ""), record.get("model_fingerprint", "")
    )
