"""Checks the library's CUDA paths on one GPU in a few minutes; --cpu-dry-run runs the same checks, small, on the CPU.

GPU:  python benchmarks/gpu_check.py                    # about 2–4 minutes on an H200; the current GPU (--device cuda:1: another)
      python benchmarks/gpu_check.py --full             # also the speed target: N = 100 000, D = 4096 in under 10 s
CPU:  python benchmarks/gpu_check.py --cpu-dry-run      # every check on the CPU, TF32 emulated (tests/test_gpu_check.py runs it)

One line per check (PASS, FAIL, INFO, SKIP), then a summary; exit status 1 when a check fails; --json PATH writes every
figure. The checks (issue 16):

  device      "cuda" resolves to the current GPU with its index, a GPU the machine lacks is a clear error
  neighbours  the pass on the device, fp32, tf32 and tf32-emulated, gives the CPU's lists and distances; rows certified
  memory      the measured peak GPU memory of the pass stays within its plan, also under a tight budget
  speed       the pass at N = 20 000 (100 000 with --full), D = 4096, fp32 and tf32, against the plain product X·Xᵀ
  sharpness   label sharpness of points held on the device, with identical images of different classes, equals the CPU's
  training    a short run: cuDNN autotuning during it and restored after, host syncs per epoch, the reported test loss is
              the float32 evaluation's and close to the CPU's
  pgd         no host sync inside PGD; its images inside the ε-ball and the valid range
  bench       bench_measure.synchronize waits for the device it names

Host syncs are counted twice on a GPU: by CUDA's sync debug mode (what really waits) and, as on a CPU, by the aten
operations that wait for a GPU (data-dependent shapes, values read by Python; `HostSyncs`). Data: the bundled samples,
and for speed mixtures of them (each image a random convex combination of sample images, rounded to uint8).
"""
import argparse
import copy
import json
import math
import os
import sys
import time
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from unittest.mock import patch

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from intrinsic_props.data import binary_task, load_dataset  # noqa: E402
from intrinsic_props.label_sharpness import label_sharpness, sampled_label_sharpness  # noqa: E402
from intrinsic_props.models import build_model  # noqa: E402
from intrinsic_props.neighbors import neighbors, resolve_device  # noqa: E402
from intrinsic_props.robustness import PAPER_EPS, eps_in_units, pgd  # noqa: E402
from intrinsic_props.training import evaluate, train  # noqa: E402

SYNCING = {"nonzero", "_local_scalar_dense", "masked_select", "masked_scatter", "is_nonzero", "equal", "unique",
           "_unique", "_unique2", "unique_consecutive", "unique_dim", "bincount", "repeat_interleave"}


class HostSyncs(TorchDispatchMode):
    "Records the aten operations that make the host wait for a CUDA device, whatever the device: `ops` after the block."
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        masked = name in ("index", "index_put", "index_put_", "_index_put_impl_") and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in (args[1] if len(args) > 1 and args[1] else []))
        if name in SYNCING or masked: self.ops.append(name)
        return func(*args, **(kwargs or {}))


def unchecked(step):
    "An optimizer's `step` run outside `HostSyncs`: on a CPU, Adam reads its CPU step counters (`train` uses fused Adam on CUDA)."
    def run(*args, **kwargs):
        with _disable_current_modes(): return step(*args, **kwargs)
    return run


@contextmanager
def host_syncs(device:torch.device):
    "(aten ops that wait for a GPU, CUDA's own count of synchronisations) inside the block, as a dict filled at its end."
    record = dict(ops=[], cuda=None)
    mode = HostSyncs()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if device.type == "cuda": torch.cuda.set_sync_debug_mode("warn")
        try:
            with mode, patch.object(torch.optim.Adam, "step", unchecked(torch.optim.Adam.step)) if device.type != "cuda" else nullcontext():
                yield record
        finally:
            if device.type == "cuda": torch.cuda.set_sync_debug_mode("default")
    record["ops"] = mode.ops
    if device.type == "cuda": record["cuda"] = sum("synchroniz" in str(w.message) for w in caught)
    return record


class Report:
    "The checks' lines and figures."
    def __init__(self): self.rows = []

    def add(self, name:str, status:str, line:str, **figures):
        self.rows.append(dict(check=name, status=status, line=line, **figures))
        print(f"{status:4} {name:10} {line}", flush=True)

    def run(self, name:str, check, *args):
        "Run one check; an exception is its failure, reported, and the next check runs."
        try: check(self, *args)
        except Exception as e: self.add(name, "FAIL", f"{type(e).__name__}: {e}")


def synchronize(dev:torch.device):
    if dev.type == "cuda": torch.cuda.synchronize(dev)


