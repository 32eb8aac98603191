"""Sweeps under stress: killed with SIGKILL at random points and restarted, two processes on one database, and the
Ray executor against the local one. Every run must appear exactly once and equal a run that was never disturbed."""
import json
import random
import signal
import sqlite3
import subprocess
import time

import pytest
import yaml

from intrinsic_props.sweep import expand, load_results, run_id, run_sweep

SPEC = dict(name="stress", datasets=[{"name": "digits", "pairs": [["3", "8"], ["0", "1"]]}], models=["small_cnn"],
            n_train=[40, 60, 80], seeds=[0], data={"n_test": 30}, train={"epochs": 2}, attack={"pgd_steps": 3})


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec")/"stress.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "The sweep run once, undisturbed, in this process: {run_id: (result, history without timings)}."
    db = tmp_path_factory.mktemp("ref")/"ref.db"
    run_sweep(SPEC, db, progress=False)
    return stored(db)


def stored(db) -> dict:
    "{run_id: (status, result, history without wall-clock times)} of a database, checking it is sound."
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = [r[0] for r in con.execute("SELECT run_id FROM runs")]
    assert len(ids) == len(set(ids)), "a run is stored twice"
    out = {}
    for rid, status, result, history in con.execute("SELECT run_id, status, result, history FROM runs"):
        history = json.loads(history)
        for epoch in history["epochs"]: epoch.pop("seconds")
        out[rid] = (status, json.loads(result), history)
    con.close()
    return out


def sweep_process(spec_file, db):
    return subprocess.Popen(["intrinsic-props", "sweep", str(spec_file), "--db", str(db), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_reference_is_complete(reference):
    assert set(reference) == {run_id(c) for c in expand(SPEC)}
    assert all(status == "done" for status, _, _ in reference.values())


def test_sigkill_at_random_points_then_restart(spec_file, reference, tmp_path):
    "Kill the sweep process at four random moments, then let a fifth start finish: nothing is lost, repeated or altered."
    db, rng, progress = tmp_path/"killed.db", random.Random(1234), []
    for _ in range(4):
        proc = sweep_process(spec_file, db)
        try: proc.wait(timeout=rng.uniform(2.0, 9.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        progress.append(len(stored(db)) if db.exists() else 0)
    proc = sweep_process(spec_file, db)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    assert stored(db) == reference, f"runs stored after each kill: {progress}"


def test_two_processes_share_one_database(spec_file, reference, tmp_path):
    db = tmp_path/"shared.db"
    procs = [sweep_process(spec_file, db) for _ in range(2)]
    for p in procs: assert p.wait(timeout=600) == 0, p.stderr.read()
    assert stored(db) == reference


def test_ray_executor_gives_the_local_results(reference, tmp_path):
    pytest.importorskip("ray", reason="the Ray executor needs the [ray] extra (part of [dev])")
    db = tmp_path/"ray.db"
    run_sweep(SPEC, db, executor="ray", progress=False)
    assert stored(db) == reference


def test_results_table_and_cli(spec_file, reference, tmp_path):
    db = tmp_path/"cli.db"
    res = subprocess.run(["intrinsic-props", "sweep", str(spec_file), "--db", str(db), "--quiet"], capture_output=True, text=True)
    assert res.returncode == 0 and "6 of 6 runs done, 0 failed" in res.stderr
    df = load_results(db)
    assert len(df) == 6 and {"d_data", "k_f", "test_loss", "delta_loss", "d_repr", "train.epochs"} <= set(df.columns)
    out = subprocess.run(["intrinsic-props", "results", str(db), "--csv"], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0].startswith("run_id,sweep,status,dataset")
    assert len(out.splitlines()) == 7


def test_a_failing_run_is_stored_and_the_sweep_goes_on(tmp_path):
    spec = dict(SPEC, datasets=[{"name": "digits", "classes": ["3", "8"]}], n_train=[40, 400])
    df = run_sweep(spec, tmp_path/"fail.db", progress=False)
    by_n = df.set_index("n_train")
    assert by_n.loc[40, "status"] == "done" and by_n.loc[400, "status"] == "failed"
    assert "class '3' has 146 images" in by_n.loc[400, "error"]


def test_bad_specifications(tmp_path):
    with pytest.raises(ValueError, match="lacks \\['seeds'\\]"): expand({k: v for k, v in SPEC.items() if k != "seeds"})
    with pytest.raises(ValueError, match="unknown executor 'slurm'"): run_sweep(SPEC, tmp_path/"x.db", executor="slurm")
    (tmp_path/"spec.json").write_text("{}")
    with pytest.raises(ValueError, match="must be .yaml, .yml or .toml"): run_sweep(tmp_path/"spec.json")
    gpu = dict(SPEC, gpu=True, n_train=[40], datasets=[{"name": "digits", "classes": ["3", "8"]}])
    import torch
    if not torch.cuda.is_available():
        df = run_sweep(gpu, tmp_path/"gpu.db", progress=False)
        assert df.status.tolist() == ["failed"] and "CUDA is not available" in df.error[0]
