"""Checks the library's CUDA paths on one GPU in under 10 minutes; --cpu-dry-run runs the same checks, small, on the CPU.

GPU:  python benchmarks/gpu_check.py                    # 4–6 minutes on an H200; the current GPU (--device cuda:1: another)
      python benchmarks/gpu_check.py --full             # also fp32 at N = 1 000 000 (+ ~2 minutes)
CPU:  python benchmarks/gpu_check.py --cpu-dry-run      # every check on the CPU, small, TF32 emulated (tests/test_gpu_check.py)

One line per check (PASS, FAIL, INFO, SKIP), then a summary; exit status 1 when a check fails; --json PATH writes every
figure. The checks (issue 16):

  device      "cuda" resolves to the current GPU with its index, a GPU the machine lacks is a clear error
  precision   matmul_precision and ieee_float32 restore every float32 precision setting exactly, from five starting
              states (legacy, generic, mixed); torch.get_float32_matmul_precision() works inside; on a GPU the
              products really are IEEE float32 inside (and TF32 with "tf32") even when the caller allows TF32
  autocast    the pass and evaluate inside a caller's torch.autocast region (bf16, fp16) give what they give outside
  neighbours  the pass on the device (fp32, tf32, tf32-emulated; points on the host and on the device) gives the CPU's
              lists, distances within Neighbors.tolerance; rows certified
  scale       N = 100 000 and 1 000 000 uint8 64×64 (D = 4096): seconds per stage, measured peak memory against the
              plan, blocks, rows certified, and exactness against float64 brute force on sampled rows; points on the
              host and on the device; targets: 100 000 in < 1 s, 1 000 000 in < 60 s (default precision)
  default     the default GPU precision (GPU_PRECISION) is the faster at N = 100 000
  memory      a tight budget holds; the plan for N = 1 000 000, D = 4096 fits this device's memory
  paper       the paper's protocol (224×224 float32 in [0, 255], N = 1750): latency of measure(), fp32 and default
  sharpness   label sharpness of points held on the device, with identical images of different classes, equals the CPU's
  training    a short run: cuDNN autotuning during it and restored after, host syncs per epoch, the reported test loss is
              the float32 evaluation's and close to the CPU's
  throughput  ResNet-18/50 and VGG-16 at 224 px, bf16 + channels_last: train()'s images/s against the best bare step
  attacks     FGSM and PGD images, Δloss and activations on the device against the CPU's (IEEE float32 on both)
  pgd         no host sync inside PGD; its images inside the ε-ball and the valid range
  bench       the benchmarks' synchronize (benchmarks/common.py) waits for the device it names

Host syncs are counted twice on a GPU: by CUDA's sync debug mode (what really waits) and, as on a CPU, by the aten
operations that wait for a GPU (data-dependent shapes, values read by Python; `HostSyncs`). Data: the bundled samples,
and for scale mixtures of them (each image a random convex combination of sample images, rounded to uint8).
"""
import argparse
import copy
import json
import math
import statistics
import sys
import time
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from unittest.mock import patch

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import synchronize  # noqa: E402
from intrinsic_props.data import PROTOCOLS, ImageSet, binary_task, load_dataset, preprocess  # noqa: E402
from intrinsic_props.label_sharpness import label_sharpness, sampled_label_sharpness  # noqa: E402
from intrinsic_props.models import build_model  # noqa: E402
from intrinsic_props.devices import (FP32_NODES, _node, ieee_float32, matmul_precision, precision_state,  # noqa: E402
                                     resolve_device, restore_precision)
from intrinsic_props.neighbors import GPU_PRECISION, INDEX_CAP, neighbors, pair_error, plan_memory, resolve_precision  # noqa: E402
from intrinsic_props.representations import activations  # noqa: E402
from intrinsic_props.robustness import PAPER_EPS, attack, attack_eval, eps_in_units, pgd  # noqa: E402
from intrinsic_props.training import cudnn_autotune, evaluate, train, train_settings  # noqa: E402

SYNCING = {"nonzero", "_local_scalar_dense", "masked_select", "masked_scatter", "is_nonzero", "equal", "unique",
           "_unique", "_unique2", "unique_consecutive", "unique_dim", "bincount", "repeat_interleave"}
