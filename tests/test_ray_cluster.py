"""Sweeps on a real Ray cluster, started as a user starts one: `ray start --head` (on loopback, free ports, two CPUs, in
a temporary folder of its own), then `intrinsic-props sweep ... --executor ray --address ...` in another process, through
each address form the README gives — `auto` and `HOST:PORT` on a cluster node, `ray://HOST:PORT` through the Ray Client.
Each database must equal an undisturbed local run; so must one whose Ray worker is killed mid-run, one whose driver is
killed mid-sweep (and loses no finished run), and one shared by two drivers. The cluster is stopped by ending the
processes of its own session, never with `ray stop` (which would end every Ray on the machine)."""
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import pytest

pytest.importorskip("ray", reason="the Ray executor needs the [ray] extra (part of [dev])")
pytest.importorskip("grpc", reason="the Ray Client needs ray[client] (the [ray] extra)")

from test_sweep import spec_on_disk, stored  # noqa: E402  (the database check shared with the local stress tests)
from intrinsic_props.sweep import expand, run_id, run_sweep  # noqa: E402

SPEC = dict(name="ray-cluster", datasets=[{"name": "digits", "pairs": [["3", "8"], ["0", "1"]]}], models=["small_cnn"],
            n_train=[40, 60, 80], seeds=[0], data={"n_test": 30}, train={"epochs": 1}, attack={"pgd_steps": 2})
SMALL = dict(SPEC, n_train=[40])  # two of SPEC's runs: what a test that only needs a sweep to go through submits
RAY = Path(sys.executable).parent/"ray"


class Cluster(NamedTuple):
    env: dict  # the environment of a process on the head node (RAY_TMPDIR names the cluster's folder)
    port: int  # the head's GCS port (`ray start --port`)
    client_port: int  # the Ray Client server's port (`--ray-client-server-port`)
    head: subprocess.Popen  # `ray start --head --block`, leader of the cluster's session

    def address(self, form:str) -> str:
        return {"auto": "auto", "host:port": f"127.0.0.1:{self.port}", "ray://": f"ray://127.0.0.1:{self.client_port}"}[form]

    def processes(self) -> dict:
        "{pid: command line} of the cluster's processes (its session)."
        out = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True).stdout
        rows = (line.split(None, 2) for line in out.splitlines())
        return {int(r[0]): r[2] if len(r) > 2 else "" for r in rows if len(r) >= 2 and int(r[1]) == self.head.pid}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(cluster:Cluster):
    "End every process of the cluster's session: SIGTERM, then SIGKILL for those left after 15 s."
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        for pid in cluster.processes():
            try: os.kill(pid, sig)
            except ProcessLookupError: pass
        deadline = time.time() + grace
        while time.time() < deadline and any("<defunct>" not in a for a in cluster.processes().values()):
            time.sleep(0.3)
    cluster.head.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster():
    folder = Path(tempfile.mkdtemp(prefix="ipray-", dir="/tmp"))  # short: Ray's socket paths must fit in 107 bytes
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    env["RAY_TMPDIR"] = str(folder)
    port, client_port = free_port(), free_port()
    log = open(folder/"head.log", "w")
    head = subprocess.Popen([str(RAY), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port",
                             str(port),
                             "--ray-client-server-port", str(client_port), "--num-cpus", "2", "--num-gpus", "0",
                             "--object-store-memory", str(200*2**20), "--include-dashboard", "false",
                             "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats"],
                            env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    c = Cluster(env, port, client_port, head)
    try:
        deadline = time.time() + 180
        while "Ray runtime started" not in (folder/"head.log").read_text():
            if head.poll() is not None or time.time() > deadline:
                pytest.fail(f"ray start --head did not start:\n{(folder/'head.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield c
    finally:
        stop(c)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory): return spec_on_disk(tmp_path_factory, SPEC)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory): return spec_on_disk(tmp_path_factory, SMALL)


def part(reference:dict, spec:dict) -> dict:
    "The runs of `spec` in the reference database (`spec`'s runs are some of SPEC's)."
    return {rid: reference[rid] for rid in {run_id(c) for c in expand(spec)}}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "The sweep run once, undisturbed, on the local executor in this process."
    db = tmp_path_factory.mktemp("ref")/"ref.db"
    run_sweep(SPEC, db, progress=False)
    return stored(db)


def driver(cluster:Cluster, spec_file, db, form:str) -> subprocess.Popen:
    "A sweep driver, as a user starts one on the head node (or, with ray://, anywhere that reaches it)."
    return subprocess.Popen(["intrinsic-props", "sweep", str(spec_file), "--db", str(db), "--executor", "ray",
                             "--address", cluster.address(form), "--quiet"],
                            env=cluster.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def server_logs(cluster:Cluster) -> str:
    "The end of the head's Ray Client server logs: why a `ray://` connection failed on the head's side."
    logs = sorted(Path(cluster.env["RAY_TMPDIR"]).glob("**/session_latest/logs/ray_client_server*.err"))
    return "".join(f"\n--- {p.name}:\n{p.read_text()[-1500:]}" for p in logs)


def finish(proc:subprocess.Popen, timeout:int=300, cluster:Cluster=None) -> str:
    "Wait for a driver; its stderr, after checking it succeeded (with the head's client logs when `cluster` is given)."
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err + (server_logs(cluster) if cluster else "")
    return err


def stored_runs(db) -> int:
    "How many runs a database being written holds (0 before its table exists)."
    if not db.exists(): return 0
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try: return con.execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError: return 0
    finally: con.close()


@pytest.mark.parametrize("form", ["auto", "host:port", "ray://"])
def test_each_address_form_gives_the_local_results(cluster, small_file, reference, tmp_path, form):
    db = tmp_path/"sweep.db"
    err = finish(driver(cluster, small_file, db, form), cluster=cluster)
    assert "2 of 2 runs done, 0 failed" in err
    assert stored(db) == part(reference, SMALL)


def test_two_drivers_share_one_database(cluster, spec_file, reference, tmp_path):
    "Two drivers on one database, one on the node and one through the Ray Client: each run is computed and stored once."
    db = tmp_path/"shared.db"
    procs = [driver(cluster, spec_file, db, form) for form in ("auto", "ray://")]
    for p in procs: finish(p)
    assert stored(db) == reference


def test_a_killed_worker_is_retried_and_the_run_stored_once(cluster, small_file, reference, tmp_path):
    db = tmp_path/"worker-killed.db"
    proc, killed, deadline = driver(cluster, small_file, db, "auto"), None, time.time() + 120
    while killed is None and time.time() < deadline and proc.poll() is None:
        busy = [pid for pid, args in cluster.processes().items() if args.startswith("ray::execute_run")]
        if busy:
            killed = busy[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    assert killed is not None, "no Ray worker was seen running a sweep task"
    finish(proc)
    assert stored(db) == part(reference, SMALL)


def test_a_killed_driver_loses_no_finished_run(cluster, spec_file, reference, tmp_path):
    "The driver stores each run as it arrives: SIGKILL it once a run is stored, and what it stored stays; a new driver finishes."
    db = tmp_path/"driver-killed.db"
    proc = driver(cluster, spec_file, db, "host:port")
    deadline = time.time() + 180
    while not stored_runs(db) and proc.poll() is None and time.time() < deadline: time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = stored(db)
    assert 1 <= len(before) and all(reference[rid] == rec for rid, rec in before.items())
    finish(driver(cluster, spec_file, db, "host:port"))
    assert stored(db) == reference
    assert len(before) < len(reference), "the driver finished every run before it was killed; the test did not test a kill"
