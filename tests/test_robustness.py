"Cross-cutting tests of the attacks: the ε-ball and the range as properties, closed forms, PGD vs FGSM, bad inputs."
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch import nn

from intrinsic_props.data import ImageSet
from intrinsic_props.models import build_model
from intrinsic_props.robustness import ATTACKS, PAPER_EPS, attack, attack_eval, fgsm, pgd


def tiny_cnn(channels=1, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4*6*6, 2)).eval()


def image_set(n=16, channels=1, low=0.0, high=1.0, seed=0, uint8=False):
    g = torch.Generator().manual_seed(seed)
    if uint8: x = torch.randint(0, 256, (n, channels, 6, 6), generator=g, dtype=torch.uint8)
    else: x = low + (high - low)*torch.rand(n, channels, 6, 6, generator=g)
    return ImageSet(x, torch.arange(n) % 2, ["a", "b"], intensity_range=(0, 255) if uint8 else (low, high), name="toy")


@settings(max_examples=30, deadline=None)
@given(eps=st.floats(0, 0.2), low=st.floats(-5, 5), width=st.floats(0.1, 300), method=st.sampled_from(sorted(ATTACKS)),
       seed=st.integers(0, 100))
def test_adversarial_images_stay_in_the_ball_and_the_range(eps, low, width, method, seed):
    data = image_set(low=low, high=low + width, seed=seed)
    adv = attack(tiny_cnn(seed=seed), data, eps, method).images
    # float32 images: a perturbation is exact only to this
    rounding = 4*torch.finfo(torch.float32).eps*(abs(low) + width)
    assert (adv - data.images).abs().max() <= eps*width*(1 + 1e-5) + rounding
    assert adv.min() >= low and adv.max() <= low + width


@pytest.mark.parametrize("method", sorted(ATTACKS))
def test_uint8_images_are_attacked_in_grey_levels(method):
    "The paper's ε = 2/255 of the range is 2 grey levels on uint8 images, and the result stays within 0..255."
    data = image_set(uint8=True)
    adv = attack(tiny_cnn(), data, PAPER_EPS, method).images
    assert adv.dtype == torch.float32
    assert (adv - data.images.float()).abs().max() <= 2 + 1e-4 and adv.min() >= 0 and adv.max() <= 255


def test_fgsm_matches_the_closed_form_of_a_logistic_model_on_uint8_rgb():
    "Two logits z = Wx + b: FGSM lowers the margin by ε‖w_y − w_o‖₁ while no pixel reaches the range's edge."
    torch.manual_seed(1)
    x = torch.randint(64, 192, (50, 3, 6, 6), dtype=torch.uint8)
    data = ImageSet(x, torch.arange(50) % 2, ["a", "b"], name="rgb")
    model = nn.Sequential(nn.Flatten(), nn.Linear(3*36, 2))
    with torch.no_grad(): model[1].weight.mul_(0.05)
    W, b = model[1].weight.detach(), model[1].bias.detach()
    sign = 2*data.labels - 1
    margin = sign*(x.flatten(1).float() @ (W[1] - W[0]) + b[1] - b[0])
    eps = 4/255
    expected = (F.softplus(eps*255*(W[1] - W[0]).abs().sum() - margin) - F.softplus(-margin)).mean()
    assert attack_eval(model, data, eps).delta_loss[0] == pytest.approx(float(expected), rel=1e-4, abs=1e-5)


def test_pgd_starting_with_a_full_step_is_at_least_fgsm_per_image():
    model, data = tiny_cnn(), image_set(n=64)
    x, y = data.images, data.labels
    loss = lambda z: F.cross_entropy(model(z), y, reduction="none")
    with torch.no_grad():
        f = loss(fgsm(model, x, y, 0.05, (0, 1)))
        p = loss(pgd(model, x, y, 0.05, (0, 1), steps=5, step_size=0.05, random_start=False))
    assert (p >= f).all()


def test_pgd_beats_fgsm_on_average_with_default_settings():
    model, data = tiny_cnn(), image_set(n=64)
    fg, pg = (attack_eval(model, data, [0.02, 0.05], m).delta_loss for m in ("fgsm", "pgd"))
    assert (pg >= fg).all() and (fg > 0).all()


