"""Your own images (issue 20): DICOM, NIfTI, 16-bit PNG/TIFF, manifests and `.npz` through `data.load_images`, and
patient-aware tasks — the file-format matrices and grids the data notebook leaves out. Every file is one that pydicom or
nibabel ships (pydicom's CT_small.dcm, MR_small.dcm, SC_rgb_small_odd.dcm; nibabel's anatomical.nii) or one written here
with those libraries; nothing is downloaded. The command-line cases are in tests/test_cli.py."""
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

pydicom = pytest.importorskip("pydicom", reason='the medical extra: pip install -e ".[dev]" (or ".[medical]")')
nibabel = pytest.importorskip("nibabel", reason='the medical extra: pip install -e ".[dev]" (or ".[medical]")')
from nibabel.testing import data_path  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402

from intrinsic_props.data import (ImageSet, binary_task, from_arrays, from_folder, from_manifest,  # noqa: E402
                                  load_dataset, load_images, read_dicom, read_nifti)

ANATOMICAL = Path(data_path)/"anatomical.nii"


def shipped(name:str) -> Path:
    "A DICOM file pydicom ships in its wheel (never one it would download)."
    path = get_testdata_file(name, download=False)
    assert path is not None, f"pydicom no longer ships {name}"
    return Path(path)


def write_dicom(path:Path, source:str="CT_small.dcm", add:int=0, **attributes) -> Path:
    "A copy of a shipped DICOM file, its stored values raised by `add`, its attributes set; written with pydicom."
    ds = pydicom.dcmread(shipped(source))
    pixels = ds.pixel_array
    ds.PixelData = (pixels.astype(np.int64) + add).astype(pixels.dtype).tobytes()
    for name, value in attributes.items():
        if value is None:
            if name in ds: delattr(ds, name)
        else: setattr(ds, name, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path)
    return path


def stored(source:str="CT_small.dcm") -> np.ndarray:
    return pydicom.dcmread(shipped(source)).pixel_array.astype(np.float64)


# --- read_dicom: what the modality shows -------------------------------------------------------------------------

# the notebook shows CT_small as shipped
@pytest.mark.parametrize("slope, intercept", [(1, -1024), (2, -500), (0.5, 0)])
def test_rescale_slope_and_intercept_are_applied(tmp_path, slope, intercept):
    f = write_dicom(tmp_path/"ct.dcm", RescaleSlope=slope, RescaleIntercept=intercept)
    np.testing.assert_allclose(read_dicom(f).images[0], stored()*slope + intercept)


def test_voi_window_applied_where_the_file_has_one(tmp_path):
    "MR_small has Window Center 600 / Width 1600: the window is applied (onto the stored range), and skipped on request."
    mr = read_dicom(shipped("MR_small.dcm"))
    raw = read_dicom(shipped("MR_small.dcm"), window=False)
    assert mr.windowed and not raw.windowed
    np.testing.assert_allclose(raw.images[0], stored("MR_small.dcm"))
    x = stored("MR_small.dcm")  # DICOM's LINEAR window onto the signed 16-bit range
    expected = np.clip((x - 599.5)/1599 + 0.5, 0, 1)*65535 - 32768
    np.testing.assert_allclose(mr.images[0], expected, rtol=1e-5, atol=0.05)
    ct = write_dicom(tmp_path/"ct.dcm", WindowCenter=40, WindowWidth=400)
    assert read_dicom(ct).windowed and read_dicom(ct).images.min() < read_dicom(ct, window=False).images.min()


@pytest.mark.parametrize("window", [True, False])
def test_monochrome1_is_inverted(tmp_path, window):
    "White is low in MONOCHROME1: turned around within the range the file's values can take, windowed or not."
    plain = read_dicom(shipped("MR_small.dcm"), window=window).images
    inverted = read_dicom(write_dicom(tmp_path/"m1.dcm", "MR_small.dcm", PhotometricInterpretation="MONOCHROME1"),
                          window=window).images
    np.testing.assert_allclose(inverted, -32768 + 32767 - plain)


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_8_to_16_bit_values_are_kept_as_floats(tmp_path, bits):
    "Unsigned 8-, 12- and 16-bit files: every stored value kept, as float32, never squeezed into 8 bits."
    ds = pydicom.dcmread(shipped("MR_small.dcm"))
    values = np.linspace(0, 2**bits - 1, 64*64).round().reshape(64, 64)
    dtype = np.uint8 if bits == 8 else np.uint16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = (8 if bits == 8 else 16), bits, bits - 1, 0
    ds.PixelData = values.astype(dtype).tobytes()
    del ds.WindowCenter, ds.WindowWidth
    ds.save_as(tmp_path/"x.dcm")
    out = read_dicom(tmp_path/"x.dcm").images
    assert out.dtype == np.float32 and out.max() == 2**bits - 1
    np.testing.assert_array_equal(out[0], values)


