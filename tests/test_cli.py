"""The command line, every subcommand in one place — `datasets`, `measure`, `sweep`, `results` — from the shell and through
`main`, with its outputs and its errors (one line and exit status 2 for a user's error)."""
import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from intrinsic_props.cli import main
from intrinsic_props.data import SAMPLES_DIR
from intrinsic_props.store import load_results


def run(*argv):
    "Run the installed console script; (exit status, stdout, stderr)."
    res = subprocess.run(["intrinsic-props", *argv], capture_output=True, text=True)
    return res.returncode, res.stdout, res.stderr


def test_measure_json_from_the_shell():
    status, out, err = run("measure", "digits", "--classes", "3", "8", "--n", "200", "--k", "10", "--json", "--quiet")
    assert status == 0, err
    row, = json.loads(out)
    assert (row["name"], row["n"], row["classes"], row["k"]) == ("digits:3-vs-8", 200, 2, 10)
    assert 1 < row["d_mle"] < 64 and 0 < row["k_f_robust"] <= row["k_f"]
    assert len(row["k_f_pair"]) == 2 and row["duplicates"] == 0 and row["preprocessing"].startswith("binary_task(")


def test_measure_csv_and_plot(tmp_path, capsys):
    assert main(["measure", "digits", "--n", "400", "--size", "16", "--csv", "--plot", str(tmp_path/"d.png"), "--quiet"]) == 0
    out = capsys.readouterr()
    table = pd.read_csv(pd.io.common.StringIO(out.out))
    assert table.loc[0, "shape"] == "1×16×16" and "resize(size=[16, 16]" in table.loc[0, "preprocessing"]
    assert (tmp_path/"d.png").stat().st_size > 10_000 and "figure written" in out.err


def test_measure_every_dataset_found(tmp_path, capsys):
    "With no dataset named, every dataset that can be loaded is measured: in an empty folder, the samples and digits."
    assert main(["measure", "--root", str(tmp_path), "--n", "300", "--k", "5", "--json", "--quiet"]) == 0
    out = capsys.readouterr()
    rows = json.loads(out.out)
    assert {r["name"] for r in rows} == {"mnist-sample", "fashion-mnist-sample", "pneumoniamnist-sample",
                                         "breastmnist-sample",
                                         "chest-xray-pneumonia-64-sample", "digits"}
    assert {r["domain"] for r in rows} == {"natural", "medical"} and "are the bundled samples" in out.err


def test_measure_prefers_a_full_dataset_to_its_sample(tmp_path, capsys):
    "A sample is measured only where its full dataset is not at hand."
    np.savez(tmp_path/"mnist.npz", train_images=np.random.default_rng(0).integers(0, 256, (60, 8, 8), dtype=np.uint8),
             train_labels=np.arange(60) % 10)
    assert main(["measure", "--root", str(tmp_path), "--n", "300", "--k", "5", "--json", "--quiet"]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)]
    assert "mnist" in names and "mnist-sample" not in names and "breastmnist-sample" in names