# what each check runs on a GPU and, in brackets, in the CPU dry run
SIZES = dict(gpu=dict(scale=[100_000, 1_000_000], rows=500, tight=20_000, paper=1750,
                      models=["resnet18", "resnet50", "vgg16"], size=224),
             dry=dict(scale=[600, 1200], rows=50, tight=600, paper=40, models=["small_cnn"], size=28))
TARGETS = {100_000: 1.0, 1_000_000: 60.0}  # seconds of the pass at the default precision on one H200


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
        finally:
            if torch.cuda.is_available(): torch.cuda.empty_cache()


@contextmanager
def quiet():
    "Warnings off inside the block (duplicates in the sample sets, presets at other image sizes)."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def check_device(r:Report, dev:torch.device, dry:bool, sizes:dict):
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
    r.add("device", "PASS" if ok else "FAIL",
          f"'cuda' → {current} of {count}{' (emulated)' if dry else ''}; cuda:{count} → {message!r}")


STATES = {"default": lambda: None, "legacy high": lambda: torch.set_float32_matmul_precision("high"),
          "legacy medium": lambda: torch.set_float32_matmul_precision("medium"),
          "generic tf32": lambda: setattr(torch.backends, "fp32_precision", "tf32"),
          "mixed": lambda: setattr(torch.backends.cuda.matmul, "fp32_precision", "tf32")}


def observed() -> tuple:
    "Every fp32_precision flag and what the legacy getter says (or that it fails)."
    try: legacy = torch.get_float32_matmul_precision()
    except RuntimeError: legacy = "fails"
    return {p: _node(p).fp32_precision for p in FP32_NODES}, legacy


def product_error(dev:torch.device) -> float:
    "Largest relative error of a float32 product of 512×512 random matrices against float64, as configured now."
    g = torch.Generator(device=dev).manual_seed(0)
    a, b = torch.rand(512, 512, generator=g, device=dev), torch.rand(512, 512, generator=g, device=dev)
    exact = a.double() @ b.double()
    return float(((a @ b).double() - exact).abs().max()/exact.abs().max())


def check_precision(r:Report, dev:torch.device, dry:bool, sizes:dict):
    "Every setting restored exactly from five starting states; the legacy getter works inside; the products follow (GPU)."
    pristine, bad, errors = precision_state(), [], {}
    for name, setup in STATES.items():
        setup()
        before = observed()
        for p, inside in (("fp32", "highest"), ("tf32", "high"), ("tf32-emulated", "highest")):
            with matmul_precision(p):
                if torch.get_float32_matmul_precision() != inside: bad.append(f"{name}: {p} inside")
                if not dry and name == "legacy high": errors[p] = product_error(dev)
            if observed() != before: bad.append(f"{name}: {p} after")
        with ieee_float32(torch.device("cuda")):
            if torch.get_float32_matmul_precision() != "highest" or torch.backends.cudnn.conv.fp32_precision != "ieee": bad.append(f"{name}: ieee inside")
        if observed() != before: bad.append(f"{name}: ieee after")
        restore_precision(pristine)
    line = f"{len(STATES)} starting states × fp32/tf32/tf32-emulated/ieee_float32: restored exactly, legacy getter inside: {not bad}"
    ok = not bad
    # the caller allows TF32; inside "fp32" the products must be IEEE (error ~1e-7), inside "tf32" TF32 (~1e-4)
    if errors:
        ok &= errors["fp32"] < 1e-5 < errors["tf32"]
        line += f"; product errors with the caller's TF32 on: fp32 {errors['fp32']:.1e}, tf32 {errors['tf32']:.1e}"
    r.add("precision", "PASS" if ok else "FAIL", line + (f" — {bad}" if bad else ""), problems=bad,
          product_errors=errors)