def test_a_multi_frame_file_gives_one_image_per_frame(tmp_path):
    ds = pydicom.dcmread(shipped("MR_small.dcm"))
    frames = np.stack([ds.pixel_array, ds.pixel_array//2, ds.pixel_array//3])
    ds.NumberOfFrames, ds.PixelData = 3, frames.tobytes()
    ds.save_as(tmp_path/"multi.dcm")
    out = read_dicom(tmp_path/"multi.dcm", window=False)
    assert out.images.shape == (3, 64, 64)
    np.testing.assert_array_equal(out.images, frames)


def test_rgb_dicom_is_read_as_8_bit_rgb():
    out = read_dicom(shipped("SC_rgb_small_odd.dcm"))
    assert out.images.dtype == np.uint8 and out.images.shape == (1, 3, 3, 3)


@pytest.mark.parametrize("damage, why", [
    (lambda raw: raw[:len(raw)//2], "number of bytes of pixel data is less than expected"),
    (lambda raw: raw[:400], None),  # cut inside the header: whatever pydicom says, it is an error
])
def test_a_damaged_dicom_file_is_an_error(tmp_path, damage, why):
    (tmp_path/"bad.dcm").write_bytes(damage(shipped("CT_small.dcm").read_bytes()))
    with pytest.raises(Exception, match=why): read_dicom(tmp_path/"bad.dcm")


def test_a_dicom_file_without_pixels_is_an_error(tmp_path):
    f = write_dicom(tmp_path/"x.dcm")
    ds = pydicom.dcmread(f); del ds.PixelData; ds.save_as(f)
    with pytest.raises(ValueError, match="no pixel data"): read_dicom(f)


# --- read_nifti -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("axis, shape", [(0, (33, 41, 25)), (1, (41, 33, 25))])  # the notebook shows axis 2
def test_nifti_slices_along_each_axis(axis, shape):
    assert read_nifti(ANATOMICAL, axis=axis).shape == shape


def test_nifti_scaling_is_applied_and_gz_is_read(tmp_path):
    data = np.arange(4*5*6, dtype=np.int16).reshape(4, 5, 6)
    img = nibabel.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(2.0, -10.0)
    nibabel.save(img, tmp_path/"scaled.nii.gz")
    out = read_nifti(tmp_path/"scaled.nii.gz")
    np.testing.assert_allclose(out, np.moveaxis(data*2.0 - 10, 2, 0))


def test_a_4d_nifti_is_refused():
    with pytest.raises(ValueError, match="only 2-D images and 3-D volumes are read"):
        read_nifti(Path(data_path)/"example4d.nii.gz")


# --- folders, manifests and load_images -----------------------------------------------------------------------------

def _png(path:Path, array:np.ndarray):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_16_bit_png_and_tiff_keep_their_values(tmp_path, suffix):
    "Pillow reads 16-bit grayscale PNG and TIFF: values as stored, float32, intensity range 0…65535."
    a, b = np.array([[0, 4095], [1000, 65535]], np.uint16), np.array([[7, 8], [9, 10]], np.uint16)
    _png(tmp_path/"a"/f"x{suffix}", a); _png(tmp_path/"b"/f"y{suffix}", b)
    ds = load_images(tmp_path)
    assert ds.intensity_range == (0.0, 65535.0) and ds.images.dtype == torch.float32
    assert ds.images[:, 0].numpy().tolist() == [a.tolist(), b.tolist()]


def test_a_dicom_folder_with_patients(tmp_path):
    "A folder of DICOM series, nested below the class folders: every slice read, patients from PatientID."
    for cls, source in (("ct", "CT_small.dcm"), ("mr", "MR_small.dcm")):
        for patient in range(3):
            for s in range(2):
                write_dicom(tmp_path/cls/f"patient{patient}"/f"{s}.dcm", source, add=5*s, PatientID=f"{cls}{patient}",
                            WindowCenter=None, WindowWidth=None)
    ds = load_images(tmp_path, size=32)
    assert ds.counts == {"ct": 6, "mr": 6} and ds.shape == (1, 32, 32)
    assert sorted(set(ds.patients)) == ["ct0", "ct1", "ct2", "mr0", "mr1", "mr2"]
    assert ds.intensity_range == (float(ds.images.min()), float(ds.images.max()))


def test_dicom_with_png_is_refused(tmp_path):
    write_dicom(tmp_path/"a"/"x.dcm")
    _png(tmp_path/"b"/"y.png", np.zeros((128, 128), np.uint8))
    with pytest.raises(ValueError, match=r"mixes DICOM or NIfTI files \(e.g. x.dcm\) with other images \(e.g. y.png\)"):
        from_folder(tmp_path)


def test_a_file_without_a_patient_id_turns_patients_off(tmp_path):
    write_dicom(tmp_path/"a"/"x.dcm", PatientID="p1")
    write_dicom(tmp_path/"b"/"y.dcm", add=3, PatientID="")
    with pytest.warns(UserWarning, match="1 of 2 images have no patient id"):
        ds = from_folder(tmp_path)
    assert ds.patients is None


def test_blank_slices_of_a_volume_are_left_out(tmp_path):
    volume = np.zeros((6, 6, 5), np.float32)
    volume[..., 1:4] = np.random.default_rng(0).random((6, 6, 3))
    nibabel.save(nibabel.Nifti1Image(volume, np.eye(4)), tmp_path/"v.nii.gz")
    (tmp_path/"m.csv").write_text("v.nii.gz,a\nv.nii.gz,b\n")
    with pytest.warns(UserWarning, match="4 constant slices or frames of 2 volume"):
        ds = from_manifest(tmp_path/"m.csv")
    assert ds.counts == {"a": 3, "b": 3}


@pytest.mark.parametrize("text, counts, patients", [
    ("path,label\nx.dcm,a\ny.dcm,b\n", {"a": 1, "b": 1}, ["1CT1", "1CT1"]),  # the file's PatientID
    ("x.dcm,a,p1\ny.dcm,b,p2\n", {"a": 1, "b": 1}, ["p1", "p2"]),  # no header: positional
    ("path,label,patient\nseries,a,p1\ny.dcm,b,p2\n", {"a": 2, "b": 1}, ["p1", "p1", "p2"]),  # a folder: its files
])
def test_manifest_layouts(tmp_path, text, counts, patients):
    write_dicom(tmp_path/"x.dcm"); write_dicom(tmp_path/"y.dcm", add=9)
    write_dicom(tmp_path/"series"/"1.dcm", add=1); write_dicom(tmp_path/"series"/"2.dcm", add=2)
    (tmp_path/"m.csv").write_text(text)
    ds = from_manifest(tmp_path/"m.csv")
    assert ds.counts == counts and ds.patients.tolist() == patients


@pytest.mark.parametrize("text, why", [
    ("", "holds no rows"),
    ("path,label\nx.dcm\n", "line 2: 1 fields"),
    ("x.dcm,a,p1,extra\n", "line 1: 4 fields"),
    ("path,label\n,a\n", "line 2: a path and a label are needed"),
])  # the notebook shows a misspelt column
def test_bad_manifests_name_the_line(tmp_path, text, why):
    (tmp_path/"m.csv").write_text(text)
    with pytest.raises(ValueError, match=why): from_manifest(tmp_path/"m.csv")


def test_a_missing_file_in_a_manifest_is_skipped_and_named(tmp_path):
    write_dicom(tmp_path/"x.dcm"); write_dicom(tmp_path/"y.dcm", add=9)
    (tmp_path/"m.csv").write_text("x.dcm,a\ny.dcm,b\ngone.dcm,b\n")
    with pytest.warns(UserWarning, match=r"1 of 3 files skipped, not readable as images \(gone.dcm: not found\)"):
        assert len(from_manifest(tmp_path/"m.csv")) == 2


def test_npz_with_patients_and_the_paths_load_images_refuses(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (8, 6, 6), dtype=np.uint8)
    np.savez(tmp_path/"mine.npz", train_images=images, train_labels=np.arange(8) % 2,
             train_patients=np.array(["a", "b", "c", "d"]*2))
    ds = load_images(tmp_path/"mine.npz", size=12)
    assert ds.shape == (1, 12, 12) and ds.patients.tolist() == ["a", "b", "c", "d"]*2
    (tmp_path/"notes.txt").write_text("x")
    with pytest.raises(ValueError, match="is not a folder of class sub-folders, a MedMNIST-layout .npz or a .csv"):
        load_images(tmp_path/"notes.txt")


def test_the_medical_extra_is_named_when_missing(tmp_path, monkeypatch):
    "Without pydicom or nibabel, reading such a file is an ImportError that names the extra (not a skipped file)."
    import sys
    write_dicom(tmp_path/"a"/"x.dcm"); write_dicom(tmp_path/"b"/"y.dcm", add=1)
    monkeypatch.setitem(sys.modules, "pydicom", None)
    extra = r'reading DICOM files needs pydicom: pip install "intrinsic_props\[medical\]"'
    with pytest.raises(ImportError, match=extra):
        from_folder(tmp_path)
    monkeypatch.setitem(sys.modules, "nibabel", None)
    with pytest.raises(ImportError, match="reading NIfTI files needs nibabel"): read_nifti(ANATOMICAL)


def test_reading_writes_nothing_into_the_folder(tmp_path):
    write_dicom(tmp_path/"a"/"x.dcm"); write_dicom(tmp_path/"b"/"y.dcm", add=1)
    nibabel.save(nibabel.load(ANATOMICAL), tmp_path/"v.nii.gz")
    (tmp_path/"m.csv").write_text("v.nii.gz,a\na/x.dcm,b\n")
    before = sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_folder(tmp_path)
        load_images(tmp_path/"m.csv", size=16)
    assert sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before


# --- tasks by patient ------------------------------------------------------------------------------------------------

def _patients_set(n_patients:int=40, per:int=6, seed:int=0) -> ImageSet:
    "Random images of `n_patients` patients, `per` images each; a patient's images may be of either class."
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n_patients*per, 8, 8), dtype=np.uint8)
    return from_arrays(images, rng.integers(0, 2, n_patients*per), ["a", "b"], name="scans",
                       patients=np.repeat([f"p{i}" for i in range(n_patients)], per))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_train, n_test", [(40, 20), (60, 60), (10, 2), (100, 0)])
def test_by_patient_tasks_are_balanced_disjoint_and_reproducible(seed, n_train, n_test):
    data = _patients_set()
    task = binary_task(data, ("a", "b"), n_train, n_test, seed=seed)
    assert set(task.train.patients).isdisjoint(task.test.patients)
    assert list(task.train.counts.values()) == [n_train//2]*2 and list(task.test.counts.values()) == [n_test//2]*2
    again = binary_task(data, ("a", "b"), n_train, n_test, seed=seed)
    assert task.train.index.tolist() == again.train.index.tolist()
    assert task.test.index.tolist() == again.test.index.tolist()
    assert (data.patients[task.train.index.numpy()] == task.train.patients).all()


def test_by_patient_with_an_official_test_split():
    pool, test = _patients_set(seed=1), _patients_set(seed=2)
    task = binary_task(pool, ("a", "b"), 40, 20, test_data=test, seed=3)
    assert set(task.train.patients).isdisjoint(task.test.patients) and task.test.split == ""


def test_without_patients_the_draw_is_as_before():
    "A set without patients draws exactly as it did; by_patient=False on a set with patients draws the same images."
    data = _patients_set()
    plain = binary_task(replace(data, patients=None), ("a", "b"), 40, 20, seed=5)
    ignored = binary_task(data, ("a", "b"), 40, 20, seed=5, by_patient=False)
    assert plain.train.index.tolist() == ignored.train.index.tolist()
    assert plain.test.index.tolist() == ignored.test.index.tolist()
    assert "by_patient" not in plain.preprocessing[-2]
    with pytest.raises(ValueError, match="by_patient=True but scans has no patient ids"):
        binary_task(replace(data, patients=None), ("a", "b"), 40, 20, by_patient=True)


def test_too_few_patients_says_which_side_is_short():
    data = _patients_set(n_patients=4, per=5)
    with pytest.raises(ValueError, match="from the patients not held out for testing"):
        binary_task(data, ("a", "b"), 16, 8, seed=0)


def test_a_sweep_on_a_dataset_with_patients_splits_by_patient(tmp_path, monkeypatch):
    "A data folder's npz with {split}_patients: run_task keeps patients apart, training_pool leaves out the held-out ones."
    from intrinsic_props.sweep import expand, run_task, training_pool
    data = _patients_set()
    np.savez(tmp_path/"scans.npz", train_images=data.images[:, 0].numpy(), train_labels=data.labels.numpy(),
             train_patients=data.patients)
    monkeypatch.setenv("INTRINSIC_PROPS_DATA", str(tmp_path))
    config = expand(dict(datasets=[{"name": "scans", "classes": ["0", "1"]}], models=["small_cnn"], n_train=[40],
                         seeds=[0], data={"n_test": 20}))[0]
    task = run_task(config)
    assert set(task.train.patients).isdisjoint(task.test.patients)
    pool = training_pool(config, task)
    assert set(pool.patients).isdisjoint(task.test.patients) and set(task.train.patients) <= set(pool.patients)
    assert load_dataset("scans").patients is not None
