"""Shared fixtures. Tests that read real images take them from `data`: the data shelf when INTRINSIC_PROPS_DATA names it
(relative paths are taken from the project root), else the samples bundled with the package — so the whole suite runs
on a fresh machine with no data, and on the shelf in CI's second pass (INTRINSIC_PROPS_REQUIRE_DATA=1), where a
missing shelf is a failure."""
import json
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import pytest

from intrinsic_props.catalog import env_flag

ROOT = Path(__file__).resolve().parent.parent
# Datasets without a bundled sample, and the sample a test reads in their place when the shelf is absent.
SUBSTITUTES = {"cifar10": "mnist-sample", "brain-tumor-mri-64": "breastmnist-sample",
               "tiny-imagenet-64": "fashion-mnist-sample",
               "lgg-flair-64": "pneumoniamnist-sample", "nih-cxr-64": "chest-xray-pneumonia-64-sample"}


def pytest_configure(config):
    "Shelf path made absolute (notebooks run from nbs/); chapters at the quick scale, their sweeps in a fresh folder."
    d = os.environ.get("INTRINSIC_PROPS_DATA")
    if d and not Path(d).is_absolute(): os.environ["INTRINSIC_PROPS_DATA"] = str((ROOT/d).resolve())
    os.environ["INTRINSIC_PROPS_SCALE"] = "quick"
    os.environ["INTRINSIC_PROPS_RESULTS"] = tempfile.mkdtemp(prefix="intrinsic_props_results_")


def shelf_folder():
    "The shelf folder INTRINSIC_PROPS_DATA names, None when unset; an error when it is set but holds no manifest."
    d = os.environ.get("INTRINSIC_PROPS_DATA")
    if not d:
        if env_flag("INTRINSIC_PROPS_REQUIRE_DATA"):
            raise pytest.UsageError("INTRINSIC_PROPS_REQUIRE_DATA is set but INTRINSIC_PROPS_DATA is not: name the "
                                    "data shelf, "
                                    "e.g. INTRINSIC_PROPS_DATA=../shared/data")
        return None
    if not (Path(d)/"manifest.json").is_file():
        raise pytest.UsageError(f"INTRINSIC_PROPS_DATA={d} holds no manifest.json: point it at the data shelf "
                                "(e.g. ../shared/data) or unset it to test on the bundled samples")
    return Path(d)


def pytest_report_header(config):
    d = shelf_folder()
    return f"data: the shelf at {d}" if d else "data: the bundled samples (INTRINSIC_PROPS_DATA is not set)"


class DataAtHand(NamedTuple):
    "The datasets the tests read: the data shelf, or the bundled samples on a machine without it."
    folder: Path
    shelf: bool

    @property
    def manifest(self) -> dict: return json.loads((self.folder/"manifest.json").read_text())

    def name(self, dataset:str) -> str:
        "`dataset` on the shelf; its sample (or a stand-in sample, see SUBSTITUTES) without it."
        if self.shelf: return dataset
        return f"{dataset}-sample" if f"{dataset}-sample" in self.manifest else SUBSTITUTES[dataset]

    def load(self, dataset:str):
        "The training split of `dataset` on the shelf; all of its sample (train and test) without it."
        from intrinsic_props.data import load_dataset
        return load_dataset(self.name(dataset), "train" if self.shelf else "train+test")


@pytest.fixture(scope="session")
def data() -> DataAtHand:
    d = shelf_folder()
    if d: return DataAtHand(d, True)
    from intrinsic_props.data import SAMPLES_DIR
    return DataAtHand(SAMPLES_DIR, False)


@pytest.fixture
def bad_data_folder(tmp_path) -> Path:
    "A data folder with one good dataset, a junk file, a truncated file, one without a split and a leftover partial download."
    import numpy as np
    np.savez(tmp_path/"toy.npz", train_images=np.zeros((6, 8, 8), np.uint8), train_labels=np.arange(6) % 2)
    (tmp_path/"junk.npz").write_bytes(b"junk")
    (tmp_path/"cut.npz").write_bytes((tmp_path/"toy.npz").read_bytes()[:200])
    np.savez(tmp_path/"nosplit.npz", images=np.zeros((2, 8, 8), np.uint8))
    np.savez(tmp_path/"toy2.partial.npz", train_images=np.zeros((6, 8, 8), np.uint8), train_labels=np.arange(6) % 2)
    return tmp_path
