"Cross-cutting tests of the model builders: every architecture, input sizes, initialisation, random state."
import math

import pytest
import torch

from intrinsic_props.models import ARCHITECTURES, PAPER_ARCHITECTURES, SmallCNN, build_model, check_input, first_conv


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_three_channel_models_keep_their_first_convolution_shape(name):
    model = build_model(name, 3, seed=0)
    assert first_conv(model)[1].in_channels == 3
    assert model.arch == name
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 2)


@pytest.mark.parametrize("name", ["resnet18", "vgg16", "small_cnn"])
@pytest.mark.parametrize("size", [32, 48, 64])
def test_small_inputs_run(name, size):
    "VGG's adaptive average pooling lets 32–64 px images through; so do the ResNets' strides."
    model = build_model(name, 1, seed=0)
    assert check_input(model, (1, size, size)) == (2,)


@pytest.mark.parametrize("name", ["resnet18", "vgg13"])
def test_adapted_first_convolution_is_he_initialised(name):
    "The new one-channel convolution follows torchvision's init: He normal with fan-out, zero bias."
    conv = first_conv(build_model(name, 1, seed=0))[1]
    fan_out = conv.out_channels*conv.kernel_size[0]*conv.kernel_size[1]
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2/fan_out), rel=0.1)
    assert conv.bias is None or (conv.bias == 0).all()


def test_seeded_build_leaves_the_global_random_state_alone():
    before = torch.get_rng_state()
    build_model("small_cnn", 1, seed=3)
    assert torch.equal(before, torch.get_rng_state())


@pytest.mark.parametrize("name", PAPER_ARCHITECTURES)
def test_imagenet_head_has_1000_logits(name):
    assert check_input(build_model(name, 1, keep_imagenet_head=True), (1, 32, 32)) == (1000,)


def test_small_cnn_is_small_and_widens():
    narrow, wide = SmallCNN(1, width=8), SmallCNN(1, width=32)
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert count(narrow) < count(SmallCNN(1)) < count(wide) < 500_000


def test_check_input_restores_training_mode_after_a_failure():
    model = build_model("vgg13", 1)
    with pytest.raises(ValueError): check_input(model, (1, 8, 8))
    assert model.training


def test_check_input_rejects_a_bad_shape():
    with pytest.raises(ValueError, match="images must be C×H×W"): check_input(build_model("small_cnn", 1), (28, 28))


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match="unknown model 'densenet121'; known: resnet18"): build_model("densenet121", 3)
