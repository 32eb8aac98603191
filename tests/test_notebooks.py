"""Every notebook in nbs/ runs as a test, as `nbdev_test` runs it (cells flagged with settings.ini's `tst_flags` are
skipped): a failing cell, an error output or a plotting cell without its figure fails the test. The docs site that a
reader sees (`_docs/`, from the committed notebooks) is built and checked in a browser by `tests/test_docs.py`."""
import re
from pathlib import Path

import pytest
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbdev.config import get_config
from nbdev.doclinks import nbglob
from nbdev.frontmatter import FrontmatterProc
from nbdev.process import NBProcessor

ROOT = Path(__file__).resolve().parent.parent
NBS = sorted(Path(p) for p in nbglob(ROOT/"nbs"))  # as nbdev selects them (settings.ini's `recursive`)
# A cell that calls a plotting function must show a figure.
PLOTS = re.compile(r"^(?!\s*(def "
                   r"|#)).*\b(plt\.(plot|imshow|subplots|figure|scatter|hist)|sns\.\w+plot|plot_\w+\(|\.plot\()", re.M)


def skipped(cell, flags:set) -> bool:
    "Whether the test run skips `cell`, as nbdev_test does."
    if cell.cell_type != "code" or "nbdev_export(" in cell.source: return True
    directives = getattr(cell, "directives_", {}) or {}
    if directives.get("eval:", [""])[0].lower() == "false": return True
    return bool(flags & directives.keys())


def execute(path:Path):
    "The notebook at `path`, executed in its folder like nbdev_test; raises with the traceback when a cell fails."
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb
    shell = CaptureShell(path)
    flags = set(get_config().tst_flags.split())
    with working_directory(path.parent):
        try: shell.run_all(nb, exc_stop=True, preproc=lambda c: skipped(c, flags))
        except Exception: pytest.fail(shell.prettytb(fname=path), pytrace=False)
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
