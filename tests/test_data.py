"Cross-cutting tests of the data layer: the shelf, downloads (simulated), IDX files, task properties (the CLI: test_cli)."
import gzip
import hashlib
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import intrinsic_props.data as data_module
from intrinsic_props.data import binary_task, from_arrays, load_dataset

ROOT = Path(__file__).resolve().parent.parent


def test_data_files_match_manifest(data):
    "Every file of the data at hand (shelf or samples) is the one its manifest describes (sha256) and loads with its counts."
    manifest = data.manifest
    for name, entry in manifest.items():
        assert hashlib.sha256((data.folder/entry["file"]).read_bytes()).hexdigest() == entry["sha256"], name
        for split, counts in entry["counts"].items():
            ds = load_dataset(name, split)
            assert list(ds.counts.values()) == counts
            assert ds.classes == entry["classes"] and ds.domain == entry["domain"]
            assert list(ds.shape[1:]) == entry["shape"][:2]


def test_relative_data_folder_is_resolved(monkeypatch, tmp_path):
    "INTRINSIC_PROPS_DATA given relative to the working directory works like an absolute one."
    (tmp_path/"mine").mkdir()
    np.savez(tmp_path/"mine"/"toy.npz", val_images=np.zeros((6, 4, 4), np.uint8), val_labels=np.arange(6) % 2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INTRINSIC_PROPS_DATA", "mine")
    assert len(load_dataset("toy", "val")) == 6


def test_torchvision_download_writes_the_shelf_layout(tmp_path, monkeypatch):
    "A (simulated) torchvision download is stored as a MedMNIST-layout npz and read from disk the next time."
    calls = []
    def fake_splits(cls_name, folder):
        calls.append((cls_name, folder))
        rng = np.random.default_rng(0)
        return {s: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10) for s, n in (("train", 30), ("test", 10))}
    monkeypatch.setattr(data_module, "_torchvision_splits", fake_splits)
    monkeypatch.delenv("INTRINSIC_PROPS_DATA", raising=False)
    ds = load_dataset("mnist", "test", root=tmp_path)
    assert (tmp_path/"mnist.npz").is_file() and len(ds) == 10 and ds.domain == "natural"
    assert calls == [("MNIST", tmp_path/"torchvision")]
    assert len(load_dataset("mnist", "train", root=tmp_path)) == 30 and len(calls) == 1


def test_medmnist_download_uses_medmnist(tmp_path, monkeypatch):
    "MedMNIST sets are fetched through the medmnist package, which writes the npz itself."
    class FakeBreastMNIST:
        def __init__(self, split, download, root):
            rng = np.random.default_rng(1)
            np.savez(f"{root}/breastmnist.npz", **{f"{s}_{k}": a for s in ("train", "val", "test")
                     for k, a in (("images", rng.integers(0, 256, (8, 28, 28), dtype=np.uint8)),
                                  ("labels", np.arange(8)[:, None] % 2))})
    monkeypatch.setitem(sys.modules, "medmnist", types.SimpleNamespace(BreastMNIST=FakeBreastMNIST))
    ds = load_dataset("breastmnist", "val", root=tmp_path)
    assert ds.classes == ["malignant", "normal/benign"] and ds.counts == {"malignant": 4, "normal/benign": 4}


