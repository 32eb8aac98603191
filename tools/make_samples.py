"""Draw the bundled samples (intrinsic_props/samples/) from the full datasets on the data shelf.

    INTRINSIC_PROPS_DATA=../shared/data python tools/make_samples.py

For each dataset in SAMPLES: per class, a seeded random draw of `train` images from its train split and `test` images
from its test split, stored uint8 in a MedMNIST-layout npz with a manifest entry (source, licence, attribution, how it
was drawn). Only datasets whose licence allows redistribution are sampled (CC BY, CC BY-SA, MIT). Re-running it with
the same shelf writes the same images (the npz bytes may differ by zip timestamps)."""
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT/"intrinsic_props"/"samples"
SEED = 0
# name: images per class from the train and test splits, and the attribution the licence asks for
SAMPLES = {
    "mnist": dict(train=150, test=50,
                  attribution="Y. LeCun, C. Cortes and C. J. C. Burges, The MNIST database of handwritten digits"),
    "fashion-mnist": dict(train=120, test=40,
                          attribution="H. Xiao, K. Rasul and R. Vollgraf, Fashion-MNIST: a Novel Image Dataset "
                          "for Benchmarking Machine Learning Algorithms, arXiv 1708.07747 (2017); Copyright (c) "
                          "2017 Zalando SE"),
    "pneumoniamnist": dict(train=300, test=100,
                           attribution="J. Yang et al., MedMNIST v2, Scientific Data 10:41 (2023); images from "
                           "D. S. Kermany et al., Cell 172(5):1122-1131 (2018)"),
    "breastmnist": dict(train=120, test=40,
                        attribution="J. Yang et al., MedMNIST v2, Scientific Data 10:41 (2023); images from "
                        "W. Al-Dhabyani et al., Dataset of breast ultrasound images, Data in Brief 28:104863 (2020)"),
    "chest-xray-pneumonia-64": dict(train=200, test=50,
                                    attribution="D. S. Kermany et al., Identifying Medical Diagnoses and Treatable "
                                    "Diseases by Image-Based Deep Learning, Cell 172(5):1122-1131 (2018); "
                                    "Mendeley Data "
                                    "doi:10.17632/rscbjbr9sj.2"),
}
REDISTRIBUTABLE = ("CC BY 4.0", "CC BY-SA 3.0", "MIT")


def sample_name(name:str) -> str: return f"{name}-sample"


def draw(images:np.ndarray, labels:np.ndarray, per_class:int, rng:np.random.Generator) -> np.ndarray:
    "Indices of `per_class` random images of every class, in class order."
    out = []
    for c in np.unique(labels):
        pool = np.flatnonzero(labels == c)
        if len(pool) < per_class: sys.exit(f"class {c} has {len(pool)} images, fewer than the {per_class} asked for")
        out.append(np.sort(rng.choice(pool, per_class, replace=False)))
    return np.concatenate(out)


def main():
    shelf = Path(os.environ.get("INTRINSIC_PROPS_DATA", ROOT.parent/"shared"/"data"))
    manifest = json.loads((shelf/"manifest.json").read_text())
    OUT.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, n in SAMPLES.items():
        entry = manifest[name]
        if not any(entry["license"].startswith(l) for l in REDISTRIBUTABLE):
            sys.exit(f"{name}: licence {entry['license']!r} is not one that allows redistribution")
        rng = np.random.default_rng(SEED)
        arrays, counts = {}, {}
        with np.load(shelf/entry["file"], allow_pickle=False) as z:
            for split in ("train", "test"):
                images, labels = z[f"{split}_images"], z[f"{split}_labels"]
                idx = draw(images, labels, n[split], rng)
                arrays[f"{split}_images"], arrays[f"{split}_labels"] = images[idx], labels[idx].astype(np.int64)
                counts[split] = np.bincount(labels[idx], minlength=len(entry["classes"])).tolist()
        file = f"{sample_name(name)}.npz"
        np.savez_compressed(OUT/file, **arrays)
        entries[sample_name(name)] = dict(
            domain=entry["domain"], modality=entry["modality"], classes=entry["classes"],
            source=f"a sample of {name}: {entry['source']}", license=entry["license"], attribution=n["attribution"],
            caveats=(f"a sample, not the full dataset: {n['train']} train and {n['test']} test images per class, "
                     "drawn at random "
                     f"(seed {SEED}) from the full splits by tools/make_samples.py"
                     + (f"; {entry['caveats']}" if entry["caveats"] else "")),
            sample_of=name, file=file, sha256=hashlib.sha256((OUT/file).read_bytes()).hexdigest(), shape=entry["shape"],
            counts=counts)
        print(f"{file}: {(OUT/file).stat().st_size/1e6:.2f} MB, {sum(map(sum, counts.values()))} images")
    (OUT/"manifest.json").write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n")
    total = sum(f.stat().st_size for f in OUT.glob("*.npz"))
    print(f"total {total/1e6:.2f} MB")
    if total > 5e6: sys.exit("the samples exceed the 5 MB budget")


if __name__ == "__main__": main()
