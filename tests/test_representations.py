"Cross-cutting tests of activations, d_repr and the profile: hooks, modes, layers, a known dimension."

import numpy as np
import pytest
import torch
from torch import nn

from intrinsic_props.data import ImageSet, binary_task, load_dataset
from intrinsic_props.intrinsic_dim import MLE, TwoNN
from intrinsic_props.models import build_model
from intrinsic_props.representations import activations, id_profile, layer_names, penultimate_layer, profile_layers, repr_dim


@pytest.fixture(scope="module")
def digits32():
    return binary_task(load_dataset("digits"), classes=("3", "8"), n_train=20, n_test=10, seed=0, size=32).train


def test_resnet_penultimate_is_layer4_before_pooling(digits32):
    model = build_model("resnet18", 1, seed=0).eval()
    x = digits32.images.float()
    with torch.no_grad():
        stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool, model.layer1, model.layer2,
                             model.layer3, model.layer4)
        expected = stem(x).flatten(1)
    torch.testing.assert_close(activations(model, digits32), expected)
    assert expected.shape == (20, 512)


def test_vgg_penultimate_is_the_second_classifier_linear(digits32):
    model = build_model("vgg13", 1, seed=0)
    acts = activations(model, digits32)
    assert acts.shape == (20, 4096)
    assert penultimate_layer(model) == "classifier.3" and isinstance(model.get_submodule("classifier.3"), nn.Linear)


def test_activations_are_batch_independent_and_gradient_free(digits32):
    model = build_model("small_cnn", 1, seed=0)
    a, b = activations(model, digits32, batch_size=3), activations(model, digits32)
    torch.testing.assert_close(a, b)
    assert not a.requires_grad and a.dtype == torch.float32 and a.device.type == "cpu"
    assert all(p.grad is None for p in model.parameters())


def test_eval_mode_is_used_and_restored(digits32):
    "Batch norm must use its running statistics: in train mode the same images would give other activations."
    model = build_model("small_cnn", 1, seed=0)
    with torch.no_grad(): model(digits32.images.float()*3)  # moves the running statistics away from their init
    x = digits32.images.float()
    acts = activations(model, digits32, "features.0")
    assert model.training
    with torch.no_grad():
        torch.testing.assert_close(acts, model.eval().features[0](x).flatten(1))
        train_mode = model.train().features[0](x).flatten(1)
    assert not torch.allclose(acts, train_mode)


def test_hooks_are_removed_and_mode_restored_when_a_layer_fails(digits32):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.LSTM(900, 4, batch_first=True))
    model.forward = lambda x: model[1](model[0](x).flatten(2))[0]  # the LSTM returns a tuple
    with pytest.raises(ValueError, match="layer '1' returns a tuple, not a tensor"): activations(model, digits32, "1")
    assert model.training and not model[1]._forward_hooks


def test_unknown_layer_lists_the_names(digits32):
    model = build_model("small_cnn", 1)
    with pytest.raises(ValueError, match="has no layer ''"): activations(model, digits32, "")
    assert layer_names(model)[:2] == ["features", "features.0"]


def linear_subspace_set(dim, n=600, pixels=64, seed=0):
    "Images on a `dim`-dimensional affine subspace of pixel space, inside [0, 1]."
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(pixels, dim)))[0]
    x = 0.5 + 0.1*(rng.uniform(-1, 1, (n, dim)) @ basis.T)
    return ImageSet(torch.tensor(x, dtype=torch.float32).reshape(n, 1, 8, 8), torch.arange(n) % 2, ["a", "b"],
                    intensity_range=(0, 1))


@pytest.mark.parametrize("dim", [2, 5])
def test_repr_dim_finds_the_dimension_of_a_linear_map(dim):
    "A linear layer of rank ≥ d maps a d-dimensional cloud to a d-dimensional cloud."
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 40))
    data = linear_subspace_set(dim)
    assert repr_dim(model, data, "1") == pytest.approx(dim, rel=0.15)
    assert repr_dim(model, data, "1", estimator=MLE(k=20)) == pytest.approx(dim, rel=0.15)
    assert repr_dim(model, data, "1", estimator="MLE") == pytest.approx(dim, rel=0.15)


def test_repr_dim_default_is_twonn(digits32):
    model = build_model("small_cnn", 1, seed=0)
    assert repr_dim(model, digits32) == TwoNN().fit(activations(model, digits32)).dimension_


def test_profile_of_a_generic_model_visits_its_children():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 40), nn.Tanh(), nn.Linear(40, 2))
    table = id_profile(model, linear_subspace_set(3))
    assert table.layer.tolist() == ["input", "0", "1", "2", "3"]
    assert table.depth.tolist() == [0, 0, 1, 1, 2]
    assert table.features.tolist() == [64, 64, 40, 40, 2]
    assert table.dimension[:3].to_numpy() == pytest.approx([3, 3, 3], rel=0.15)


@pytest.mark.parametrize("name, blocks", [("resnet50", 7), ("vgg19", 8), ("vgg13", 8)])
def test_profile_layers_of_paper_models(name, blocks):
    table = profile_layers(build_model(name, 3))
    assert len(table) == blocks and table.depth.is_monotonic_increasing
    assert table.depth.iloc[-1] == int(name[-2:])  # the last layer of resnet50/vgg19 is weight layer 50/19


def test_penultimate_layer_needs_a_known_architecture():
    with pytest.raises(ValueError, match="no penultimate layer is defined for Sequential"): penultimate_layer(nn.Sequential(nn.Linear(2, 2)))
