"""Helpers the benchmark scripts share: the CPU's name, the load of the machine, and waiting for a device.

Each script puts its own folder first on `sys.path` before importing this module, so every script runs from any
working directory: `python benchmarks/bench_measure.py` from the project root as well as from `benchmarks/`."""
import os
import platform

import torch


def cpu_name() -> str:
    "The CPU model from /proc/cpuinfo where there is one."
    try:
        with open("/proc/cpuinfo") as f: return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration): return platform.processor() or platform.machine()


def load() -> str:
    "The load averages over 1, 5 and 15 minutes, for the record of a timing."
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def synchronize(device):
    "Wait for the work queued on `device` (\"cuda:1\" waits for GPU 1, not the current one); nothing on a CPU."
    device = torch.device(device)
    if device.type == "cuda": torch.cuda.synchronize(device)
