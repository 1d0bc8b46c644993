"""The study notebooks execute headlessly in their short mode (SIM_NOTEBOOK_SHORT=1).

Each notebook is run in memory with nbclient on the ``python3`` kernel (registered for the
current interpreter first if no such kernel spec exists); a cell that raises fails the test.
The committed notebooks are not rewritten.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = "python3"
CELL_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> str:
    """The python3 kernel spec, registered for this interpreter when it is missing."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
        found = True
    except NoSuchKernel:
        found = False
    if found:
        yield KERNEL
        return
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name=KERNEL, prefix=str(prefix))
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(prefix / "share" / "jupyter")] + ([old] if old else [])
    )
    try:
        yield KERNEL
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old


def execute(name: str, kernel: str, monkeypatch) -> nbformat.NotebookNode:
    """Run one notebook in short mode and return it with its outputs."""
    path = NOTEBOOKS / name
    assert path.exists(), f"missing notebook {path}"
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("SIM_NOTEBOOK_SHORT", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name=kernel,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "short mode" in text, "the notebook did not pick up SIM_NOTEBOOK_SHORT=1"
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure was drawn"
    assert any("text/markdown" in o.get("data", {}) for o in outputs), "no conclusion was written"
    return nb


def test_latency_anatomy(kernel, monkeypatch):
    """01-latency-anatomy runs in short mode and draws its figures and conclusions."""
    execute("01-latency-anatomy.ipynb", kernel, monkeypatch)


def test_losing_a_region(kernel, monkeypatch):
    """02-losing-a-region runs in short mode and draws its figures and conclusions."""
    execute("02-losing-a-region.ipynb", kernel, monkeypatch)


def test_soft_failures(kernel, monkeypatch):
    """03-soft-failures runs in short mode and draws its figures and conclusions."""
    execute("03-soft-failures.ipynb", kernel, monkeypatch)


def test_designs_compared(kernel, monkeypatch):
    """04-designs-compared runs in short mode and draws its figures and conclusions."""
    execute("04-designs-compared.ipynb", kernel, monkeypatch)


def test_choosing_a_region_set(kernel, monkeypatch):
    """05-choosing-a-region-set runs in short mode and draws its figures and conclusions."""
    execute("05-choosing-a-region-set.ipynb", kernel, monkeypatch)


def test_availability(kernel, monkeypatch):
    """06-availability runs in short mode: the study, its plots and conclusions."""
    execute("06-availability.ipynb", kernel, monkeypatch)