def check_device(r:Report, dev:torch.device, dry:bool):
    "'cuda' is the current GPU with its index; a missing one is a clear error (on a CPU: a machine with two GPUs emulated)."
    def probe():
        count = torch.cuda.device_count()
        current = resolve_device("cuda")
        try: resolve_device(f"cuda:{count}"); message = "no error"
        except ValueError as e: message = str(e)
        return count, current, message
    if dry:
        with patch("torch.cuda.is_available", lambda: True), patch("torch.cuda.device_count", lambda: 2), \
             patch("torch.cuda.current_device", lambda: 1):
            count, current, message = probe()
        ok = current == torch.device("cuda", 1)
    else:
        count, current, message = probe()
        ok = current == torch.device("cuda", torch.cuda.current_device()) and resolve_device(dev) == dev
    ok = ok and f"has {count} CUDA device(s)" in message
    r.add("device", "PASS" if ok else "FAIL", f"'cuda' → {current} of {count}{' (emulated)' if dry else ''}; cuda:{count} → {message!r}")


def sample_points():
    "Bundled chest X-rays (uint8 and in [0, 1]) and random float32 points with planted copies, with their labels."
    chest = load_dataset("chest-xray-pneumonia-64-sample", "train+test")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 300, generator=g)
    x[2990:] = x[:10]  # copies, some across classes
    y = torch.arange(3000) % 2
    return [("chest uint8", chest.images.reshape(len(chest), -1), chest.labels),
            ("chest [0,1]", chest.flat()/255, chest.labels), ("random fp32", x, y)]


def check_neighbours(r:Report, dev:torch.device, dry:bool):
    "The device's pass (fp32, tf32, tf32-emulated) equals the CPU's; the share of rows each certifies."
    precisions = ["fp32", "tf32-emulated"] + ([] if dry else ["tf32"])
    for name, x, y in sample_points():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = neighbors(x, y, k=20, device="cpu")
            shares, ok = {}, True
            for p in precisions:
                nb = neighbors(x, y, k=20, device=dev, precision=p)
                rtol = max(nb.tolerance[0], 1e-12)
                ok &= (torch.equal(nb.indices, ref.indices) and torch.equal(nb.other_index, ref.other_index)
                       and torch.allclose(nb.distances, ref.distances, rtol=rtol, atol=nb.tolerance[1])
                       and torch.allclose(nb.other_distance, ref.other_distance, rtol=1e-12, atol=0))
                shares[p] = 1 - nb.n_uncapped/len(x)
        r.add("neighbours", "PASS" if ok else "FAIL", f"{name} N={len(x)} D={x.shape[1]} on {dev}: same as the CPU; rows certified "
              + ", ".join(f"{p} {s:.1%}" for p, s in shares.items()), data=name, certified=shares)


def mixtures(n:int, dev:torch.device, seed:int=0) -> tuple:
    "n uint8 64×64 images, each a random convex combination of 8 bundled chest X-rays, and their labels (on the CPU)."
    chest = load_dataset("chest-xray-pneumonia-64-sample", "train+test")
    base = chest.flat().to(dev)
    g = torch.Generator(device=dev).manual_seed(seed)
    out = torch.empty(n, base.shape[1], dtype=torch.uint8, device=dev)
    for s in range(0, n, 8192):
        m = min(8192, n - s)
        w = torch.rand(m, 8, generator=g, device=dev)
        mix = torch.zeros(m, len(base), device=dev).scatter_add_(1, torch.randint(0, len(base), (m, 8), generator=g, device=dev), w)
        out[s:s + m] = (mix/w.sum(1, keepdim=True) @ base).round().clamp(0, 255).to(torch.uint8)
    return out.cpu(), torch.arange(n) % 2


def check_memory(r:Report, dev:torch.device, dry:bool, n:int):
    "Measured peak GPU memory of the pass against its plan, with the default budget and with a tight one."
    if dev.type != "cuda":
        r.add("memory", "SKIP", "the CPU has no allocator statistics; the plan is checked by tests/test_neighbors.py"); return
    from intrinsic_props.neighbors import plan_memory
    x, y = mixtures(n, dev)
    tight = plan_memory(n, x.shape[1], 35, 6, dev, x.numel(), memory=2**40, block_size=500)[1]  # k = 20: c = 35, c_o = 6
    for label, memory in (("default budget", None), ("tight budget", tight)):
        torch.cuda.synchronize(dev); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        nb = neighbors(x, y, k=20, device=dev, memory=memory)
        torch.cuda.synchronize(dev)
        peak = torch.cuda.max_memory_allocated(dev) - base
        ok = peak <= 1.05*nb.peak_bytes and (memory is None or peak <= memory)
        r.add("memory", "PASS" if ok else "FAIL", f"N={n} D=4096 {label}: measured peak {peak/2**20:.0f} MiB, planned "
              f"{nb.peak_bytes/2**20:.0f} MiB (ratio {peak/nb.peak_bytes:.2f}), blocks of {nb.block_size}"
              + (f", budget {memory/2**20:.0f} MiB" if memory else ""), measured=peak, planned=nb.peak_bytes, budget=memory)


