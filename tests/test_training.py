"Cross-cutting tests of training: reproducibility, the input convention, divergence, bad inputs, results, checkpoints."
import copy
import json
import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from intrinsic_props.data import BinaryTask, binary_task, load_dataset
from intrinsic_props.models import build_model
from intrinsic_props.training import (PRESETS, TrainResult, TrainSettings, TrainingDiverged, batch_indices,
                                      cudnn_autotune,
                                      device_batches, evaluate, load_weights, recalibrate_bn, save_weights, train,
                                      train_settings)


@pytest.fixture(scope="module")
def digits():
    return binary_task(load_dataset("digits"), classes=("3", "8"), n_train=64, n_test=32, seed=0)


def curve(result):
    return [(h["train_loss"], h["train_accuracy"]) for h in result.history]


def quick(model, task, **kw):
    return train(model, task, progress=False, **{"epochs": 2, **kw})


def test_same_seeds_same_history_and_weights(digits):
    a, b = build_model("small_cnn", 1, seed=0), build_model("small_cnn", 1, seed=0)
    ra, rb = quick(a, digits), quick(b, digits)
    assert curve(ra) == curve(rb) and ra.test_loss == rb.test_loss
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_other_initial_weights_change_the_run(digits):
    assert curve(quick(build_model("small_cnn", 1, seed=0), digits)) != curve(quick(build_model("small_cnn", 1, seed=1), digits))


def test_dropout_follows_the_run_seed(digits):
    "Dropout (as in VGG's classifier) draws from the run's seed, not from whatever the global state happens to be."
    def run(global_seed):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Dropout(0.5), nn.Linear(4*6*6, 2))
        torch.manual_seed(global_seed)
        return curve(train(model, digits, TrainSettings(epochs=2, arch="dropout"), progress=False))
    assert run(123) == run(456)


def test_training_leaves_the_global_random_state_alone(digits):
    before = torch.get_rng_state()
    quick(build_model("small_cnn", 1, seed=0), digits, epochs=1)
    assert torch.equal(before, torch.get_rng_state())


def test_uint8_and_float_images_in_the_same_units_train_identically():
    "The model-input convention: uint8 pixels become floats of the same value, nothing else."
    task = binary_task(load_dataset("digits"), classes=("3", "8"), n_train=64, n_test=32, seed=0, scale=None)
    assert task.train.images.dtype == torch.uint8
    as_float = BinaryTask(replace(task.train, images=task.train.images.float()),
                          replace(task.test, images=task.test.images.float()))
    assert curve(quick(build_model("small_cnn", 1, seed=0), task)) == curve(quick(build_model("small_cnn", 1, seed=0), as_float))


def test_quick_preset_learns_the_digits(digits):
    "Recalibrated: after its 20 steps the running statistics alone leave the test accuracy between 0.53 and 0.97."
    result = train(build_model("small_cnn", 1, seed=0), digits, recalibrate_bn=True, progress=False)
    assert len(result.history) == PRESETS["quick"]["epochs"]
    assert result.history[-1]["train_loss"] < 0.5*result.history[0]["train_loss"]
    assert result.test_accuracy >= 0.9


class NaNFrom(nn.Module):
    "A tiny classifier whose logits turn NaN from training forward pass `start` on."
    def __init__(self, start):
        super().__init__()
        self.conv, self.fc, self.start, self.calls = nn.Conv2d(1, 2, 3, padding=1), nn.Linear(2*8*8, 2), start, 0

    def forward(self, x):
        self.calls += self.training
        out = self.fc(self.conv(x).flatten(1))
        return out*math.nan if self.calls >= self.start else out


def test_divergence_names_the_epoch_and_the_settings(digits):
    settings = TrainSettings(epochs=3, batch_size=16, lr=0.01, preset="custom", arch="NaNFrom")
    with pytest.raises(TrainingDiverged,
                       match=r"diverged in epoch 2/3: mean training loss is nan \(NaNFrom, preset 'custom', lr=0.01, "
                             r"batch_size=16"):
        train(NaNFrom(start=5), digits, settings, progress=False)  # 4 batches per epoch: the 5th call is in epoch 2


def test_divergence_is_a_floating_point_error(digits):
    assert issubclass(TrainingDiverged, FloatingPointError)