def check_autocast(r:Report, dev:torch.device, dry:bool, sizes:dict):
    "The pass (default precision, margin 0: uncapped rows too) and evaluate inside torch.autocast equal what they give outside."
    x = torch.randn(1500, 300, generator=torch.Generator().manual_seed(0))
    y = torch.arange(1500) % 2
    task = binary_task(load_dataset("pneumoniamnist-sample"), classes=("normal", "pneumonia"), n_train=100, n_test=100,
                       seed=0)
    model = build_model("small_cnn", 1, seed=0).to(dev)
    with quiet():
        ref, score = neighbors(x, y, k=10, device=dev, margin=0), evaluate(model, task.test)
    dtypes = [torch.bfloat16] + ([] if dry else [torch.float16])
    same = {}
    for dt in dtypes:
        with quiet(), torch.autocast(dev.type, dtype=dt):
            nb, s = neighbors(x, y, k=10, device=dev, margin=0), evaluate(model, task.test)
        same[str(dt)] = (torch.equal(nb.indices, ref.indices) and torch.equal(nb.distances, ref.distances)
                         and torch.equal(nb.other_index, ref.other_index) and s == score)
    r.add("autocast", "PASS" if all(same.values()) else "FAIL",
          f"neighbours ({ref.n_uncapped} uncapped rows) and evaluate inside "
          f"torch.autocast({dev.type!r}) on {dev}: same as outside — "
          + ", ".join(f"{d}: {v}" for d, v in same.items()), same=same)


def sample_points():
    "Bundled chest X-rays (uint8 and in [0, 1]) and random float32 points with planted copies, with their labels."
    chest = load_dataset("chest-xray-pneumonia-64-sample", "train+test")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1500, 300, generator=g)
    x[1490:] = x[:10]  # copies, some across classes
    y = torch.arange(1500) % 2
    return [("chest uint8", chest.images.reshape(len(chest), -1), chest.labels),
            ("chest [0,1]", chest.flat()/255, chest.labels), ("random fp32", x, y)]


def agree(nb, ref) -> bool:
    "Same lists; distances each within `Neighbors.tolerance` of the exact ones, so within twice it of each other."
    rtol, atol = nb.tolerance
    o_rtol = pair_error("fp64", nb.dim)[0]  # nearest other-class distances: the float64 route
    return (torch.equal(nb.indices, ref.indices) and torch.equal(nb.other_index, ref.other_index)
            and bool(((nb.distances - ref.distances).abs() <= 2*(rtol*ref.distances + atol)).all())
            and bool(((nb.other_distance - ref.other_distance).abs() <= 2*o_rtol*ref.other_distance + 1e-300).all()))


