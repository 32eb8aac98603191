"""Training throughput (images/s) of the paper's models through `intrinsic_props.training.train`, and the time of the
paper's full sweep estimated from it.

CPU:  python benchmarks/bench_training.py                       # resnet18, resnet50, vgg16 at 64 px
GPU:  python benchmarks/bench_training.py --device cuda         # all six models at 224 px, bf16+channels_last vs fp32 eager

"fp32 eager" is IEEE float32 on CUDA too: `train(amp=False)` turns off the TF32 that cuDNN's convolutions use by
default (`intrinsic_props.devices.ieee_float32`), so the mode measures what its name says.

Each model trains with its paper batch size (40/25/12/6) on synthetic in-memory images for `--epochs` epochs; the first
epoch is a warm-up (allocator, cuDNN algorithm choice) and the images/s reported are the median of the others. On CUDA
the sweep estimate is: 11 tasks × (500 + 750 + … + 1750 = 6750 training images) × 100 epochs per model, plus one
evaluation of 750 test images per run (counted at a third of a training image), summed over the six models, against
the 24 h target on one GPU.
"""
import argparse
import json
import os
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/common.py, from any working directory
from common import cpu_name  # noqa: E402
from intrinsic_props.data import BinaryTask, ImageSet  # noqa: E402
from intrinsic_props.models import PAPER_ARCHITECTURES, build_model  # noqa: E402
from intrinsic_props.paper import PAPER_VALUES, SCALES  # noqa: E402
from intrinsic_props.training import PRESETS, train, train_settings  # noqa: E402

SWEEP = dict(tasks=len(PAPER_VALUES), n_train=tuple(SCALES["paper"]["n_train"]), n_test=SCALES["paper"]["n_test"],
             epochs=PRESETS["paper"]["epochs"])
TARGET_HOURS = 24
# fp32: IEEE, no TF32
MODES = {"bf16+channels_last": dict(amp=True, channels_last=True), "fp32 eager": dict(amp=False, channels_last=False)}


def synthetic_task(n:int, size:int, channels:int) -> BinaryTask:
    "Random images in [0, 255] with balanced random labels; throughput does not depend on what they show."
    g = torch.Generator().manual_seed(0)
    make = lambda m: ImageSet(255*torch.rand(m, channels, size, size, generator=g), torch.arange(m) % 2, ["a", "b"],
                              name="synthetic")
    return BinaryTask(make(n), make(max(2, n//10)))


def images_per_second(arch:str, task:BinaryTask, device:str, epochs:int, **mode) -> float:
    "Median training throughput over the epochs after the first, with the paper's batch size for `arch`."
    model = build_model(arch, task.train.shape[0], seed=0)
    settings = train_settings("paper", arch, epochs=epochs, image_size=None, **mode)
    result = train(model, task, settings, device=device, progress=False)
    return statistics.median(len(task.train)/h["seconds"] for h in result.history[1:])


def sweep_hours(ips:dict) -> float:
    "Hours of the paper's sweep on one device, from training images/s per model."
    per_model = SWEEP["tasks"]*(sum(SWEEP["n_train"])*SWEEP["epochs"] + len(SWEEP["n_train"])*SWEEP["n_test"]/3)
    return sum(per_model/v for v in ips.values())/3600


def hardware(device:str) -> str:
    "The device in words."
    if device == "cuda": return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    return f"{cpu_name()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--models", nargs="+",
                   help="architectures (default: resnet18 resnet50 vgg16 on CPU, all six on CUDA)")
    p.add_argument("--size", type=int, help="image side in pixels (default: 64 on CPU, 224 on CUDA)")
    p.add_argument("--channels", type=int, default=1, help="image channels (8 of the paper's 11 tasks have 1)")
    p.add_argument("--images", type=int, help="training images per epoch (default: 48 on CPU, 1000 on CUDA)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per measurement; the first is a warm-up")
    p.add_argument("--json", help="also write the results to this JSON file")
    a = p.parse_args()
    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available(): p.error("--device cuda, but torch sees no CUDA device")
    if a.epochs < 2: p.error("--epochs must be ≥ 2: the first epoch is a warm-up")
    models = a.models or (list(PAPER_ARCHITECTURES) if cuda else ["resnet18", "resnet50", "vgg16"])
    size, n = a.size or (224 if cuda else 64), a.images or (1000 if cuda else 48)
    modes = MODES if cuda else {"fp32 eager": MODES["fp32 eager"]}
    task = synthetic_task(n, size, a.channels)
    info = dict(date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), hardware=hardware(a.device),
                load_before=os.getloadavg(), torch=torch.__version__, size=size, channels=a.channels, images=n,
                epochs=a.epochs)
    print(f"# {info['date']}, {info['hardware']}, torch {torch.__version__}, load {info['load_before'][0]:.2f}; "
          f"{n} images {a.channels}×{size}×{size}, {a.epochs} epochs (first is warm-up)")
    rows = []
    for arch in models:
        for mode, flags in modes.items():
            ips = images_per_second(arch, task, a.device, a.epochs, **flags)
            rows.append(dict(model=arch, mode=mode, batch_size=train_settings("paper", arch).batch_size,
                             images_per_s=ips))
            print(f"| {arch} | {mode} | {rows[-1]['batch_size']} | {ips:.1f} |", flush=True)
    info["load_after"] = os.getloadavg()
    if cuda and size == 224 and set(models) == set(PAPER_ARCHITECTURES):
        for mode in modes:
            hours = sweep_hours({r["model"]: r["images_per_s"] for r in rows if r["mode"] == mode})
            info[f"sweep_hours {mode}"] = hours
            print(f"paper sweep ({mode}): {hours:.1f} h on one GPU; target < {TARGET_HOURS} h: "
                  f"{hours/TARGET_HOURS:.2f}× the budget")
    print(f"load average after: {info['load_after'][0]:.2f}")
    if a.json:
        with open(a.json, "w") as f: json.dump(dict(info=info, results=rows), f, indent=1)


if __name__ == "__main__":
    main()