@pytest.mark.parametrize("overrides, message", [
    (dict(epochs=2.5), "epochs must be an integer ≥ 1"),  # the notebook shows epochs=0
    (dict(batch_size=0), "batch_size must be an integer ≥ 1"),
    (dict(lr=-1e-3), "lr must be a positive finite number"),
    (dict(lr=math.inf), "lr must be a positive finite number"),
    (dict(weight_decay=-1.0), "weight_decay must be ≥ 0"),
])
def test_bad_settings_fail_before_training(digits, overrides, message):
    with pytest.raises(ValueError, match=message): train(build_model("small_cnn", 1), digits, **overrides)


def test_unknown_preset_and_setting_are_named():
    with pytest.raises(ValueError, match="unknown preset 'fast'; known: paper, quick"): train_settings("fast", "resnet18")
    with pytest.raises(TypeError, match="unknown settings \\['learning_rate'\\]"):
        train_settings("quick", "resnet18", learning_rate=1)


def test_paper_preset_follows_the_protocol():
    assert [train_settings("paper", a).batch_size for a in ("resnet18", "resnet34", "resnet50", "vgg13", "vgg16", "vgg19")] == [40, 25, 12, 6, 6, 6]
    s = train_settings("paper", "resnet34")
    assert (s.epochs, s.lr, s.weight_decay, s.image_size) == (100, 1e-3, 1e-4, 224)
    assert train_settings("paper", "vgg19").lr == 1e-4


def test_nan_pixels_are_refused(digits):
    broken = replace(digits.train, images=digits.train.images.clone())
    broken.images[3, 0, 2, 2] = math.nan
    with pytest.raises(ValueError, match="NaN/inf pixel values"): train(build_model("small_cnn", 1),
                                                                        BinaryTask(broken, digits.test))


def test_wrong_channels_are_refused_with_advice(digits):
    with pytest.raises(ValueError, match="takes 3-channel images, got 1; build it with in_channels=1"):
        train(build_model("resnet18", 3), digits)


def test_empty_test_set_is_refused(digits):
    with pytest.raises(ValueError, match="holds no images"): train(build_model("small_cnn", 1),
                                                                   BinaryTask(digits.train, digits.test[:0]))


def test_not_an_image_set_is_refused():
    with pytest.raises(TypeError, match="expected an ImageSet, got Tensor"): evaluate(build_model("small_cnn", 1), torch.zeros(2, 1, 8, 8))


def test_evaluate_keeps_eval_mode_and_does_not_touch_gradients(digits):
    model = build_model("small_cnn", 1, seed=0).eval()
    evaluate(model, digits.test)
    assert not model.training and all(p.grad is None for p in model.parameters())


def test_evaluate_is_independent_of_batch_size(digits):
    model = build_model("small_cnn", 1, seed=0)
    quick(model, digits)
    a, b = evaluate(model, digits.test, batch_size=5), evaluate(model, digits.test, batch_size=64)
    assert a.accuracy == b.accuracy and a.loss == pytest.approx(b.loss, rel=1e-5)


@pytest.mark.parametrize("seed", [1, 2, 3])  # the notebook shows seed 0
def test_stale_statistics_score_chance_and_recalibration_fits_whatever_the_seed(seed):
    "Chance by construction: after 6 steps the first running variance is still mostly its initial 1, whatever rounds."
    few = binary_task(load_dataset("digits"), classes=("3", "8"), n_train=64, n_test=32, seed=seed)
    model = build_model("resnet18", 1, seed=seed)
    stale = train(model, few, epochs=3, seed=seed, progress=False)
    settled = evaluate(recalibrate_bn(model, few.train.images), few.train)  # what recalibrate_bn=True does after training
    assert abs(stale.train_loss - math.log(2)) < 0.1 and stale.train_accuracy < 0.75
    assert settled.accuracy >= 0.95 and settled.loss < 0.1


def test_result_round_trips_through_a_json_file(digits, tmp_path):
    result = quick(build_model("small_cnn", 1, seed=0), digits)
    result.to_json(tmp_path/"run.json")
    assert TrainResult.from_json(tmp_path/"run.json") == result
    stored = json.loads((tmp_path/"run.json").read_text())
    assert set(stored) == {"settings", "task", "history", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
                           "seconds", "device"}
    assert stored["task"]["classes"] == ["3", "8"] and stored["settings"]["arch"] == "small_cnn"


def test_progress_bar_names_the_run(digits, capsys):
    train(build_model("small_cnn", 1, seed=0), digits, epochs=1, progress=True)
    assert "small_cnn digits:3-vs-8" in capsys.readouterr().err