def check_neighbors(r:Report, dev:torch.device, dry:bool, sizes:dict):
    "The device's pass (fp32, tf32, tf32-emulated; points on the host and on the device) equals the CPU's; rows certified."
    # on a CPU, fp32 on "the device" is the reference itself
    precisions = ["tf32-emulated"] if dry else ["fp32", "tf32-emulated", "tf32"]
    for name, x, y in sample_points():
        with quiet():
            ref = neighbors(x, y, k=20, device="cpu")
            shares, ok = {}, True
            for p in precisions:
                nb = neighbors(x, y, k=20, device=dev, precision=p)
                ok &= agree(nb, ref)
                shares[p] = 1 - nb.n_uncapped/len(x)
            # points already on the device
            if not dry: ok &= agree(neighbors(x.to(dev), y.to(dev), k=20, device=dev), ref)
        r.add("neighbours", "PASS" if ok else "FAIL", f"{name} N={len(x)} D={x.shape[1]} on {dev}"
              + ("" if dry else ", points on the host and on the device")
              + ": the CPU's lists, distances within the tolerance; rows certified "
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


def brute_force_rows(x:torch.Tensor, y:torch.Tensor, rows:torch.Tensor, k:int, dev:torch.device) -> tuple:
    "Exact k nearest (ties by index) and nearest other-class point of `rows` of uint8 points x, by float64 Gram sums (exact for integers)."
    n = len(x)
    xr = x[rows].to(dev, torch.float64)
    d2 = torch.empty(len(rows), n, dtype=torch.float64, device=dev)
    for s in range(0, n, 65536):
        xc = x[s:s + 65536].to(dev, torch.float64)
        d2[:, s:s + len(xc)] = (xr.square().sum(1, keepdim=True) + xc.square().sum(1) - 2*xr @ xc.T)
    d2[torch.arange(len(rows), device=dev), rows.to(dev)] = math.inf
    key = d2*n + torch.arange(n, device=dev, dtype=torch.float64)  # integers below 2^53: the order of (d², index)
    idx = key.topk(k, 1, largest=False).indices
    dist = d2.gather(1, idx).sqrt()
    yd = y.to(dev)
    key.masked_fill_(yd[rows.to(dev)][:, None] == yd[None], math.inf)
    oidx = key.argmin(1)
    return dist.cpu(), idx.cpu(), d2.gather(1, oidx[:, None])[:, 0].sqrt().cpu(), oidx.cpu()


def timed_pass(x, y, dev:torch.device, precision:str) -> tuple:
    "(Neighbors, seconds, measured peak bytes or None) of one pass with the device's peak memory statistics reset."
    if dev.type == "cuda":
        synchronize(dev); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(dev)
    base = torch.cuda.memory_allocated(dev) if dev.type == "cuda" else 0
    t = time.perf_counter()
    with quiet(): nb = neighbors(x, y, k=20, device=dev, precision=precision)
    synchronize(dev)
    seconds = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated(dev) - base if dev.type == "cuda" else None
    return nb, seconds, peak


def floor_seconds(x:torch.Tensor, dev:torch.device, block:int, precision:str) -> float:
    "The plain product x·xᵀ in float32 row blocks (the least an exact all-pairs method computes)."
    from bench_measure import floor_seconds as floor
    with matmul_precision(precision): return floor(x, str(dev), block)


def check_scale(r:Report, dev:torch.device, dry:bool, sizes:dict, full:bool, timings:dict):
    "Stages, memory against the plan, exactness on sampled rows, at N = 100 000 and 1 000 000 (points on the host and on the device)."
    from intrinsic_props.neighbors import BLOCK_CAP
    default = resolve_precision("auto", dev)
    other = "fp32" if default != "fp32" else ("tf32-emulated" if dry else "tf32")
    small, large = sizes["scale"]
    xw, yw = mixtures(2000, dev, seed=1)
    for p in (default, other): timed_pass(xw, yw, dev, p)  # warm-up: kernels, allocator, cuBLAS handles
    runs = [(small, default, "host"), (small, other, "host")] + ([] if dry else [(small, default, "device")]) + [(large, default, "host")]
    runs += [(large, other, "host")] if full else []
    for n in (small, large):
        x, y = mixtures(n, dev)
        for m, p, where in runs:
            if m != n: continue
            xs, ys = (x.to(dev), y.to(dev)) if where == "device" else (x, y)
            nb, seconds, peak = timed_pass(xs, ys, dev, p)
            del xs, ys
            rows = torch.randperm(n, generator=torch.Generator().manual_seed(n))[:sizes["rows"]]
            d, i, od, oi = brute_force_rows(x, y, rows, 20, dev)
            exact = (torch.equal(nb.indices[rows], i) and torch.equal(nb.distances[rows], d)
                     and torch.equal(nb.other_index[rows], oi) and torch.equal(nb.other_distance[rows], od))
            target = TARGETS.get(n) if dev.type == "cuda" and p == default and where == "host" else None
            within = peak is None or peak <= 1.05*nb.peak_bytes
            ok = exact and within and (target is None or seconds < target)
            timings[(n, p, where)] = seconds
            stages = ", ".join(f"{s} {v:.2f}" for s, v in nb.stages.items())
            memory = f"peak {peak/2**30:.2f} GiB of {nb.peak_bytes/2**30:.2f} GiB planned ({peak/nb.peak_bytes:.2f})" if peak else \
                     f"planned peak {nb.peak_bytes/2**30:.2f} GiB (no allocator statistics here)"
            r.add("scale", "PASS" if ok else "FAIL", f"N={n} D=4096 {p}, points on the {where}: {seconds:.2f} s"
                  + (f" (target < {target:g} s)" if target else "")
                  + f" [{stages}]; {memory}; blocks of {nb.block_size}; "
                  f"{1 - nb.n_uncapped/n:.2%} rows certified; {len(rows)} sampled rows = float64 brute force: {exact}",
                  n=n, precision=p, input=where, seconds=seconds, stages=nb.stages, peak=peak, planned=nb.peak_bytes,
                  block_size=nb.block_size, certified=1 - nb.n_uncapped/n, exact=exact, target=target)
        if n == small:
            for p in (default, other):
                floor = floor_seconds(x.float(), dev, BLOCK_CAP[dev.type], "tf32" if p == "tf32" else "fp32")
                r.add("scale", "INFO",
                      f"N={n} D=4096: the plain product X·Xᵀ ({'tf32' if p == 'tf32' else 'fp32'}) takes "
                      f"{floor:.2f} s; the pass ({p}) {timings[(n, p, 'host')]/floor:.2f}× that", n=n, precision=p,
                      floor=floor)
        del x, y


def check_default(r:Report, dev:torch.device, dry:bool, sizes:dict, timings:dict):
    "The default GPU precision is the faster of fp32 and TF32 at N = 100 000."
    n = sizes["scale"][0]
    default = resolve_precision("auto", dev)
    other = "fp32" if default != "fp32" else ("tf32-emulated" if dry else "tf32")
    t_default, t_other = timings.get((n, default, "host")), timings.get((n, other, "host"))
    if t_default is None or t_other is None:
        r.add("default", "SKIP", "the scale check did not time both precisions"); return
    status = "INFO" if dry else ("PASS" if t_default <= 1.1*t_other else "FAIL")
    r.add("default", status,
          f"N={n}: default precision on {dev.type} {default} {t_default:.2f} s, {other} {t_other:.2f} s"
          + ("" if dry else f" — GPU_PRECISION = {GPU_PRECISION!r} is "
                            f"{'the faster' if t_default <= t_other else 'slower: flip it'}"),
          default=default, seconds_default=t_default, seconds_other=t_other)


def check_memory(r:Report, dev:torch.device, dry:bool, sizes:dict):
    "A tight budget (planned for blocks of 500) holds; the plan for N = 1 000 000, D = 4096 fits this device (an H200's 139 GiB in the dry run)."
    n = sizes["tight"]
    c, c_o = (65, 24) if GPU_PRECISION != "fp32" else (35, 6)  # k = 20 at the default GPU precision
    if dev.type == "cuda":
        x, y = mixtures(n, dev)
        tight = plan_memory(n, x.shape[1], c, c_o, dev, x.numel(), memory=2**40, block_size=500)[1]
        torch.cuda.synchronize(dev); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        with quiet(): nb = neighbors(x, y, k=20, device=dev, memory=tight)
        torch.cuda.synchronize(dev)
        peak = torch.cuda.max_memory_allocated(dev) - base
        ok = peak <= tight
        r.add("memory", "PASS" if ok else "FAIL",
              f"N={n} D=4096, budget {tight/2**20:.0f} MiB: measured peak {peak/2**20:.0f} MiB, "
              f"blocks of {nb.block_size}", measured=peak, budget=tight)
        budget, where = None, torch.cuda.get_device_name(dev)
    else:
        budget, where = int(0.9*138*2**30), "an H200 (emulated: 138 GiB free)"
    big = 1_000_000
    B, peak, scratch = plan_memory(big, 4096, c, c_o,
                                   torch.device("cuda", dev.index or 0) if dev.type == "cuda" else torch.device("cuda"),
                                   big*4096, memory=budget)
    fits = B*big <= INDEX_CAP and (budget is None or peak <= budget)
    r.add("memory", "PASS" if fits else "FAIL",
          f"plan for N={big:,} uint8 D=4096 ({c}+{c_o} candidates) on {where}: blocks of {B} "
          f"({-(-big//B)} blocks), peak {peak/2**30:.1f} GiB, scratch {scratch/2**30:.1f} GiB; panel {B*big:,} "
          "elements ≤ 2^31 − 1",
          block_size=B, planned=peak, budget=budget)


def paper_images(n:int, dev:torch.device) -> ImageSet:
    "n mixtures at the paper's protocol: 224×224, scaled per image to [0, 255], float32."
    x, y = mixtures(n, dev, seed=2)
    data = ImageSet(x.reshape(n, 1, 64, 64), y, ["a", "b"], name="mixtures")
    return preprocess(data, **PROTOCOLS["paper"])


def check_paper(r:Report, dev:torch.device, dry:bool, sizes:dict):
    "Latency of measure() on the paper's protocol (224×224 float32 in [0, 255], N = 1750), fp32 and the default precision."
    from intrinsic_props.measure import measure
    n = sizes["paper"]
    data = paper_images(n, dev)
    with quiet(): measure(data[torch.arange(min(100, n))], device=dev)  # warm-up
    out = {}
    for p in dict.fromkeys(("fp32", resolve_precision("auto", dev))):
        synchronize(dev); t = time.perf_counter()
        with quiet(): rec = measure(data, device=dev, precision=p)
        synchronize(dev)
        out[p] = (time.perf_counter() - t, rec)
    values = {p: (rec.d_mle, rec.d_twonn, rec.k_f) for p, (_, rec) in out.items()}
    same = len(set(values.values())) == 1
    r.add("paper", "PASS" if same else "FAIL",
          f"measure() on N={n} images 224×224 float32 [0, 255] (D = 50 176) on {dev}: "
          + ", ".join(f"{p} {s:.2f} s (pass {rec.seconds_pass:.2f} s)" for p, (s, rec) in out.items())
          + f"; d_mle, d_twonn, K_F the same for each precision: {same}",
          seconds={p: s for p, (s, _) in out.items()}, values=values)


def check_sharpness(r:Report, dev:torch.device, dry:bool, sizes:dict):
    "Label sharpness of points held on the device, with identical images of different classes, equals the CPU's."
    g = torch.Generator().manual_seed(1)
    x = torch.randn(600, 50, generator=g)
    x[590:] = x[:10]
    y = (torch.arange(600) + (torch.arange(600) >= 590)) % 2  # the copies carry the other label
    with quiet():
        cpu, here = label_sharpness(x, y, device="cpu"), label_sharpness(x.to(dev), y.to(dev), device=dev)
        s_cpu, s_here = sampled_label_sharpness(x, y, m=300, seed=2), sampled_label_sharpness(x.to(dev), y, m=300, seed=2)
    ok = (cpu.value == here.value == math.inf and cpu.distinct_value == here.distinct_value and cpu.pair == here.pair
          and s_cpu.value == s_here.value and s_cpu.pair == s_here.pair)
    r.add("sharpness", "PASS" if ok else "FAIL",
          f"points on {dev}: K_F {here.value}, over distinct images {here.distinct_value:.6g} "
          f"(CPU {cpu.distinct_value:.6g}); sampled {s_here.value:.6g} (CPU {s_cpu.value:.6g})")


def check_training(r:Report, dev:torch.device, dry:bool, sizes:dict):
    "cuDNN autotuning during a run and restored after; host syncs per epoch; reported test loss = float32 evaluation ≈ CPU's."
    task = binary_task(load_dataset("pneumoniamnist-sample"), classes=("normal", "pneumonia"), n_train=200, n_test=100,
                       seed=0, **({} if dry else dict(size=64)))
    arch = "small_cnn" if dry else "resnet18"
    before = torch.backends.cudnn.benchmark
    counts, flags = {}, []
    for epochs in (1, 3):
        model = build_model(arch, 1, seed=0)
        hook = model.register_forward_pre_hook(lambda m, a: flags.append(torch.backends.cudnn.benchmark) if m.training else None)
        with host_syncs(dev) as syncs: result = train(model, task, epochs=epochs, batch_size=20, device=dev,
                                                      progress=False)
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
    r.add("training", "PASS" if ok else "FAIL",
          f"{arch}, 10 steps an epoch on {dev}: host syncs per epoch {ops:g} (aten)"
          + ("" if real is None else f", {real:g} (CUDA)")
          + f"; cudnn.benchmark {'on' if dev.type == 'cuda' else 'off'} in "
          f"training: {autotuned}, restored: {restored}; test loss {result.test_loss:.6f} = evaluate "
          f"{again.loss:.6f}: {same}, "
          f"CPU {on_cpu.loss:.6f}: {close}", syncs_per_epoch=ops, cuda_syncs_per_epoch=real, test_loss=result.test_loss,
          cpu_test_loss=on_cpu.loss)


def bare_images_per_second(arch:str, size:int, batch:int, dev:torch.device, steps:int, channels_last:bool) -> float:
    "Images/s of the barest training step: one batch already on the device, bf16 autocast (CUDA), fused Adam, cuDNN autotuned."
    model = build_model(arch, 1, seed=0).to(dev)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    x = (torch.rand(batch, 1, size, size, device=dev)*255).contiguous(memory_format=fmt)
    y = torch.arange(batch, device=dev) % 2
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=dev.type == "cuda")
    model.train()
    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"): logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with cudnn_autotune(dev.type == "cuda"):
        for _ in range(3): step()
        synchronize(dev); t = time.perf_counter()
        for _ in range(steps): step()
        synchronize(dev)
    return batch*steps/(time.perf_counter() - t)


