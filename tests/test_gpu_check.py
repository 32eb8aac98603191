"The GPU check script (benchmarks/gpu_check.py) runs whole on a CPU, so a session that gets a GPU can run it at once."
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/"benchmarks"))
from gpu_check import HostSyncs  # noqa: E402

CHECKS = {"device", "precision", "autocast", "neighbours", "scale", "default", "memory", "paper", "sharpness",
          "training",
          "throughput", "attacks", "pgd", "bench"}


def test_cpu_dry_run_passes_every_check(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT/"benchmarks"/"gpu_check.py"), "--cpu-dry-run", "--json",
                          str(tmp_path/"r.json")],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = json.loads((tmp_path/"r.json").read_text())["rows"]
    assert {r["check"] for r in rows} == CHECKS
    assert [r["line"] for r in rows if r["status"] == "FAIL"] == []
    assert all(r["certified"]["tf32-emulated"] == 1.0 for r in rows if r["check"] == "neighbours")
    assert all(r["exact"] for r in rows if r["check"] == "scale" and "exact" in r)
    assert {(r["n"], r["precision"]) for r in rows if r["check"] == "scale" and "exact" in r} == {(600, "fp32"), (600, "tf32-emulated"), (1200, "fp32")}


def test_host_syncs_sees_what_makes_the_host_wait():
    "Masks, values read by Python and data-dependent shapes are seen; `torch.where` and reductions that stay on the device are not."
    x = torch.arange(6.)
    with HostSyncs() as waits:
        x[x > 2]
        float(x.sum())
        torch.unique(x)
    with HostSyncs() as free:
        torch.where(x > 2, x, 0).sum()
        x.topk(2)
    assert waits.ops == ["index", "_local_scalar_dense", "_unique2"] and free.ops == []
