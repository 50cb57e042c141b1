"""The Colab quickstart notebook: committed without outputs, and it runs headless on CPU (tiny config)."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "colab_quickstart.ipynb"
PARAMETERS = "# Parameters:"


def test_notebook_is_committed_with_outputs_cleared():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert sum(c.source.startswith(PARAMETERS) for c in code) == 1


def test_notebook_executes_headless_with_a_tiny_sweep(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    out = tmp_path / "sweep"
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(PARAMETERS))
    cell.source = (f'{PARAMETERS} tiny (test)\nPRESET, SEEDS, EPOCHS = "small", 1, 20\n'
                   f'M, ETA, DESIGNS = "0.5,1.0", "0.01", "designed"\nACTOR = "mlp"\nOUT = {str(out)!r}')
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    for name in ("summary.csv", "fig7_state_gradients.png", "fig8_state_curves.png", "reproduction.md"):
        assert (out / name).stat().st_size > 0, name
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3