def train_images_per_second(arch:str, task, dev:torch.device, batch:int) -> float:
    "Median images/s of `train` (bf16 + channels_last on CUDA) over the epochs after the first (a warm-up)."
    model = build_model(arch, 1, seed=0)
    with quiet():
        result = train(model, task, "quick" if arch == "small_cnn" else "paper", device=dev, progress=False, epochs=3,
                       batch_size=batch, image_size=None, amp=True, channels_last=True)
    return statistics.median(len(task.train)/h["seconds"] for h in result.history[1:])


def check_throughput(r:Report, dev:torch.device, dry:bool, sizes:dict):
    "train()'s images/s (bf16 + channels_last on CUDA, the paper's batch size) against the best bare step of the same model."
    from bench_training import synthetic_task
    size = sizes["size"]
    for arch in sizes["models"]:
        batch = 32 if arch == "small_cnn" else train_settings("paper", arch).batch_size
        steps = 4 if dry else 20
        task = synthetic_task(batch*steps, size, 1)
        ours = train_images_per_second(arch, task, dev, batch)
        bare = {cl: bare_images_per_second(arch, size, batch, dev, steps, cl) for cl in ((False,) if dry else (True, False))}
        best = max(bare.values())
        ratio = ours/best
        status = "INFO" if dry else ("PASS" if ratio >= 0.9 else "FAIL")
        r.add("throughput", status,
              f"{arch} {size} px, batch {batch}, bf16{' + channels_last' if not dry else ''} on {dev}: "
              f"train() {ours:.0f} images/s, best bare step {best:.0f} ("
              + ", ".join(f"{'channels_last' if cl else 'NCHW'} {v:.0f}" for cl, v in bare.items()) + f"): {ratio:.2f}"
              + ("" if dry else " (target ≥ 0.9)"), arch=arch, train=ours, bare=bare, ratio=ratio)


