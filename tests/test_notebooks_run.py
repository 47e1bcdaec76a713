"""The notebooks run top to bottom, in a kernel on this interpreter (the venv's), with the sample corpus.

This is how `python -m pytest` (and so CI) runs them; `pytest --nbmake notebooks/` does the same by hand.
``TRIPSEARCH_EVAL_SAMPLE=1`` makes evaluate.ipynb use the bundled sample corpus instead of building the
real one in ../shared, which takes minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager, KernelManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(p for p in NOTEBOOKS.glob("*.ipynb"))
NOTEBOOK_TIMEOUT = 600  # seconds, per notebook
KERNEL = "tripsearch-tests"

# Run after the notebook's own cells: which interpreter ran them, and on which corpus.
PROBE = "import json as _j, sys as _s\nprint(_j.dumps({'executable': _s.executable, 'prefix': _s.prefix, 'corpus': globals().get('CORPUS')}))"


def kernel_manager(tmp_path: Path) -> AsyncKernelManager:
    """A kernel on ``sys.executable``, whatever kernelspecs this machine has installed."""
    spec_dir = tmp_path / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tripsearch tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    return AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def test_the_notebooks_are_there():
    assert {"explore.ipynb", "evaluate.ipynb"} <= {p.name for p in PATHS}


def test_nbmakes_python3_kernel_is_this_interpreter():
    """`pytest --nbmake` starts the notebooks' "python3" kernel: it must resolve to this venv's python."""
    command = KernelManager(kernel_name="python3").format_kernel_cmd()
    assert command[0] == sys.executable, f"the python3 kernelspec starts {command[0]}, not {sys.executable}"


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_runs_top_to_bottom(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "notebooks declare the python3 kernel"
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(
        nb,
        km=kernel_manager(tmp_path),
        timeout=NOTEBOOK_TIMEOUT,  # per cell; the whole notebook is bounded below
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},  # cwd, as under nbmake
    )
    env = {**os.environ, "TRIPSEARCH_EVAL_SAMPLE": "1", "MPLBACKEND": "Agg"}

    async def run():
        await asyncio.wait_for(client.async_execute(env=env, cleanup_kc=True), NOTEBOOK_TIMEOUT)

    try:
        asyncio.run(run())
    except TimeoutError:
        pytest.fail(f"{path.name} did not finish in {NOTEBOOK_TIMEOUT} s")

    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    probe = nb.cells[-1].outputs
    ran = json.loads("".join(o.get("text", "") for o in probe if o.get("output_type") == "stream"))
    assert ran["executable"] == sys.executable and ran["prefix"] == sys.prefix, ran
    if path.name == "evaluate.ipynb":
        assert ran["corpus"] == "sample", ran