def test_checkpoint_holds_tensors_only_and_restores_the_model(digits, tmp_path):
    model = build_model("resnet18", 1, seed=0)
    quick(model, digits, epochs=1)
    path = save_weights(model, tmp_path/"sub"/"r18.pt")
    state = torch.load(path, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    restored = load_weights(build_model("resnet18", 1, seed=9), path)
    assert evaluate(restored, digits.test) == evaluate(model, digits.test)


def test_checkpoint_errors_are_clear(digits, tmp_path):
    model = build_model("small_cnn", 1)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"): load_weights(model, tmp_path/"missing.pt")
    torch.save(torch.zeros(3), tmp_path/"tensor.pt")
    with pytest.raises(ValueError, match="holds a Tensor, not a state_dict"): load_weights(model, tmp_path/"tensor.pt")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bf16 autocast and channels_last path)")
def test_cuda_training_with_bf16_and_channels_last(digits):
    task = binary_task(load_dataset("digits"), classes=("3", "8"), n_train=200, n_test=100, seed=0, size=32)
    model = build_model("resnet18", 1, seed=0)
    result = train(model, task, device="cuda", progress=False)
    assert result.device.startswith("cuda") and model_on_cuda(model)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    fp32, cpu = evaluate(model, task.test), evaluate(copy.deepcopy(model).cpu(), task.test)  # IEEE float32 on both
    assert result.test_loss == pytest.approx(fp32.loss, rel=1e-6) and fp32.loss == pytest.approx(cpu.loss, rel=1e-4)


def model_on_cuda(model):
    return all(p.is_cuda for p in model.parameters())


def test_reported_scores_are_float32_evaluations(digits):
    "A run's training and test scores are `evaluate`'s in float32 (on CUDA: neither bf16 nor TF32), the precision of the attacks' losses."
    model = build_model("small_cnn", 1, seed=0)
    result = quick(model, digits)
    assert (result.test_loss, result.test_accuracy) == tuple(evaluate(model, digits.test, amp=False))
    assert (result.train_loss, result.train_accuracy) == tuple(evaluate(model, digits.train))


def test_an_epoch_of_batches_is_one_copy_of_the_same_indices():
    g = lambda: torch.Generator().manual_seed(0)
    sent, drawn = device_batches(103, 10, g(), torch.device("cpu")), batch_indices(103, 10, g())
    assert [len(b) for b in sent] == [len(b) for b in drawn] and all(torch.equal(a, b) for a, b in zip(sent, drawn))


def test_cudnn_autotuning_is_restored():
    before = torch.backends.cudnn.benchmark
    with pytest.raises(RuntimeError):
        with cudnn_autotune(True):
            assert torch.backends.cudnn.benchmark
            raise RuntimeError("a failing run")
    with cudnn_autotune(False): assert torch.backends.cudnn.benchmark == before
    assert torch.backends.cudnn.benchmark == before


def test_training_waits_for_the_device_once_an_epoch(digits):
    "Besides its setup, a run reads back two numbers an epoch (loss and accuracy), however many steps: none per step."
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent/"benchmarks"))
    from gpu_check import host_syncs
    counts = []
    for epochs in (1, 3):
        with host_syncs(torch.device("cpu")) as syncs: quick(build_model("small_cnn", 1, seed=0), digits, epochs=epochs,
                                                             batch_size=8)
        counts.append(len(syncs["ops"]))
    assert (counts[1] - counts[0])/2 == 2


def test_evaluate_is_float32_inside_a_callers_autocast(digits):
    "A caller's autocast region (bf16 on the CPU here, CUDA's on a GPU) does not change the float32 evaluation."
    model = build_model("small_cnn", 1, seed=0)
    outside = evaluate(model, digits.test)
    with torch.autocast("cpu", dtype=torch.bfloat16): inside = evaluate(model, digits.test)
    assert inside == outside


def test_fp32_runs_train_in_ieee_float32(digits, monkeypatch):
    "amp=False trains inside `ieee_float32` (on CUDA: no TF32 in convolutions or products, unlike PyTorch's default); amp=True only evaluates there."
    from contextlib import contextmanager
    import intrinsic_props.training as T
    real, entered = T.ieee_float32, []
    @contextmanager
    def recorder(device):
        entered.append(torch.is_grad_enabled())  # True: training; False: evaluation
        with real(device): yield
    monkeypatch.setattr(T, "ieee_float32", recorder)
    quick(build_model("small_cnn", 1, seed=0), digits, amp=False)
    assert entered == [True, False, False]
    entered.clear()
    quick(build_model("small_cnn", 1, seed=0), digits, amp=True)
    assert entered == [False, False]