def check_attacks(r:Report, dev:torch.device, dry:bool, sizes:dict):
    "FGSM and PGD images and Δloss, and activations, on the device against the CPU's (IEEE float32 on both)."
    task = binary_task(load_dataset("pneumoniamnist-sample"), classes=("normal", "pneumonia"),
                       n_train=100 if dry else 200, n_test=32 if dry else 64,
                       seed=0, **({} if dry else dict(size=64)))
    arch = "small_cnn" if dry else "resnet18"
    model = build_model(arch, 1, seed=0)
    with quiet(): train(model, task, epochs=2, batch_size=20, device=dev, progress=False)
    here, cpu = model.to(dev), copy.deepcopy(model).cpu()
    parts, ok, figures = [], True, {}
    for method, opts, share, rel in (("fgsm", {}, 0.99, 0.01), ("pgd", dict(steps=3 if dry else 5), 0.95, 0.02)):
        a_here = attack(here, task.test, 8/255, method, **opts).images
        a_cpu = attack(cpu, task.test, 8/255, method, **opts).images
        equal = float((a_here == a_cpu).float().mean())
        d_here = attack_eval(here, task.test, (8/255,), method, **opts).delta_loss.iloc[0]
        d_cpu = attack_eval(cpu, task.test, (8/255,), method, **opts).delta_loss.iloc[0]
        close = abs(d_here - d_cpu) <= rel*max(abs(d_cpu), 1e-3)
        ok &= equal >= share and close  # PGD's later steps follow its earlier ones: a sign flipped by rounding spreads
        parts.append(f"{method}: {equal:.2%} of pixels equal, Δloss {d_here:.5f} vs {d_cpu:.5f}")
        figures[method] = dict(equal=equal, delta_loss=d_here, cpu_delta_loss=d_cpu)
    act_here, act_cpu = activations(here, task.test), activations(cpu, task.test)
    err = float((act_here - act_cpu).abs().max()/act_cpu.abs().max().clamp_min(1e-30))
    ok &= err <= 1e-4
    parts.append(f"activations (penultimate, {act_cpu.shape[1]} features) largest difference {err:.1e} of their range")
    r.add("attacks", "PASS" if ok else "FAIL",
          f"{arch} at {task.test.shape[1]} px on {dev} against the CPU: " + "; ".join(parts),
          activation_error=err, **figures)