def floor_seconds(x:torch.Tensor, dev:torch.device, block:int, precision:str) -> float:
    "The plain product x·xᵀ in float32 row blocks (the least an exact all-pairs method computes)."
    from bench_measure import floor_seconds as floor
    from intrinsic_props.neighbors import matmul_precision
    with matmul_precision(precision): return floor(x, str(dev), block)


def check_speed(r:Report, dev:torch.device, dry:bool, sizes:list):
    "Seconds of the pass against the floor, fp32 and TF32, on uint8 64×64 mixtures."
    from intrinsic_props.neighbors import BLOCK_CAP
    for n in sizes:
        x, y = mixtures(n, dev)
        for p in ("fp32", "tf32-emulated" if dry else "tf32"):
            neighbors(x[:2000], y[:2000], k=20, device=dev, precision=p)  # warm-up: kernels, allocator
            synchronize(dev); t = time.perf_counter()
            nb = neighbors(x, y, k=20, device=dev, precision=p)
            synchronize(dev); seconds = time.perf_counter() - t
            floor = floor_seconds(x.float(), dev, BLOCK_CAP[dev.type], "tf32" if p == "tf32" else "fp32")
            target = n == 100_000 and dev.type == "cuda"
            status = ("PASS" if seconds < 10 else "FAIL") if target else "INFO"
            r.add("speed", status, f"N={n} D=4096 {p}: {seconds:.2f} s (floor {floor:.2f} s, ratio {seconds/floor:.2f})"
                  + (", target < 10 s" if target else "") + f"; {1 - nb.n_uncapped/n:.1%} rows certified",
                  n=n, precision=p, seconds=seconds, floor=floor, certified=1 - nb.n_uncapped/n)


def check_sharpness(r:Report, dev:torch.device, dry:bool):
    "Label sharpness of points held on the device, with identical images of different classes, equals the CPU's."
    g = torch.Generator().manual_seed(1)
    x = torch.randn(600, 50, generator=g)
    x[590:] = x[:10]
    y = (torch.arange(600) + (torch.arange(600) >= 590)) % 2  # the copies carry the other label
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu, here = label_sharpness(x, y, device="cpu"), label_sharpness(x.to(dev), y.to(dev), device=dev)
        s_cpu, s_here = sampled_label_sharpness(x, y, m=300, seed=2), sampled_label_sharpness(x.to(dev), y, m=300, seed=2)
    ok = (cpu.value == here.value == math.inf and cpu.distinct_value == here.distinct_value and cpu.pair == here.pair
          and s_cpu.value == s_here.value and s_cpu.pair == s_here.pair)
    r.add("sharpness", "PASS" if ok else "FAIL", f"points on {dev}: K_F {here.value}, over distinct images {here.distinct_value:.6g} "
          f"(CPU {cpu.distinct_value:.6g}); sampled {s_here.value:.6g} (CPU {s_cpu.value:.6g})")


def check_training(r:Report, dev:torch.device, dry:bool):
    "cuDNN autotuning during a run and restored after; host syncs per epoch; reported test loss = float32 evaluation ≈ CPU's."
    task = binary_task(load_dataset("pneumoniamnist-sample"), classes=("normal", "pneumonia"), n_train=200, n_test=100,
                       seed=0, **({} if dry else dict(size=64)))
    arch = "small_cnn" if dry else "resnet18"
    before = torch.backends.cudnn.benchmark
    counts, flags = {}, []
    for epochs in (1, 3):
        model = build_model(arch, 1, seed=0)
        hook = model.register_forward_pre_hook(lambda m, a: flags.append(torch.backends.cudnn.benchmark) if m.training else None)
        with host_syncs(dev) as syncs: result = train(model, task, epochs=epochs, batch_size=20, device=dev, progress=False)
        hook.remove()
        counts[epochs] = syncs
    ops = (len(counts[3]["ops"]) - len(counts[1]["ops"]))/2
    real = None if dev.type != "cuda" else (counts[3]["cuda"] - counts[1]["cuda"])/2
    autotuned = all(flags) if dev.type == "cuda" else not any(flags)
    restored = torch.backends.cudnn.benchmark == before
    again = evaluate(model, task.test)
    on_cpu = evaluate(copy.deepcopy(model).cpu(), task.test)
    same = abs(result.test_loss - again.loss) <= 1e-6*abs(again.loss)
    close = abs(again.loss - on_cpu.loss) <= 1e-4*max(1.0, abs(on_cpu.loss))
    ok = ops <= 2 and (real is None or real <= 2) and autotuned and restored and same and close
    r.add("training", "PASS" if ok else "FAIL", f"{arch}, 10 steps an epoch on {dev}: host syncs per epoch {ops:g} (aten)"
          + ("" if real is None else f", {real:g} (CUDA)") + f"; cudnn.benchmark {'on' if dev.type == 'cuda' else 'off'} in "
          f"training: {autotuned}, restored: {restored}; test loss {result.test_loss:.6f} = evaluate {again.loss:.6f}: {same}, "
          f"CPU {on_cpu.loss:.6f}: {close}", syncs_per_epoch=ops, cuda_syncs_per_epoch=real, test_loss=result.test_loss,
          cpu_test_loss=on_cpu.loss)