def test_failed_download_names_every_place_and_the_reason(tmp_path, monkeypatch):
    def offline(cls_name, folder): raise OSError("network is unreachable")
    monkeypatch.setattr(data_module, "_torchvision_splits", offline)
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST", tmp_path/"no-debian")
    monkeypatch.setenv("INTRINSIC_PROPS_DATA", str(tmp_path/"shelf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path/"cache"))
    with pytest.raises(FileNotFoundError) as e: load_dataset("fashion-mnist")
    msg = str(e.value)
    for place in (tmp_path/"shelf"/"fashion-mnist.npz", tmp_path/"cache"/"intrinsic_props"/"fashion-mnist.npz",
                  tmp_path/"no-debian"):
        assert str(place) in msg
    assert "network is unreachable" in msg


def _write_idx(path, arr):
    with gzip.open(path, "wb") as f:
        f.write(b"\0\0\x08"
                + bytes([arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_from_debian_idx_files(tmp_path, monkeypatch):
    "Debian's dataset-fashion-mnist package (IDX files) is read when no npz is found."
    rng = np.random.default_rng(2)
    for prefix, n in (("train", 12), ("t10k", 5)):
        _write_idx(tmp_path/f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path/f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST", tmp_path)
    ds = load_dataset("fashion-mnist", "test", root=tmp_path/"empty", download=False)
    assert len(ds) == 5 and ds.classes[0] == "T-shirt/top" and ds.shape == (1, 28, 28)
    (tmp_path/"bad.gz").write_bytes(gzip.compress(b"\0\0\x0d\x01\0\0\0\x01x"))
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"): data_module.read_idx(tmp_path/"bad.gz")


def test_bad_arrays_are_refused():
    with pytest.raises(ValueError, match="3 images but 2 labels"): from_arrays(np.zeros((3, 4, 4)), [0, 1])
    with pytest.raises(ValueError, match="NaN/inf"): from_arrays(np.full((2, 4, 4), np.inf), [0, 1])
    with pytest.raises(ValueError, match="labels must be 1-D"): from_arrays(np.zeros((2, 4, 4)), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="N×H×W, N×C×H×W or N×H×W×C"): from_arrays(np.zeros((2, 4)), [0, 1])
    with pytest.raises(ValueError, match="domain must be one of"):
        from_arrays(np.zeros((2, 4, 4)), [0, 1], domain="satellite")


def test_wrong_layout_npz(tmp_path):
    np.savez(tmp_path/"x.npz", images=np.zeros((2, 4, 4)), labels=np.zeros(2))
    with pytest.raises(ValueError, match=r"has no split 'train'.*arrays \['images', 'labels'\]"):
        data_module.from_npz(tmp_path/"x.npz")
    with pytest.raises(FileNotFoundError, match="no npz file"): data_module.from_npz(tmp_path/"missing.npz")


@pytest.fixture(scope="module")
def digits(): return load_dataset("digits")


@settings(max_examples=25, deadline=None)
@given(n_train=st.integers(2, 120), n_test=st.integers(0, 60), seed=st.integers(0, 2**31 - 1),
       pair=st.sampled_from([("0", "1"), ("4", "9"), (["1", "7"], ["3", "5", "8"])]))
def test_binary_task_is_balanced_disjoint_and_reproducible(digits, n_train, n_test, seed, pair):
    task = binary_task(digits, pair, n_train, n_test, seed=seed)
    for part, n in ((task.train, n_train), (task.test, n_test)):
        counts = list(part.counts.values())
        assert sum(counts) == n and max(counts) - min(counts) <= 1
        assert set(part.labels.tolist()) <= {0, 1}
    assert not set(task.train.index.tolist()) & set(task.test.index.tolist())
    positives = torch.tensor([digits.classes.index(c) for c in (pair[1] if isinstance(pair[1], list) else [pair[1]])])
    assert torch.equal(task.train.labels, torch.isin(digits.labels[task.train.index], positives).long())
    again = binary_task(digits, pair, n_train, n_test, seed=seed)
    assert torch.equal(task.train.images, again.train.images) and torch.equal(task.test.index, again.test.index)


def test_test_data_must_hold_the_classes(digits):
    other = from_arrays(np.zeros((4, 8, 8), np.uint8), [0, 0, 1, 1], ["0", "1"], name="tiny")
    with pytest.raises(ValueError, match="class '7' is not in tiny"):
        binary_task(digits, ("0", "7"), 10, 2, test_data=other)
    with pytest.raises(ValueError, match="has 2 images in tiny/data; the task needs 3 .*lower n_test"):
        binary_task(digits, ("0", "1"), 10, 6, test_data=other)


# Issue 11: bad inputs at the data level. Each test fails on the code before the fix.

def _save(path, arr, mode=None):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path)


@pytest.mark.parametrize("others", [["gray8"], ["rgb8"], ["gray8", "rgb8"]])
def test_mixed_bit_depths_share_one_range(tmp_path, others):
    "A 16-bit grayscale PNG beside 8-bit gray or RGB ones: each image on 0…65535 by its own format's range, with a warning."
    from intrinsic_props.data import from_folder
    _save(tmp_path/"a"/"deep.png", np.array([[0, 65535], [32768, 1]], np.uint16))
    arrays = {"gray8": np.array([[0, 255], [128, 1]], np.uint8),
              "rgb8": np.repeat(np.array([[0, 255], [128, 1]], np.uint8)[..., None], 3, -1)}
    for name in others: _save(tmp_path/"b"/f"{name}.png", arrays[name])
    with pytest.warns(UserWarning, match=rf"{len(others)} 8-bit .* and 1 16-bit \(e.g. deep.png\).*onto 0…65535"):
        ds = from_folder(tmp_path)
    assert ds.intensity_range == (0.0, 65535.0) and ds.images.dtype == torch.float32
    assert ds.shape[0] == (3 if "rgb8" in others else 1)
    for image in ds.images:  # every image's white is 65535 and its black 0, whatever its depth
        assert image.max() == 65535 and image.min() == 0
    assert ds.images[1:, 0, 1, 0].tolist() == [128*257.0]*len(others)  # 8-bit values ×257, exactly


def test_one_bit_depth_is_read_as_before(tmp_path):
    "A folder of one depth gives the values as stored, without a warning: uint8 for 8-bit, float32 on 0…65535 for 16-bit."
    import warnings
    from intrinsic_props.data import from_folder
    _save(tmp_path/"eight"/"a"/"x.png", np.array([[3, 250]], np.uint8))
    _save(tmp_path/"sixteen"/"a"/"x.png", np.array([[3, 4095]], np.uint16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eight, sixteen = from_folder(tmp_path/"eight"), from_folder(tmp_path/"sixteen")
    assert eight.images.dtype == torch.uint8 and eight.images.flatten().tolist() == [3, 250] and eight.intensity_range == (0.0, 255.0)
    assert sixteen.images.flatten().tolist() == [3.0, 4095.0] and sixteen.intensity_range == (0.0, 65535.0)


@pytest.mark.parametrize("rng, match", [((7, 7), "empty range would divide by zero"),  # the notebook shows (1, 0)
                                        ((0, float("inf")), "must be finite"), ((float("nan"), 1), "must be finite"),
                                        ((1,), "a pair"), ("ab", "a pair"), (None, None)])
def test_intensity_range_is_checked(rng, match):
    "ImageSet refuses an intensity range that is not a finite, non-empty pair running upwards (None: inferred)."
    images = np.full((2, 4, 4), 7, np.float32)
    if match is None:
        assert from_arrays(images, [0, 1], intensity_range=rng).intensity_range == (0.0, 255.0)
        return
    with pytest.raises(ValueError, match=match): from_arrays(images, [0, 1], intensity_range=rng)


def test_duplicate_class_names_are_refused():
    # names are compared as text
    with pytest.raises(ValueError, match="'1' 2 times"): from_arrays(np.zeros((2, 4, 4)), [0, 1], [1, "1"])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 12))
def test_max_scaling_from_zero_is_the_papers(seed, n):
    "For a range from 0 up, scale='max' is x·255/max bit for bit (what the paper does, and what it did before)."
    x = torch.as_tensor(np.random.default_rng(seed).integers(0, 256, (n, 1, 5, 5), dtype=np.uint8))
    x[0, 0, 0, 0] = 1  # no blank image
    p = data_module.preprocess(from_arrays(x, np.arange(n) % 2, ["a", "b"]), scale="max")
    f = x.float()
    assert torch.equal(p.images, f*(255/f.flatten(1).amax(1)).view(-1, 1, 1, 1))


def test_max_scaling_of_negative_images():
    "Images below zero are stretched from the range's black, not zeroed; only images at black are blank, and the warning says so."
    x = torch.tensor([[[[-3.0, -1.0]]], [[[-3.0, -3.0]]], [[[-2.0, 5.0]]]])
    with pytest.warns(UserWarning,
                      match=r"1 blank image\(s\) \(every value -3, the black of the intensity range; e.g. index \[1\]\)"):
        p = data_module.preprocess(from_arrays(x, [0, 1, 0], intensity_range=(-3, 5)), scale="max")
    assert torch.allclose(p.images.flatten(), torch.tensor([0.0, 255.0, 0.0, 0.0, 255/8, 255.0]))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_find_duplicates_agrees_with_the_neighbour_pass(seed):
    "find_duplicates and the neighbour pass find the same groups, with zeros of either sign (−0.0 == +0.0)."
    from intrinsic_props.neighbors import neighbors
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, (12, 1, 2, 2)).astype(np.float32)  # few values: many copies
    x[rng.random(x.shape) < 0.5] *= -1  # flips the sign of about half the zeros
    ds = from_arrays(x, np.arange(12) % 2, ["a", "b"])
    nb = neighbors(ds, k=1, warn_duplicates=False)
    assert data_module.find_duplicates(ds) == nb.duplicate_groups


def test_damaged_npz_is_a_clear_error(tmp_path):
    "A compressed npz damaged inside an array (zlib.error) is a ValueError that names the file."
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32), dtype=np.uint8)
    np.savez_compressed(tmp_path/"x.npz", train_images=images, train_labels=np.arange(4) % 2)
    raw = bytearray((tmp_path/"x.npz").read_bytes())
    at = raw.index(b"train_images.npy") + len(b"train_images.npy") + 20  # inside the deflate stream
    raw[at:at + 64] = bytes(64)
    (tmp_path/"x.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"x.npz as an npz file \(zlib.error.*damaged or incomplete"):
        data_module.from_npz(tmp_path/"x.npz")


def test_bad_files_in_the_data_folder_do_not_hide_the_others(bad_data_folder):
    "available_datasets lists the readable datasets and warns once for each unreadable file, naming it; no partial download."
    from intrinsic_props.catalog import available_datasets, known_datasets
    tmp_path = bad_data_folder
    with pytest.warns(UserWarning) as caught: table = available_datasets(tmp_path)
    said = [str(w.message) for w in caught]
    assert {"toy", "digits"} <= set(table.name) and not {"junk", "cut", "nosplit", "toy2", "toy2.partial"} & set(table.name)
    for name in ("junk", "cut", "nosplit"): assert sum(f"{name}.npz" in s for s in said) == 1, said
    assert not {"toy2", "toy2.partial"} & set(known_datasets(tmp_path))
    with pytest.raises(ValueError, match="junk.npz"): load_dataset("junk", root=tmp_path)