def check_pgd(r:Report, dev:torch.device, dry:bool, sizes:dict):
    "No host sync inside PGD; its images inside the ball and the range."
    task = binary_task(load_dataset("pneumoniamnist-sample"), classes=("normal", "pneumonia"), n_train=100, n_test=64,
                       seed=0)
    model = build_model("small_cnn", 1, seed=0)
    train(model, task, epochs=2, device=dev, progress=False)
    model.eval()
    x, y = task.test.images.to(dev).float(), task.test.labels.to(dev)
    eps, bounds = eps_in_units(PAPER_EPS, task.test.intensity_range), task.test.intensity_range
    pgd(model, x[:4], y[:4], eps, bounds, steps=2, generator=torch.Generator().manual_seed(0))  # warm-up
    with host_syncs(dev) as syncs: adv = pgd(model, x, y, eps, bounds, steps=10,
                                             generator=torch.Generator().manual_seed(0))
    slack = eps*1e-6 + 2**-22*max(abs(bounds[0]), abs(bounds[1]))  # x ± eps rounded to float32
    inside = bool(((adv - x).abs() <= eps + slack).all() and (adv >= bounds[0]).all() and (adv <= bounds[1]).all())
    ok = not syncs["ops"] and not syncs["cuda"] and inside
    r.add("pgd", "PASS" if ok else "FAIL",
          f"10 steps on {len(x)} images on {dev}: host syncs {len(syncs['ops'])} (aten: "
          f"{sorted(set(syncs['ops'])) or 'none'})" + ("" if syncs["cuda"] is None else f", {syncs['cuda']} (CUDA)")
          + f"; inside the ball and the range: {inside}")


