"""Startup: which modules the command line and the light modules load. `intrinsic-props --help` answers at once only
while it imports none of torch, torchvision, pandas, scikit-learn (nor numpy), and `datasets` / `results` only while they
import no torch; these tests fail when an eager import creeps back. The times themselves are in BENCHMARKS.md."""
import subprocess
import sys

import pytest

from intrinsic_props.store import ResultStore

HEAVY = ("torch", "torchvision", "pandas", "sklearn", "scipy", "matplotlib", "numpy")
TORCH = ("torch", "torchvision", "sklearn", "scipy", "matplotlib")
CLI = "import sys; from intrinsic_props.cli import main; sys.exit(main(sys.argv[1:]))"  # what the console script runs


def imports(code:str, *argv) -> tuple:
    "(modules imported, completed process) of `python -X importtime -c code argv...` in a fresh interpreter."
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *argv], capture_output=True, text=True)
    rows = [line.split("|") for line in res.stderr.splitlines() if line.startswith("import time:")]
    return [r[2].rstrip() for r in rows[1:]], res  # the first row is the header


def loaded(modules:list, names) -> dict:
    "{top-level package: the import chain that first loaded it} for each of `names` found in `modules` (importtime order)."
    found = {}
    for i, row in enumerate(modules):
        name = row.strip()
        if name not in names or name in found: continue
        chain, depth = [name], len(row) - len(name)
        for later in modules[i + 1:]:  # importtime lists a module after the modules it imported
            d = len(later) - len(later.lstrip())
            if d < depth: chain.append(later.strip()); depth = d
        found[name] = " <- ".join(chain)
    return found


@pytest.mark.parametrize("argv", [["--help"], [], ["datasets", "--help"], ["measure", "--help"], ["sweep", "--help"],
                                  ["results", "--help"], ["measure", "digits", "--n", "0"]], ids=" ".join)
def test_help_and_usage_errors_import_nothing_heavy(argv):
    "`--help`, a subcommand's `--help` and a usage error parse arguments only: no torch, pandas, scikit-learn or numpy."
    modules, res = imports(CLI, *argv)
    assert res.returncode in (0, 2) and "usage: intrinsic-props" in res.stdout + res.stderr
    assert loaded(modules, HEAVY) == {}


def test_datasets_imports_no_torch():
    "`intrinsic-props datasets` reads manifests and npz headers (the catalogue): pandas, but no torch or scikit-learn."
    modules, res = imports(CLI, "datasets", "--csv")
    assert res.returncode == 0, res.stderr
    assert "digits," in res.stdout
    assert loaded(modules, TORCH) == {}


def test_results_imports_no_torch(tmp_path):
    "`intrinsic-props results DB` reads SQLite (the results database): pandas, but no torch or scikit-learn."
    db = tmp_path/"small.db"
    ResultStore(db).record(dict(run_id="r1", sweep="demo", status="done",
                                config={"dataset": "digits", "classes": ["0", "1"],
                                "model": "small_cnn", "n_train": 40, "seed": 0}, result={"test_loss": 0.12},
                                seconds=2.0))
    modules, res = imports(CLI, "results", str(db), "--csv")
    assert res.returncode == 0, res.stderr
    assert "r1,demo,done" in res.stdout
    assert loaded(modules, TORCH) == {}


@pytest.mark.parametrize("module", ["intrinsic_props.catalog", "intrinsic_props.store"])
def test_catalog_and_store_import_no_torch(module):
    modules, res = imports(f"import {module}")
    assert res.returncode == 0, res.stderr
    assert loaded(modules, TORCH) == {}


@pytest.mark.parametrize("module", ["intrinsic_props.data", "intrinsic_props.measure"])
def test_data_and_measure_import_no_torchvision(module):
    "torchvision is imported only where a model is built (`intrinsic_props.models`), not to load or measure images."
    modules, res = imports(f"import {module}")
    assert res.returncode == 0, res.stderr
    assert loaded(modules, ("torchvision",)) == {}


def test_the_check_sees_an_import_and_its_chain():
    "The check can fail: importing the data module loads torch, and the chain names who imported it."
    modules, _ = imports("import intrinsic_props.data")
    found = loaded(modules, ("torch",))
    assert found["torch"].startswith("torch <- ") and "intrinsic_props.data" in found["torch"]