def test_measure_real_datasets(data, capsys):
    chest, breast, pneumonia = (data.name(n) for n in ("chest-xray-pneumonia-64", "breastmnist", "pneumoniamnist"))
    assert main(["measure", chest, breast, "--classes", "normal", "pneumonia", "--n", "300", "--json", "--quiet"]) == 2
    assert f"class 'normal' is not in {breast}" in capsys.readouterr().err
    assert main(["measure", chest, pneumonia, "--classes", "normal", "pneumonia", "--n", "400",
                 "--size", "28", "--json", "--quiet"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["domain"] for r in rows] == ["medical", "medical"] and all(r["shape"] == "1×28×28" for r in rows)


@pytest.mark.parametrize("argv, why", [
    (["measure", "digits", "--n", "15"], "need at least k+1 = 21 points"),
    (["measure", "--classes", "3", "8"], "--classes needs the datasets named"),
    (["measure", "digits", "--classes", "3", "3"], "overlap"),
    (["measure", "digits", "--classes", "3", "cat"], "class 'cat' is not in digits"),
    (["measure", "digits", "--n", "20", "--k", "20"], "need at least k+1 = 21 points"),
    (["measure", "nosuchset"], "unknown dataset 'nosuchset'"),
])
def test_measure_errors_are_one_line(argv, why, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert why in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv, why",
                         [(["--n", "0"], "must be a positive integer"), (["--channels", "2"], "invalid choice")])
def test_measure_bad_options_are_usage_errors(argv, why):
    status, _, err = run("measure", "digits", *argv)
    assert status == 2 and why in err


def test_measure_rejects_bad_user_data(tmp_path, capsys):
    "A user's npz with NaN images, or with images of the wrong shape, is a one-line error naming the problem."
    import numpy as np
    images = np.random.default_rng(0).random((30, 8, 8))
    images[3, 2, 2] = np.nan
    np.savez(tmp_path/"withnan.npz", train_images=images, train_labels=np.arange(30) % 2)
    np.savez(tmp_path/"flat.npz", train_images=np.zeros((30, 64)), train_labels=np.arange(30) % 2)
    assert main(["measure", "withnan", "--root", str(tmp_path), "--k", "5"]) == 2
    assert "NaN/inf values (first in image 3)" in capsys.readouterr().err
    assert main(["measure", "flat", "--root", str(tmp_path), "--k", "5"]) == 2
    assert "images must be N×H×W, N×C×H×W or N×H×W×C" in capsys.readouterr().err


# --- your own images (issue 20): a folder, DICOM, NIfTI, .npz, a manifest; --compare ----------------------------------

def _png_folder(root, sizes=((16, 16),)*2):
    "A folder of two classes of 8-bit PNGs, 15 each (as many shapes as `sizes` names, one per class)."
    from PIL import Image
    rng = np.random.default_rng(0)
    for (cls, shift), size in zip((("benign", 0), ("malignant", 40)), sizes):
        (root/cls).mkdir(parents=True)
        for i in range(15):
            Image.fromarray(rng.integers(shift, 200 + shift//2, size, dtype=np.uint8)).save(root/cls/f"{i}.png")
    return root


def _dicom_folder(root):
    "Two classes of 15 DICOM files of random pixels (CT_small.dcm's header); in each a MONOCHROME1 file and a rescaled "
    "one, stored so that they show what the others show: read without inverting or rescaling they would be outliers."
    import pydicom
    from test_user_data import shipped
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root/cls).mkdir(parents=True)
        for i in range(15):
            ds = pydicom.dcmread(shipped("CT_small.dcm"))  # shown: stored − 1024
            shown = 2*rng.integers(0, 500, ds.pixel_array.shape) + (np.arange(128)*4 if cls == "b" else 0) - 1024
            stored = shown + 1024
            if i == 0:  # white is low: shown = −33792 + 31743 − (stored − 1024)
                ds.PhotometricInterpretation, stored = "MONOCHROME1", -1025 - shown
            if i == 1:  # shown = 2·stored − 500
                ds.RescaleSlope, ds.RescaleIntercept, stored = 2, -500, (shown + 500)//2
            ds.PixelData = stored.astype(np.int16).tobytes()
            ds.PatientID = f"{cls}{i % 5}"
            ds.save_as(root/cls/f"{i:02d}.dcm")
    return root


def _one_row(out, name, n):
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert len(table) == 1 and table.loc[0, "name"] == name and table.loc[0, "n"] == n, out
    return table.loc[0]


def test_measure_a_folder_of_pngs(tmp_path, capsys):
    assert main(["measure", str(_png_folder(tmp_path/"my_set")), "--k", "5", "--csv"]) == 0
    out = capsys.readouterr()
    row = _one_row(out.out, "my_set", 30)
    assert row["shape"] == "1×16×16" and np.isfinite(row["k_f"]) and out.err == ""


def test_measure_a_folder_of_dicom_files_from_the_shell(tmp_path):
    "A MONOCHROME1 and a rescaled file among them: one row, the patients counted, and no warning."
    pytest.importorskip("pydicom")
    status, out, err = run("measure", str(_dicom_folder(tmp_path/"ct")), "--size", "32", "--k", "5", "--csv")
    assert status == 0 and err == "", err
    row = _one_row(out, "ct", 30)
    assert (row["shape"], row["patients"], row["classes"]) == ("1×32×32", 10, 2)


def test_a_damaged_dicom_among_good_ones_is_one_warning_line(tmp_path, capsys):
    pytest.importorskip("pydicom")
    folder = _dicom_folder(tmp_path/"ct")
    whole = (folder/"a"/"02.dcm").read_bytes()
    (folder/"a"/"damaged.dcm").write_bytes(whole[:len(whole)//2])
    assert main(["measure", str(folder), "--size", "32", "--k", "5", "--csv"]) == 0
    out = capsys.readouterr()
    _one_row(out.out, "ct", 30)
    assert out.err.splitlines() == [f"warning: {folder}: 1 of 31 files skipped, not readable as images (a/damaged.dcm: "
                                    "The number of bytes of pixel data is less than expected (13304 vs 32768 bytes) - "
                                    "the dataset may be corrupted, have an …)"]


def test_measure_a_nifti_volume_through_a_manifest(tmp_path, capsys):
    "Two patients' volumes in a manifest: every slice labelled by its volume's row."
    nibabel = pytest.importorskip("nibabel")
    from nibabel.testing import data_path
    volume = nibabel.load(f"{data_path}/anatomical.nii")
    noisy = volume.get_fdata() + np.random.default_rng(0).normal(0, 200, volume.shape)
    nibabel.save(nibabel.Nifti1Image(noisy.astype(np.float32), volume.affine), tmp_path/"lesion.nii.gz")
    (tmp_path/"scans.csv").write_text(f"path,label,patient\n{data_path}/anatomical.nii,healthy,p1\n"
                                      "lesion.nii.gz,lesion,p2\n")
    assert main(["measure", str(tmp_path/"scans.csv"), "--k", "5", "--csv"]) == 0
    out = capsys.readouterr()
    row = _one_row(out.out, "scans", 50)
    assert (row["shape"], row["patients"]) == ("1×33×41", 2) and out.err == ""


def test_measure_an_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path/"mine.npz", train_images=rng.integers(0, 256, (40, 12, 12), dtype=np.uint8),
             train_labels=np.arange(40) % 2, test_images=rng.integers(0, 256, (30, 12, 12), dtype=np.uint8),
             test_labels=np.arange(30) % 2)
    assert main(["measure", str(tmp_path/"mine.npz"), "--split", "test", "--k", "5", "--csv"]) == 0
    _one_row(capsys.readouterr().out, "mine", 30)


def test_bad_folders_are_one_line_errors(tmp_path, capsys):
    "No readable image, one class, mixed shapes without --size, a file that is none of the layouts: exit 2, one line."
    text = tmp_path/"text"
    for cls in ("a", "b"):
        (text/cls).mkdir(parents=True)
        for i in range(3): (text/cls/f"{i}.txt").write_text("not an image")
    one = _png_folder(tmp_path/"one"); (one/"malignant").rename(tmp_path/"elsewhere")
    mixed = _png_folder(tmp_path/"mixed", sizes=((16, 16), (20, 24)))
    (tmp_path/"notes.txt").write_text("x")
    for path, why in [(text, "holds no readable image: none of its 6 files can be read as one (a/0.txt: not an image "
                             "file; a/1.txt: not an image file; a/2.txt: not an image file; …)"),
                      (one, "holds images of 1 class (benign); label sharpness compares classes"),
                      (mixed, "have 2 different sizes (e.g. [(16, 16), (20, 24)]); pass size=(H, W) to resize them "
                              "(--size on the command line)"),
                      (tmp_path/"notes.txt", "is not a folder of class sub-folders, a MedMNIST-layout .npz or a .csv")]:
        assert main(["measure", str(path), "--k", "5"]) == 2
        one_line_error(capsys, why)
    status, _, err = run("measure", str(text))
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err and "holds no readable image" in err


def test_the_medical_extra_is_named_when_missing(tmp_path, capsys, monkeypatch):
    import sys
    pytest.importorskip("pydicom")
    folder = _dicom_folder(tmp_path/"ct")
    monkeypatch.setitem(sys.modules, "pydicom", None)
    assert main(["measure", str(folder)]) == 2
    one_line_error(capsys, 'reading DICOM files needs pydicom: pip install "intrinsic_props[medical]"')


def test_compare_places_a_folder_among_the_references(tmp_path, capsys, monkeypatch, data):
    "The table (yours and the references, measured alike), the placement line and the figure, written here."
    monkeypatch.chdir(tmp_path)
    folder = _png_folder(tmp_path/"images"/"my_set")
    assert main(["measure", str(folder), "--compare", "--k", "5", "--csv"]) == 0
    out = capsys.readouterr()
    table = pd.read_csv(pd.io.common.StringIO(out.out))
    n_refs = len(table) - 1
    assert table.role.tolist() == ["yours"] + ["reference"]*n_refs and set(table.n) == {30}
    assert set(table["shape"]) == {"1×32×32"} and (n_refs == 5 or data.shelf)
    placement, = [line for line in out.err.splitlines() if line.startswith("placement: ")]
    assert f"compared with {n_refs} reference datasets" in placement and "K_F 0." in placement
    assert placement.count("range (") == 4
    assert "the paper's published values compare only with its protocol" in placement
    assert (tmp_path/"my_set-compare.png").stat().st_size > 20_000


def test_compare_with_the_papers_protocol_adds_its_values(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INTRINSIC_PROPS_DATA", raising=False)  # the five samples: quick at 224 px
    assert main(["measure", "breastmnist-sample", "--compare", "--scale", "max", "--size", "224", "--n", "100",
                 "--plot", "paper.png", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "among the paper's published values (224 px, ×255/max): K_F" in err
    assert "the medical range (0.000134–0.000343, 7 datasets)" in err and (tmp_path/"paper.png").exists()


@pytest.mark.parametrize("argv, why", [
    (["measure", "digits", "mnist-sample", "--compare"], "--compare places one dataset: name exactly one"),
    (["measure", "{folder}", "--compare", "--plot", "{folder}/fig.png"],
     "would write {folder}/fig.png into the folder"),
])
def test_compare_errors(tmp_path, capsys, argv, why):
    folder = _png_folder(tmp_path/"my_set")
    assert main([a.format(folder=folder) for a in argv]) == 2
    one_line_error(capsys, why.format(folder=folder))


# Issue 11 part B: the sweep and results commands on bad input — one line and exit status 2, files left as they were.

import sqlite3  # noqa: E402

from intrinsic_props.store import ResultStore  # noqa: E402

SPEC = "datasets: [{name: digits, classes: ['3', '8']}]\nmodels: [small_cnn]\nseeds: [0]\ndata: {n_test: 30}\ntrain: {epochs: 1}\nattack: {pgd_steps: 2}\n"


def one_line_error(capsys, why):
    err = capsys.readouterr().err
    assert why in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_sweep_exits_1_when_a_run_failed(tmp_path):
    "Every run failed (the task asks for more images than the digits hold): exit status 1, each failure and the summary."
    (tmp_path/"s.yaml").write_text(SPEC + "n_train: [400]\n")
    status, _, err = run("sweep", str(tmp_path/"s.yaml"), "--db", str(tmp_path/"s.db"), "--quiet")
    assert status == 1, err
    assert "failed  digits [3 vs 8] small_cnn N=400 seed=0: ValueError: class '3' has" in err
    assert err.strip().splitlines()[-1] == f"0 of 1 runs done, 1 failed; results in {tmp_path/'s.db'}"


@pytest.mark.parametrize("text, why", [
    (SPEC + "n_train: []\n", "n_train must be a non-empty list"),
    (SPEC + "n_train: [10.5]\n", "10.5 is not a whole number ≥ 1"),
    (SPEC.replace("n_test: 30", "n_tset: 30") + "n_train: [40]\n",
     "unknown key 'data.n_tset' (did you mean 'n_test'?)"),
    (SPEC.replace("epochs: 1", "epochs: 1, lr: 1e300") + "n_train: [40]\n",
     "train.lr must be a number > 0 and ≤ 1; got the string '1e300'"),
    (SPEC + "n_train: [40\n",
     "s.yaml is not valid YAML: while parsing a flow sequence, expected ',' or ']', but got '<stream end>' at line 8"),
    (SPEC + "n_train: !!python/object:os.system [40]\n",
     "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object:os.system' at line 7"),
])
def test_sweep_on_a_bad_specification_writes_nothing(text, why, tmp_path, capsys):
    (tmp_path/"s.yaml").write_text(text)
    assert main(["sweep", str(tmp_path/"s.yaml"), "--db", str(tmp_path/"s.db"), "--quiet"]) == 2
    one_line_error(capsys, why)
    assert not (tmp_path/"s.db").exists()


def damaged(tmp_path):
    "A results database cut in the middle of its pages."
    store = ResultStore(tmp_path/"whole.db")
    for i in range(40): store.record(dict(run_id=f"r{i}", sweep="x", status="done", config={"n_train": i},
                                          result={"x": "y"*500}))
    with sqlite3.connect(store.path) as db: db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (tmp_path/"cut.db").write_bytes(store.path.read_bytes()[:12000])
    return tmp_path/"cut.db"


@pytest.mark.parametrize("make, why", [
    (lambda p: (p/"notes.txt").write_text("plain text, " * 500) and p/"notes.txt",
     "notes.txt is not a results database, or it is damaged: file is not a database"),
    (damaged, "cut.db is not a results database, or it is damaged: database disk image is malformed"),
    (lambda p: (p/"zero.db").touch() or p/"zero.db", "zero.db is not a results database: it is empty"),
    (lambda p: p, "is a folder, not a results database"),
    (lambda p: p/"none.db", "no results database at"),
])
def test_results_on_what_is_not_a_results_database(make, why, tmp_path, capsys):
    path = make(tmp_path)
    before = path.read_bytes() if path.is_file() else None
    assert main(["results", str(path)]) == 2
    one_line_error(capsys, why)
    assert (path.read_bytes() if path.is_file() else None) == before


def test_results_reads_another_sqlite_file_without_changing_it(tmp_path, capsys):
    "results used to add a runs table and switch the file to WAL before failing; it now opens it read-only."
    con = sqlite3.connect(tmp_path/"app.db"); con.execute("CREATE TABLE patients (id)"); con.commit(); con.close()
    before = (tmp_path/"app.db").read_bytes()
    assert main(["results", str(tmp_path/"app.db")]) == 2
    one_line_error(capsys,
                   "app.db is not a results database: it is a SQLite database of something else (tables: patients)")
    assert (tmp_path/"app.db").read_bytes() == before and not (tmp_path/"app.db-wal").exists()
    assert main(["sweep", str(_spec(tmp_path)), "--db", str(tmp_path/"app.db"), "--quiet"]) == 2
    assert (tmp_path/"app.db").read_bytes() == before


def _spec(tmp_path):
    (tmp_path/"ok.yaml").write_text(SPEC + "n_train: [40]\n")
    return tmp_path/"ok.yaml"


def test_results_of_an_empty_database(tmp_path, capsys):
    ResultStore(tmp_path/"empty.db")
    assert main(["results", str(tmp_path/"empty.db"), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == [] and "no runs stored in" in out.err
    assert main(["results", str(tmp_path/"empty.db"), "--csv"]) == 0
    assert capsys.readouterr().out.startswith("run_id,sweep,status,dataset,classes,model,n_train,seed,error,seconds")


@pytest.mark.parametrize("db, why", [(".", "is a folder; name a results database file in it"),
                                     ("/sys/x.db",
                                      "cannot write the results database /sys/x.db: unable to open database file")])
def test_sweep_into_a_database_that_cannot_be_written(db, why, tmp_path, capsys):
    assert main(["sweep", str(_spec(tmp_path)), "--db", str(tmp_path) if db == "." else db, "--quiet"]) == 2
    one_line_error(capsys, why)


def test_json_tells_infinity_and_nan_from_missing(tmp_path, capsys):
    "An infinite K_F and a NaN loss are written as \"Infinity\" and \"NaN\", a missing value as null; strict JSON."
    ResultStore(tmp_path/"r.db").record(dict(run_id="r1", sweep="x", status="done",
                                             config={"dataset": "digits", "n_train": 40},
                                             result={"k_f": float("inf"), "test_loss": float("nan"), "d_repr": None,
                                                     "d_data": 7.5}))
    assert main(["results", str(tmp_path/"r.db"), "--json"]) == 0
    text = capsys.readouterr().out
    row, = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert (row["k_f"], row["test_loss"], row["d_repr"], row["d_data"]) == ("Infinity", "NaN", None, 7.5)
    assert main(["results", str(tmp_path/"r.db"), "--out", str(tmp_path/"r.json")]) == 0
    assert json.loads((tmp_path/"r.json").read_text()) == [row]


def test_measure_json_writes_an_infinite_label_sharpness(tmp_path, capsys):
    images = np.random.default_rng(0).integers(0, 256, (60, 8, 8), dtype=np.uint8)
    images[1] = images[0]  # the same image under both labels: K_F is infinite
    np.savez(tmp_path/"dup.npz", train_images=images, train_labels=np.arange(60) % 2)
    assert main(["measure", "dup", "--root", str(tmp_path), "--k", "5", "--json", "--quiet"]) == 0
    row, = json.loads(capsys.readouterr().out)
    assert row["k_f"] == "Infinity" and np.isfinite(row["d_mle"])


@pytest.mark.parametrize("argv, why", [
    (["results", "{db}", "--out", "/sys/x.json"], "Permission denied: '/sys/x.json'"),
    (["results", "{db}", "--out", "{tmp}/none/x.csv"], "none is not a folder"),
    (["results", "{db}", "--out", "{db}/x.json"], "r.db is not a folder"),
    (["results", "{db}", "--out", "{tmp}"], "is a folder; name a file"),
    (["measure", "digits", "--n", "200", "--quiet", "--plot", "/sys/x.png"], "Permission denied: '/sys/x.png'"),
    (["measure", "digits", "--n", "200", "--quiet", "--plot", "{tmp}/none/x.png"], "none is not a folder"),
])
def test_an_output_that_cannot_be_written(argv, why, tmp_path, capsys):
    ResultStore(tmp_path/"r.db").record(dict(run_id="r1", sweep="x", status="done", config={"n_train": 40},
                                             result={"x": 1.0}))
    argv = [a.format(db=tmp_path/"r.db", tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert why in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_a_mistyped_root(tmp_path, capsys, monkeypatch):
    "A --root that does not exist is refused where nothing would be downloaded, and not left behind by a failed download."
    nowhere = tmp_path/"dtaa"
    assert main(["measure", "--root", str(nowhere), "--quiet"]) == 2
    one_line_error(capsys, f"--root {nowhere} is not a folder")
    assert main(["datasets", "--root", str(nowhere)]) == 2
    one_line_error(capsys, f"--root {nowhere} is not a folder")
    import intrinsic_props.data as data
    def offline(name, folder):
        (folder/"torchvision").mkdir(parents=True)  # what a download makes before it fails
        raise RuntimeError(f"cannot download {name}: no network")
    monkeypatch.setattr(data, "_download", offline)
    assert main(["measure", "svhn", "--root", str(nowhere), "--quiet"]) == 2
    one_line_error(capsys, "cannot download svhn: no network")
    assert not nowhere.exists()


def test_traceback_on_request_and_for_bugs(tmp_path, capsys, monkeypatch):
    "--traceback shows a user error's traceback; an error that is a bug keeps its traceback without it."
    assert main(["--traceback", "results", str(tmp_path/"none.db")]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().endswith("no results database at " + str(tmp_path/"none.db"))
    assert main(["results", str(tmp_path/"none.db"), "--traceback"]) == 2
    assert "Traceback" in capsys.readouterr().err
    import intrinsic_props.cli as cli
    monkeypatch.setattr(cli, "results_command", lambda args: {}["a bug"])
    with pytest.raises(KeyError): main(["results", str(tmp_path/"none.db")])


# --- datasets -----------------------------------------------------------------------------------------------------

def test_datasets_command_lists_the_data(data):
    "Every dataset of the data at hand is listed with its counts per split, shape and licence; the samples always are."
    res = subprocess.run(["intrinsic-props", "datasets", "--json"], capture_output=True, text=True, check=True)
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    samples = json.loads((SAMPLES_DIR/"manifest.json").read_text())
    for name, entry in {**data.manifest, **samples}.items():
        assert all(rows[name][split] == sum(counts) for split, counts in entry["counts"].items()), name
        assert rows[name]["shape"] == "×".join(map(str, entry["shape"])) and rows[name]["license"] == entry["license"], name
    assert "digits" in rows


def test_datasets_command_survives_bad_files(bad_data_folder):
    "`intrinsic-props datasets` on a folder with bad files lists the rest, exits 0 and names each bad file on stderr."
    res = subprocess.run(["intrinsic-props", "datasets", "--root", str(bad_data_folder), "--json"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert "toy" in {r["name"] for r in json.loads(res.stdout)}
    assert all(f"{name}.npz" in res.stderr for name in ("junk", "cut", "nosplit")), res.stderr


# --- sweep and results --------------------------------------------------------------------------------------------

def test_sweep_and_results_from_the_shell(tmp_path):
    "`intrinsic-props sweep` stores every run of a specification; `intrinsic-props results` prints them, one row each."
    spec = tmp_path/"cli.yaml"
    spec.write_text(yaml.safe_dump(dict(name="cli", datasets=[{"name": "digits", "classes": ["3", "8"]}],
                                        models=["small_cnn"],
                                        n_train=[40, 60], seeds=[0], data={"n_test": 30}, train={"epochs": 2},
                                        attack={"pgd_steps": 3})))
    db = tmp_path/"cli.db"
    status, _, err = run("sweep", str(spec), "--db", str(db), "--quiet")
    assert status == 0 and "2 of 2 runs done, 0 failed" in err, err
    df = load_results(db)
    assert len(df) == 2 and {"d_data", "k_f", "test_loss", "delta_loss", "d_repr", "train.epochs"} <= set(df.columns)
    status, out, err = run("results", str(db), "--csv")
    assert status == 0, err
    assert out.splitlines()[0].startswith("run_id,sweep,status,dataset") and len(out.splitlines()) == 3
