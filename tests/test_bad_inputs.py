"Issue 11 (part A): bad inputs to measure, the neighbour pass, evaluation and checkpoints get a clear error or an explicit warning."
import warnings

import numpy as np
import pytest
import torch

from intrinsic_props.data import concat, load_dataset
from intrinsic_props.intrinsic_dim import MLE, FewPointsWarning, TwoNN
from intrinsic_props.measure import measure


@pytest.fixture(scope="module")
def digits(): return load_dataset("digits")


def test_measure_on_an_empty_set(digits):
    with pytest.raises(ValueError, match="need at least k\\+1 = 4 points"):
        measure(np.zeros((0, 5)), np.zeros(0), k=3)


@pytest.mark.parametrize("n,k,warns",
                         [(21, 20, True), (60, 20, True), (100, 20, False), (4, 3, True), (19, 3, True),
                          (20, 3, False)])
def test_measure_warns_once_on_too_few_points(digits, n, k, warns):
    "One FewPointsWarning for the whole record (not one per estimator), saying why; the numbers still come."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = measure(digits[:n], k=k)
    few = [str(w.message) for w in caught if w.category is FewPointsWarning]
    assert len(few) == warns and np.isfinite(rec.d_mle)
    if warns: assert few[0].startswith(f"measure: {n} points are too few for a meaningful estimate with k={k}")


@pytest.mark.parametrize("copies", [1, 5, 19])
def test_measure_authors_forms_keep_copies(digits, copies):
    "With exact copies d_*_authors are the authors' skip-zero estimates, d_mle/d_twonn drop the copies; without, all agree."
    data = concat([digits[:300], digits[[7]*copies]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = measure(data)
        assert rec.d_mle_authors == pytest.approx(MLE(20, "mle", True, "skip_zero").fit(data).dimension_, rel=1e-12)
        assert rec.d_twonn_authors == pytest.approx(TwoNN(discard=0, duplicates="skip_zero").fit(data).dimension_,
                                                    rel=1e-12)
        assert rec.d_mle == pytest.approx(MLE(20).fit(data).dimension_, rel=1e-12)
        dropped = MLE(20, "mle", True).fit(data).dimension_
        plain = measure(digits[:300])
    assert rec.duplicates == copies + 1 and rec.d_mle_authors != dropped
    assert plain.d_mle_authors == MLE(20, "mle", True).fit(digits[:300]).dimension_  # no copies: the two ways are one


def test_evaluate_names_non_finite_weights(digits):
    from intrinsic_props.data import binary_task
    from intrinsic_props.models import build_model
    from intrinsic_props.training import evaluate
    task = binary_task(digits, ("3", "8"), 40, 20, seed=0)
    model = build_model("small_cnn", 1, seed=0)
    with torch.no_grad():
        for q in model.parameters(): q.fill_(1e10)  # finite weights whose logits overflow float32
    with pytest.raises(ValueError, match="gives NaN/inf logits on 20 of 20 images although its weights are finite"):
        evaluate(model, task.test)


@pytest.mark.parametrize("content,match", [
    (b"", "is empty: not a checkpoint"), ("zip", "a zip archive but not a PyTorch checkpoint"),
    ("truncated", "damaged or incomplete checkpoint")])  # the notebook shows random bytes and pickled objects
def test_load_weights_says_what_the_file_is(tmp_path, content, match):
    import time, zipfile
    from intrinsic_props.models import build_model
    from intrinsic_props.training import load_weights, save_weights
    model = build_model("small_cnn", 1, seed=0)
    path = tmp_path/"w.pt"
    if content == "zip":
        with zipfile.ZipFile(path, "w") as z: z.writestr("notes.txt", "x")
    elif content == "truncated": path.write_bytes(save_weights(model, tmp_path/"ok.pt").read_bytes()[:300])
    elif content == "objects": torch.save({"weights": model.state_dict(), "when": time.localtime()}, path)
    else: path.write_bytes(content)
    with pytest.raises(ValueError, match=match): load_weights(model, path)


def test_measure_with_k_copies_of_one_image_leaves_only_the_mean_pooling_empty():
    "With k or more copies of an image, its neighbours' Levina–Bickel estimates are infinite: that one value is left empty, with a warning."
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6))
    x = np.vstack([x, np.repeat(x[:1], 25, axis=0)])
    y = np.arange(len(x)) % 2
    y[200:] = y[0]
    with pytest.warns(Warning) as caught:
        m = measure(x, y, k=20)
    assert m.d_mle_mean is None and np.isfinite(m.d_mle) and np.isfinite(m.d_mle_authors)
    assert any("d_mle_mean is left empty" in str(w.message) for w in caught)