def test_pgd_random_start_follows_the_seed():
    model, data = tiny_cnn(), image_set()
    a, b, c = (attack(model, data, 0.05, "pgd", seed=s, steps=2).images for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_attack_is_independent_of_batch_size():
    model, data = tiny_cnn(), image_set(n=20)
    torch.testing.assert_close(attack(model, data, 0.05, batch_size=3).images, attack(model, data, 0.05).images)


@pytest.mark.parametrize("method", sorted(ATTACKS))
def test_eps_zero_changes_nothing(method):
    model, data = tiny_cnn(), image_set()
    assert torch.equal(attack(model, data, 0, method).images, data.images)
    row = attack_eval(model, data, 0, method).iloc[0]
    assert row.delta_loss == 0 and row.attacked_accuracy == row.clean_accuracy


def test_attack_restores_mode_and_leaves_parameter_gradients_alone():
    model = build_model("small_cnn", 1, seed=0)
    data = image_set(n=8)
    attack(model, data, PAPER_EPS, "pgd", steps=2)
    assert model.training and all(p.grad is None for p in model.parameters())


def test_attack_records_itself_in_the_preprocessing():
    adv = attack(tiny_cnn(), image_set(), PAPER_EPS, "pgd", steps=3)
    assert adv.preprocessing[-1] == dict(step="attack", method="pgd", eps=PAPER_EPS, steps=3, seed=0)


def test_attack_eval_table():
    table = attack_eval(tiny_cnn(), image_set(), [0, 1/255, 4/255])
    assert list(table.columns) == ["method", "eps", "eps_in_units", "clean_loss", "clean_accuracy", "attacked_loss",
                                   "attacked_accuracy", "delta_loss"]
    assert len(table) == 3 and table.delta_loss.is_monotonic_increasing
    assert len(attack_eval(tiny_cnn(), image_set())) == 1


@pytest.mark.parametrize("eps, message", [
    (math.nan, "eps must be a finite number"),  # the notebook shows eps < 0 and in pixel units
    (math.inf, "eps must be a finite number"),
    (True, "eps must be a finite number"),
    ("2/255", "eps must be a finite number"),
])
def test_bad_eps_is_refused(eps, message):
    with pytest.raises(ValueError, match=message): attack_eval(tiny_cnn(), image_set(), eps)


def test_bad_inputs_are_refused():
    model, data = tiny_cnn(), image_set()
    with pytest.raises(ValueError, match="takes 1-channel images, got 3"): attack(model, image_set(channels=3))
    broken = replace(data, images=data.images.clone())
    broken.images[0, 0, 0, 0] = math.nan
    with pytest.raises(ValueError, match="NaN/inf pixel values"): attack(model, broken)
    with pytest.raises(ValueError, match="step_size must be ≥ 0"): attack(model, data, method="pgd", step_size=-0.1)
    with pytest.raises(TypeError, match="steps"): attack(model, data, method="fgsm", steps=3)


def masked_pgd(model, x, y, eps, bounds, steps, generator):
    "PGD as it was before issue 16: the best iterate kept by boolean-mask indexing (a host sync per step on a GPU)."
    from intrinsic_props.robustness import _input_gradient, _losses
    step_size = 2.5*eps/steps
    project = lambda z: torch.minimum(torch.maximum(z, x - eps), x + eps).clamp(*bounds)
    x_adv = project(x + (2*torch.rand(x.shape, generator=generator) - 1)*eps)
    best, best_loss = x_adv.clone(), torch.full((len(x),), -math.inf)
    for step in range(steps + 1):
        if step < steps: loss, grad = _input_gradient(model, x_adv, y)
        else:
            with torch.no_grad(): loss = _losses(model, x_adv, y)
        better = loss > best_loss
        best[better], best_loss[better] = x_adv[better], loss[better]
        if step < steps: x_adv = project(x_adv + step_size*grad.sign())
    return best


def test_pgd_keeps_the_best_iterate_without_host_syncs():
    "PGD keeps what the masked update kept, bit for bit, with none of the operations that make the host wait for a GPU."
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent/"benchmarks"))
    from gpu_check import HostSyncs
    model, data = tiny_cnn(), image_set(n=64)
    x, y = data.images, data.labels
    with HostSyncs() as syncs: ours = pgd(model, x, y, 0.05, (0, 1), steps=7,
                                          generator=torch.Generator().manual_seed(3))
    assert syncs.ops == []
    with HostSyncs() as syncs: before = masked_pgd(model, x, y, 0.05, (0, 1), 7, torch.Generator().manual_seed(3))
    assert "index_put_" in syncs.ops and "index" in syncs.ops  # what the detector sees in the old update
    assert torch.equal(ours, before)


def test_attack_gradients_are_ieee_float32(monkeypatch):
    "Every loss and gradient of FGSM and PGD is computed inside `ieee_float32` (on CUDA: no TF32 convolutions, which would blur the signs)."
    from contextlib import contextmanager
    import intrinsic_props.robustness as R
    real, entered = R.ieee_float32, []
    @contextmanager
    def recorder(device):
        entered.append(torch.is_grad_enabled())
        with real(device): yield
    monkeypatch.setattr(R, "ieee_float32", recorder)
    model, data = tiny_cnn(), image_set()
    fgsm(model, data.images, data.labels, 0.05, (0, 1))
    assert entered == [True]
    entered.clear()
    pgd(model, data.images, data.labels, 0.05, (0, 1), steps=3, generator=torch.Generator().manual_seed(0))
    assert entered == [True]*3 + [False]
