"""Execute notebooks in place so that their committed outputs are what their code gives (the docs show them).

    python tools/execute_nbs.py                      # every notebook of nbs/tutorials and nbs/api, at the quick scale
    python tools/execute_nbs.py nbs/api/01_data.ipynb
    INTRINSIC_PROPS_SCALE=cpu python tools/execute_nbs.py nbs/paper/*.ipynb   # the chapters, from the cpu study

Cells run as the tests run them (`tests/test_notebooks.py`): in the notebook's folder, with the cells flagged by
settings.ini's `tst_flags` (`#| slow`, `#| gpu`) skipped and left without outputs. Library notebooks and the tutorial
run as on a fresh machine — the bundled samples (INTRINSIC_PROPS_DATA unset), an empty cache, the quick scale — so
their outputs are what a new user sees. The chapters run at the scale INTRINSIC_PROPS_SCALE names, from the results
folder INTRINSIC_PROPS_RESULTS (default: the repository's `results/`) and the data in INTRINSIC_PROPS_DATA; with
INTRINSIC_PROPS_INTERIM=1 they analyse the replicates of a running sweep that are complete (recorded as interim).

Each executed notebook records in its metadata a fingerprint of its code cells and the scale it ran at; a test fails
when a notebook's code no longer matches the fingerprint of its outputs, or when an output is an error. The notebook is
then cleaned with nbdev_clean (outputs kept)."""
import argparse
import atexit
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from intrinsic_props.catalog import env_flag

ROOT = Path(__file__).resolve().parent.parent
KEY = "intrinsic_props"  # the notebook metadata key (settings.ini: allowed_metadata_keys)
EXECUTED = ("tutorials", "api", "paper")  # folders of nbs/ whose notebooks are committed with outputs


def skipped(cell, flags:set) -> bool:
    "Whether a run skips `cell`, as nbdev_test does: not code, `nbdev_export()`, `#| eval: false`, or a flag in `flags`."
    if cell.cell_type != "code" or "nbdev_export(" in cell.source: return True
    directives = getattr(cell, "directives_", {}) or {}
    if directives.get("eval:", [""])[0].lower() == "false": return True
    return bool(flags & directives.keys())


def fingerprint(nb) -> str:
    "A hash of the notebook's code cells, in order: what its outputs must have come from."
    code = "\n\0".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def committed(path:Path) -> bool:
    "Whether the notebook at `path` is one committed with outputs (a notebook of nbs/tutorials, nbs/api or nbs/paper)."
    return path.resolve().parent.name in EXECUTED and path.resolve().parent.parent == ROOT/"nbs"


def executed(path:Path, # a notebook
             flags:set, # settings.ini's tst_flags: cells flagged with one of them are skipped
             processed:bool=False, # run the processed notebook (front matter applied) as nbdev_test does
            ):
    "(notebook, shell): the notebook at `path` executed in its folder; the shell's `exc` is the first failure."
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    nb = (NBProcessor(path, procs=FrontmatterProc, process=True) if processed else
          NBProcessor(path, rm_directives=False)).nb
    shell = CaptureShell(path)
    with working_directory(path.parent):
        try: shell.run_all(nb, exc_stop=True, preproc=lambda c: skipped(c, flags))
        except Exception as e: shell.exc = e
    return nb, shell


def fresh_machine_env(tmp:Path) -> dict:
    "The environment of a new user's first run: no data folder, an empty cache, the quick scale, a fresh results folder."
    env = {k: v for k, v in os.environ.items() if k not in ("INTRINSIC_PROPS_DATA", "INTRINSIC_PROPS_REQUIRE_DATA")}
    env.update(INTRINSIC_PROPS_SCALE="quick", INTRINSIC_PROPS_RESULTS=str(tmp/"results"), XDG_CACHE_HOME=str(tmp/"cache"),
               HOME=str(tmp/"home"))
    return env


def execute_in_place(path:Path, flags:set):
    "Execute the notebook at `path` and write it back with its outputs and fingerprint; exit on a failing cell."
    from execnb.nbio import write_nb
    nb, shell = executed(path, flags)
    if shell.exc is not None: sys.exit(f"{path}: a cell failed, nothing written:\n{shell.prettytb(fname=path)}")
    for cell in nb.cells:
        if skipped(cell, flags) and cell.cell_type == "code": cell.outputs = []
    interim = env_flag("INTRINSIC_PROPS_INTERIM")
    nb.metadata[KEY] = dict(code=fingerprint(nb), scale=os.environ.get("INTRINSIC_PROPS_SCALE", "quick"),
                            **({"interim": True} if interim and path.parent.name == "paper" else {}))
    write_nb(nb, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook of nbs/tutorials and nbs/api")
    args = ap.parse_args()
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT/"nbs"/"tutorials").glob("*.ipynb")) + \
            sorted((ROOT/"nbs"/"api").glob("*.ipynb"))
    if bad := [str(p) for p in paths if not committed(p)]:
        sys.exit(f"not a notebook of nbs/{{{','.join(EXECUTED)}}}: {', '.join(bad)}")
    from nbdev.clean import nbdev_clean
    from nbdev.config import get_config
    flags = set(get_config(path=ROOT).tst_flags.split())
    tmp = Path(tempfile.mkdtemp(prefix="intrinsic_props_execute_"))
    atexit.register(shutil.rmtree, tmp, True)  # registered first, so it runs after the shells' own exit handlers
    for d in ("results", "cache", "home"): (tmp/d).mkdir()
    saved = dict(os.environ)
    for path in paths:
        if path.parent.name != "paper": os.environ.clear(); os.environ.update(fresh_machine_env(tmp))
        try:
            print(f"executing {path.relative_to(ROOT)} ({os.environ.get('INTRINSIC_PROPS_SCALE', 'quick')})", flush=True)
            execute_in_place(path, flags)
        finally: os.environ.clear(); os.environ.update(saved)
        nbdev_clean(fname=str(path))


if __name__ == "__main__": main()
