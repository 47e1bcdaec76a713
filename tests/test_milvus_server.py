"""The milvus-lite server fixture itself: it starts, it stops, and it fails loudly (never hangs, never skips in CI)."""

from __future__ import annotations

import socket

import pytest
from milvus_server import (  # noqa: F401  (fixture)
    MilvusServerError,
    free_port,
    milvus_server,
    needs_milvus,
    start_server,
    unavailable,
)


def test_fixture_server_answers(milvus_server):
    client = milvus_server.client()
    try:
        assert client.get_server_version().startswith("milvus_lite")
    finally:
        client.close()


@needs_milvus
def test_stop_ends_the_process_and_frees_the_port(tmp_path):
    server = start_server(tmp_path / "data")
    assert server.stop() == 0  # SIGINT: a clean shutdown, not a kill
    with socket.create_server((server.host, server.port)):  # the port can be bound again
        pass


@needs_milvus
def test_busy_port_is_an_error_with_the_server_output(tmp_path):
    with socket.create_server(("127.0.0.1", free_port())) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(MilvusServerError, match=f"127.0.0.1:{port} exited with code 1:(.|\\n)*Failed to bind"):
            start_server(tmp_path / "data", port=port)


@needs_milvus
def test_locked_data_dir_is_an_error(tmp_path):
    first = start_server(tmp_path / "data")
    try:
        with pytest.raises(MilvusServerError, match="another process holds the lock"):
            start_server(tmp_path / "data")
    finally:
        first.stop()


def test_missing_packages_fail_in_ci_and_skip_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Milvus tests need pymilvus"):
        unavailable("pymilvus not installed")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        unavailable("pymilvus not installed")
