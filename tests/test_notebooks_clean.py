"""Notebooks are committed clean: no outputs and no execution counts, so diffs show only what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)

CLEAR = (
    '.venv/bin/python -c "import nbformat, sys; [nbformat.write(nb, p) for p in sys.argv[1:] '
    "for nb in [nbformat.read(p, 4)] for c in nb.cells if c.cell_type == 'code' "
    'and not c.update(outputs=[], execution_count=None)]" notebooks/*.ipynb'
)


def test_the_notebooks_are_there():
    assert {"explore.ipynb", "evaluate.ipynb"} <= {p.name for p in PATHS}


@pytest.mark.parametrize("path", PATHS, ids=[p.relative_to(NOTEBOOKS).as_posix() for p in PATHS])
def test_notebook_has_no_outputs_or_execution_counts(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = []
    for n, cell in enumerate(nb["cells"], start=1):
        if cell.get("outputs"):
            dirty.append(f"cell {n}: {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            dirty.append(f"cell {n}: execution count {cell['execution_count']}")
    assert not dirty, (
        f"{path.name} was saved with outputs ({'; '.join(dirty)}). Clear them before committing, "
        f"e.g. in Jupyter 'Edit > Clear Outputs of All Cells', or:\n  {CLEAR}"
    )
