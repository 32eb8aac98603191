"""The paper's sweeps at every scale can be built before anything is trained: `intrinsic-props sweep --dry-run` on the
specification `write_sweep_spec` writes reports no run that could not start. With the data shelf every dataset of the
study is in the `cpu` and `paper` specifications; without it, they hold what is at hand (the bundled samples make the
`quick` scale)."""
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from intrinsic_props.data import SAMPLES_DIR, _manifest
from intrinsic_props.laws import simulate_sweep
from intrinsic_props.paper import SCALES, TASKS, law_summary, paper_sweep, write_sweep_spec
from intrinsic_props.sweep import dry_run, expand

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/"tools"))
from execute_nbs import KEY  # noqa: E402  (the metadata key of a notebook's execution record)


@pytest.mark.slow
@pytest.mark.parametrize("scale", list(SCALES))
def test_every_run_of_each_scale_can_start(scale, data, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # datasets missing without the shelf are named in a warning; counted below
        spec = paper_sweep(scale)
    names = {e["name"] for e in spec["datasets"]}
    if SCALES[scale]["samples"]: assert names == {t["name"] + "-sample" for t in TASKS} & set(_manifest(SAMPLES_DIR))
    elif data.shelf: assert names == {t["name"] for t in TASKS}
    checked = dry_run(spec)
    assert len(checked) == len(expand(spec))
    assert checked.error.isna().all(), checked[checked.error.notna()][["dataset", "model", "n_train", "error"]].to_string()


def test_dry_run_from_the_shell(data, tmp_path):
    "The README's command on the quick scale's specification: one line per run, a summary, exit status 0."
    spec = write_sweep_spec(tmp_path/"quick.yaml", "quick")
    res = subprocess.run(["intrinsic-props", "sweep", str(spec), "--dry-run"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == len(expand(paper_sweep("quick"))) and all(l.startswith("ok ") for l in lines)
    assert "can start, 0 cannot" in res.stderr


def test_cpu_study_design(data):
    "The committed study's design: three replicates of every shelf dataset, the paper's test size and N where the data allow."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = paper_sweep("cpu")
    runs = expand(spec)
    if not data.shelf:
        assert runs == [] or all(r["dataset"] in data.manifest for r in runs)
        return
    by_dataset = {}
    for r in runs: by_dataset.setdefault(r["dataset"], set()).add((str(r["classes"]), r["seed"]))
    assert set(by_dataset) == set(data.manifest) and all(len(v) == 3 for v in by_dataset.values())
    assert {r["model"] for r in runs} == {"small_cnn", "resnet18", "vgg13"}
    full = [r for r in runs if r["dataset"] == "cifar10"]
    assert {r["n_train"] for r in full} == {500, 1000, 1750} and {r["data"]["n_test"] for r in full} == {750}
    lgg = [r for r in runs if r["dataset"] == "lgg-flair-64"]
    assert {r["data"]["test_split"] for r in lgg} == {"test"}  # patients kept apart
    assert all("drop_near_copies" not in r["data"] for r in runs)  # the sensitivity sweep's option only


# --- the laws' claims on simulated sweeps --------------------------------------------------------------------------

def test_summary_on_law_data_and_on_data_that_break_the_claims():
    good = law_summary(simulate_sweep(datasets_per_domain=8, dataset_sd=0.05, seed=1), n_boot=100).set_index(["claim", "domain"])
    assert good.loc[("law: coefficient of log k_f", "pooled"), "holds"]
    assert good.loc[("mean log k_f: difference", "medical − natural"), "holds"]
    assert good.loc[("share of runs with d_repr ≤ d_data", "pooled"), "holds"]
    assert good.loc[("law: a with slopes fixed", "pooled"), "holds"] is pd.NA
    bad = law_summary(simulate_sweep(slope_size=0, repr_ratio=(1.2, 2.0), seed=1), n_boot=50).set_index(["claim", "domain"])
    assert not bad.loc[("law: coefficient of log n_train/d_data", "pooled"), "holds"]
    assert bad.loc[("share of runs with d_repr ≤ d_data", "pooled"), "estimate"] == 0
    assert not bad.loc[("share of runs with d_repr ≤ d_data", "pooled"), "holds"]


def test_summary_without_clusters_uses_classical_intervals():
    table = law_summary(simulate_sweep(seed=2), cluster=None, delta=None, d_repr=None, n_boot=30)
    assert table.ci_method.str.startswith(("OLS, classical", "quantile regression")).all()
    assert (table.n_clusters == table.n_runs).all()



def test_a_complete_sweep_is_only_read(data, tmp_path, monkeypatch):
    "Chapters re-executed from a complete (e.g. committed) database leave it byte for byte as it was, with no journal."
    import contextlib
    import shutil
    import sqlite3
    from intrinsic_props.paper import paper_results, sweep_database
    spec, results = paper_results("quick")  # computed here unless the chapters' tests did it already
    source = sweep_database(spec)
    monkeypatch.setenv("INTRINSIC_PROPS_RESULTS", str(tmp_path))
    copy = Path(shutil.copy(source, sweep_database(spec)))
    with contextlib.closing(sqlite3.connect(copy)) as db: db.execute("PRAGMA journal_mode=DELETE")  # as committed
    before = copy.read_bytes()
    pd.testing.assert_frame_equal(paper_results("quick").results, results)
    assert copy.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [copy.name]


def published_chapters() -> dict:
    "{chapter name: its execution record} of the committed chapters that read the sweep (02-04)."
    return {p.stem: json.loads(p.read_text())["metadata"].get(KEY, {})
            for p in sorted((ROOT/"nbs"/"paper").glob("0[234]_*.ipynb"))}


def test_the_cpu_study_in_its_database_is_what_the_chapters_publish(data):
    """results/paper-cpu.db, committed, holds only runs of the cpu study and of its near-copy sensitivity sweep, each
    done (no stale run of a rebuilt dataset); it holds every one of them unless every chapter published from it says it
    is an interim analysis (tools/execute_nbs.py records INTRINSIC_PROPS_INTERIM=1)."""
    if not data.shelf: pytest.skip("the cpu study's datasets are on the shelf (INTRINSIC_PROPS_DATA)")
    from intrinsic_props.paper import near_copy_sweep
    from intrinsic_props.store import load_results
    from intrinsic_props.sweep import run_id
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        specs = {"main": paper_sweep("cpu"), "near-copies": near_copy_sweep("cpu")}
    assert len(expand(specs["near-copies"])) == 36  # brain-tumor-mri-64 and breastmnist: 6 tasks × 3 N × 2 models
    stored = load_results(ROOT/"results"/"paper-cpu.db")
    ids = {name: {run_id(c) for c in expand(spec)} for name, spec in specs.items()}
    stale = stored[~stored.run_id.isin(set.union(*ids.values()))]
    assert stale.empty, f"{len(stale)} stored runs are of no cpu specification:\n{stale[['dataset', 'model', 'seed']]}"
    assert (stored.status == "done").all(), stored[stored.status != "done"][["dataset", "model", "error"]]
    missing = {name: len(i - set(stored.run_id)) for name, i in ids.items()}
    chapters = published_chapters()
    assert len(chapters) == 3 and all(c.get("scale") == "cpu" for c in chapters.values()), chapters
    if any(missing.values()):
        final = [name for name, c in chapters.items() if not c.get("interim")]
        assert not final, f"{final} published as final from a database that lacks runs: {missing}"