def check_bench(r:Report, dev:torch.device, dry:bool, sizes:dict):
    "The benchmarks' synchronize waits for the device it is given (by index), not only the current one."
    called = []
    with patch("torch.cuda.synchronize", lambda d=None: called.append(d)):
        synchronize(str(dev) if dev.type == "cuda" else "cuda:1")
    ok = called and called[0] is not None and torch.device(called[0]).index == (dev.index if dev.type == "cuda" else 1)
    r.add("bench", "PASS" if ok else "FAIL",
          f"synchronize({'cuda:1' if dev.type != 'cuda' else dev}) waits for {called}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", help="the GPU to check (default: the current one)")
    p.add_argument("--cpu-dry-run", action="store_true", help="run every check on the CPU, small, TF32 emulated")
    p.add_argument("--full", action="store_true", help="also fp32 at N = 1 000 000")
    p.add_argument("--only", nargs="+", help="run only these checks")
    p.add_argument("--json", help="write the results to this file")
    a = p.parse_args(argv)
    dry = a.cpu_dry_run
    if not dry and not torch.cuda.is_available():
        p.error("torch sees no CUDA device here; run with --cpu-dry-run on a CPU")
    dev = torch.device("cpu") if dry else resolve_device(a.device)
    if not dry: torch.cuda.set_device(dev)
    name = "CPU (dry run)" if dry else f"{torch.cuda.get_device_name(dev)}, CUDA {torch.version.cuda}"
    print(f"gpu_check on {dev}: {name}; torch {torch.__version__}", flush=True)
    sizes, timings, full = SIZES["dry" if dry else "gpu"], {}, a.full
    t0 = time.perf_counter()
    r = Report()
    checks = [("device", check_device), ("precision", check_precision), ("autocast", check_autocast),
              ("neighbours", check_neighbors), ("scale", lambda *args: check_scale(*args, full, timings)),
              ("default", lambda *args: check_default(*args, timings)), ("memory", check_memory),
              ("paper", check_paper), ("sharpness", check_sharpness), ("training", check_training),
              ("throughput", check_throughput), ("attacks", check_attacks), ("pgd", check_pgd), ("bench", check_bench)]
    for check, fn in checks:
        if a.only and check not in a.only: continue
        t = time.perf_counter()
        r.run(check, fn, dev, dry, sizes)
        print(f"     {check:10} {time.perf_counter() - t:.1f} s", flush=True)
    failed = [row["check"] for row in r.rows if row["status"] == "FAIL"]
    print(f"{len(r.rows)} lines, {len(failed)} failed{': ' + ', '.join(sorted(set(failed))) if failed else ''}; "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    if a.json: Path(a.json).write_text(json.dumps(dict(device=str(dev), name=name, rows=r.rows), indent=1, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
