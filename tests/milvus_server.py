"""A real Milvus server for tests: `milvus-lite server` on 127.0.0.1 and a free port, stopped at the end.

milvus-lite (PyPI, the `[milvus]` extra; `make venv` installs it) is a pure-Python Milvus that speaks the Milvus gRPC
protocol, so pymilvus talks to it exactly as to Milvus Standalone. It implements a subset of Milvus: see
docs/scale-out.md for what was checked against it (tests/test_milvus_capabilities.py).

Use: import the fixture into a test module (``from milvus_server import milvus_server  # noqa: F401``, the pattern of
reliability_support) and take ``milvus_server`` as an argument; it is session-scoped, one server per test run.

When pymilvus or milvus-lite is not installed the fixture skips locally and fails in CI (CI=true), like the browser
test. When they are installed and the server does not answer, it always fails, with the server's own output.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

START_SECONDS = 60.0  # generous: the machine is shared; the server usually answers in 1-3 s here
STOP_SECONDS = 15.0  # SIGINT lets it drain requests (its own grace is 5 s) and close its data dir cleanly


class MilvusServerError(RuntimeError):
    """The milvus-lite server did not start or did not answer; the message ends with the tail of its output."""


@dataclass
class MilvusServer:
    """A running `milvus-lite server`: ``uri`` is what ``pymilvus.MilvusClient(uri=...)`` takes."""

    host: str
    port: int
    data_dir: Path
    log: Path
    process: subprocess.Popen

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self, timeout: float = 30.0):
        """A new pymilvus MilvusClient connected to this server (the caller closes it)."""
        from pymilvus import MilvusClient

        return MilvusClient(uri=self.uri, timeout=timeout)

    def output(self) -> str:
        """Everything the server has printed so far (it logs failed background work, e.g. index builds, here)."""
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """Stop the server (SIGINT, then SIGKILL after STOP_SECONDS); returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_SECONDS)
        return self.process.returncode


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def missing_packages() -> str | None:
    """Why the Milvus tests cannot run here, or None when pymilvus and milvus-lite are both importable."""
    absent = [name for name in ("pymilvus", "milvus_lite") if importlib.util.find_spec(name) is None]
    if absent:
        return f"{' and '.join(absent)} not installed (pip install -e '.[milvus]'; `make venv` installs it)"
    return None


# For tests that start their own server (not through the fixture): skipped locally without the packages, never in CI.
needs_milvus = pytest.mark.skipif(
    not in_ci() and missing_packages() is not None, reason=f"Milvus tests need {missing_packages()}"
)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's choice for port 0)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _answers(server: MilvusServer) -> bool:
    """True once the server answers a real RPC (GetVersion), not just a TCP connect."""
    try:
        client = server.client(timeout=2.0)
    except Exception:  # noqa: BLE001 - any connection error means "not yet"
        return False
    try:
        client.get_server_version()
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        client.close()


# The `milvus-lite server` command, run by this interpreter, with SIGINT raising KeyboardInterrupt (which the server
# answers with a clean shutdown). A shell without job control starts background jobs with SIGINT ignored and children
# inherit that; Python then installs no KeyboardInterrupt handler and SIGINT would do nothing. Setting the handler in
# the child itself (not with preexec_fn) keeps Popen's fork-free spawn path, safe beside gRPC's threads.
_SERVER_MAIN = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from milvus_lite.cmdline import main; sys.exit(main(sys.argv[1:]))"
)


def unavailable(why: str) -> None:
    """Skip locally, fail in CI (CI=true), where `make venv` installs the `[milvus]` extra."""
    message = f"Milvus tests need {why}"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def run_on_server(uri: str | None, action, data_dir: Path | None = None) -> None:
    """``action(uri)`` on the server at ``uri`` (a benchmark's --uri), else on a milvus-lite server started here in
    ``data_dir`` (default: a temporary folder) and stopped afterwards."""
    if uri:
        action(uri)
        return
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        server = start_server(data_dir or Path(folder) / "data")
        try:
            action(server.uri)
        finally:
            server.stop()


def start_server(data_dir: Path, port: int | None = None, host: str = "127.0.0.1") -> MilvusServer:
    """Start `milvus-lite server --data-dir DATA_DIR --host HOST --port PORT` and wait until it answers.

    Runs the milvus-lite of this interpreter through the entry point of the ``milvus-lite`` script
    (``milvus_lite.cmdline.main``), with SIGINT handled (see _SERVER_MAIN). Raises MilvusServerError (with the
    server's output) when the process exits or does not answer within START_SECONDS; the process is stopped first.
    """
    port = free_port(host) if port is None else port
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"milvus-lite-{port}.log"
    command = [sys.executable, "-c", _SERVER_MAIN, "server", "--data-dir", str(data_dir)]
    command += ["--host", host, "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = MilvusServer(host=host, port=port, data_dir=data_dir, log=log, process=process)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MilvusServerError(
                f"milvus-lite server on {host}:{port} exited with code {process.returncode}:\n{_tail(log)}"
            )
        if _answers(server):
            return server
        time.sleep(0.2)
    server.stop()
    raise MilvusServerError(
        f"milvus-lite server on {host}:{port} did not answer in {START_SECONDS:.0f} s:\n{_tail(log)}"
    )


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A real milvus-lite server for the whole session (one process; tests use their own collection names)."""
    why = missing_packages()
    if why:
        unavailable(why)
    try:
        server = start_server(tmp_path_factory.mktemp("milvus") / "data")
    except MilvusServerError as error:
        pytest.fail(str(error))
    yield server
    server.stop()
