"The `intrinsic-props measure` subcommand: from the shell and through `main`, with its outputs and its errors."
import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from intrinsic_props.cli import main


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
    assert {r["name"] for r in rows} == {"mnist-sample", "fashion-mnist-sample", "pneumoniamnist-sample", "breastmnist-sample",
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


@pytest.mark.parametrize("argv, why", [(["--n", "0"], "must be a positive integer"), (["--channels", "2"], "invalid choice")])
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