def check_pgd(r:Report, dev:torch.device, dry:bool):
    "No host sync inside PGD; its images inside the ball and the range."
    task = binary_task(load_dataset("pneumoniamnist-sample"), classes=("normal", "pneumonia"), n_train=100, n_test=64, seed=0)
    model = build_model("small_cnn", 1, seed=0)
    train(model, task, epochs=2, device=dev, progress=False)
    model.eval()
    x, y = task.test.images.to(dev).float(), task.test.labels.to(dev)
    eps, bounds = eps_in_units(PAPER_EPS, task.test.intensity_range), task.test.intensity_range
    pgd(model, x[:4], y[:4], eps, bounds, steps=2, generator=torch.Generator().manual_seed(0))  # warm-up
    with host_syncs(dev) as syncs: adv = pgd(model, x, y, eps, bounds, steps=10, generator=torch.Generator().manual_seed(0))
    slack = eps*1e-6 + 2**-22*max(abs(bounds[0]), abs(bounds[1]))  # x ± eps rounded to float32
    inside = bool(((adv - x).abs() <= eps + slack).all() and (adv >= bounds[0]).all() and (adv <= bounds[1]).all())
    ok = not syncs["ops"] and not syncs["cuda"] and inside
    r.add("pgd", "PASS" if ok else "FAIL", f"10 steps on {len(x)} images on {dev}: host syncs {len(syncs['ops'])} (aten: "
          f"{sorted(set(syncs['ops'])) or 'none'})" + ("" if syncs["cuda"] is None else f", {syncs['cuda']} (CUDA)")
          + f"; inside the ball and the range: {inside}")


def check_bench(r:Report, dev:torch.device, dry:bool):
    "bench_measure.synchronize waits for the device it is given (by index), not only the current one."
    import bench_measure
    called = []
    with patch("torch.cuda.synchronize", lambda d=None: called.append(d)):
        bench_measure.synchronize(str(dev) if dev.type == "cuda" else "cuda:1")
    ok = called and called[0] is not None and torch.device(called[0]).index == (dev.index if dev.type == "cuda" else 1)
    r.add("bench", "PASS" if ok else "FAIL", f"synchronize({'cuda:1' if dev.type != 'cuda' else dev}) waits for {called}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", help="the GPU to check (default: the current one)")
    p.add_argument("--cpu-dry-run", action="store_true", help="run every check on the CPU, small, TF32 emulated")
    p.add_argument("--full", action="store_true", help="also time N = 100 000 (the speed target)")
    p.add_argument("--json", help="write the results to this file")
    a = p.parse_args(argv)
    dry = a.cpu_dry_run
    if not dry and not torch.cuda.is_available(): p.error("torch sees no CUDA device here; run with --cpu-dry-run on a CPU")
    dev = torch.device("cpu") if dry else resolve_device(a.device)
    name = "CPU (dry run)" if dry else f"{torch.cuda.get_device_name(dev)}, CUDA {torch.version.cuda}"
    print(f"gpu_check on {dev}: {name}; torch {torch.__version__}", flush=True)
    t0 = time.perf_counter()
    r = Report()
    r.run("device", check_device, dev, dry)
    r.run("neighbours", check_neighbours, dev, dry)
    r.run("memory", check_memory, dev, dry, 20_000)
    r.run("speed", check_speed, dev, dry, [2000] if dry else [20_000] + ([100_000] if a.full else []))
    r.run("sharpness", check_sharpness, dev, dry)
    r.run("training", check_training, dev, dry)
    r.run("pgd", check_pgd, dev, dry)
    r.run("bench", check_bench, dev, dry)
    failed = [row["check"] for row in r.rows if row["status"] == "FAIL"]
    print(f"{len(r.rows)} lines, {len(failed)} failed{': ' + ', '.join(sorted(set(failed))) if failed else ''}; "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    if a.json: Path(a.json).write_text(json.dumps(dict(device=str(dev), name=name, rows=r.rows), indent=1, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
