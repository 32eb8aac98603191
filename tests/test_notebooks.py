"""Every notebook in nbs/ runs as a test, as `nbdev_test` runs it (cells flagged with settings.ini's `tst_flags` are
skipped): a failing cell, an error output or a plotting cell without its figure fails the test. The notebooks of
nbs/tutorials, nbs/api and nbs/paper are committed with their outputs (`tools/execute_nbs.py`): those outputs must come
from the notebook's current code and hold no error. The docs site that a
reader sees (`_docs/`, from the committed notebooks) is built and checked in a browser by `tests/test_docs.py`."""
import json
import re
import sys
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.doclinks import nbglob

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/"tools"))
from execute_nbs import KEY, committed, executed, fingerprint, skipped  # noqa: E402  (the one way notebooks are run)

NBS = sorted(Path(p) for p in nbglob(ROOT/"nbs"))  # as nbdev selects them (settings.ini's `recursive`)
# A cell that calls a plotting function must show a figure.
PLOTS = re.compile(r"^(?!\s*(def "
                   r"|#)).*\b(plt\.(plot|imshow|subplots|figure|scatter|hist)|sns\.\w+plot|plot_\w+\(|\.plot\()", re.M)


def execute(path:Path):
    "The notebook at `path`, executed in its folder like nbdev_test; fails the test with the traceback when a cell fails."
    flags = set(get_config().tst_flags.split())
    nb, shell = executed(path, flags, processed=True)
    if shell.exc is not None: pytest.fail(shell.prettytb(fname=path), pytrace=False)
    return nb, flags


def check_outputs(nb, flags:set, name:str):
    "Fail on error outputs and on plotting cells that ran without showing a figure."
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or skipped(cell, flags): continue
        kinds = [o.get("output_type") for o in cell.get("outputs", [])]
        assert "error" not in kinds, f"{name}: cell {i} has an error output"
        exported = "export" in (getattr(cell, "directives_", {}) or {})
        if PLOTS.search(cell.source) and not exported:
            assert any("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {}) for o in cell.outputs), \
                f"{name}: cell {i} plots but shows no figure:\n{cell.source[:300]}"


@pytest.mark.parametrize("path", NBS, ids=lambda p: p.relative_to(ROOT/"nbs").with_suffix("").as_posix())
def test_notebook(path):
    "No notebook needs the data shelf: examples use the bundled samples and the chapters' quick scale runs on them."
    nb, flags = execute(path)
    check_outputs(nb, flags, path.name)


def test_render_check_catches_errors_and_missing_figures(tmp_path):
    "The checks above can fail: a plotting cell whose figure is closed, and an error output."
    from execnb.nbio import mk_cell, new_nb, write_nb
    path = tmp_path/"figure.ipynb"
    write_nb(new_nb([mk_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.close()")]), path)
    nb, flags = execute(path)
    with pytest.raises(AssertionError, match="plots but shows no figure"): check_outputs(nb, flags, path.name)
    nb.cells[0].outputs = [{"output_type": "error", "ename": "ValueError", "evalue": "", "traceback": []}]
    with pytest.raises(AssertionError, match="has an error output"): check_outputs(nb, flags, path.name)


COMMITTED = [p for p in NBS if committed(p)]


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.relative_to(ROOT/"nbs").with_suffix("").as_posix())
def test_committed_outputs_are_current(path):
    "The docs show a notebook's committed outputs: they come from its current code and hold no error."
    nb = json.loads(path.read_text())
    run = nb["metadata"].get(KEY)
    rel = path.relative_to(ROOT)
    assert run, f"{rel} was never executed with tools/execute_nbs.py: run python tools/execute_nbs.py {rel}"
    assert run["code"] == fingerprint(nb), \
        f"{rel}: its code changed since its outputs were made: run python tools/execute_nbs.py {rel} and commit it"
    errors = [i for i, c in enumerate(nb["cells"]) for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{rel}: cells {errors} have an error output"
    if path.parent.name == "paper": assert run["scale"] == "cpu", f"{rel}: the chapters are published from the cpu study"


def test_stale_outputs_are_caught(tmp_path):
    "The fingerprint changes with any code cell, not with prose."
    from execnb.nbio import mk_cell, new_nb
    nb = new_nb([mk_cell("# Title", cell_type="markdown"), mk_cell("x = 1")])
    before = fingerprint(nb)
    nb.cells[0].source = "# Another title"
    assert fingerprint(nb) == before
    nb.cells[1].source = "x = 2"
    assert fingerprint(nb) != before
