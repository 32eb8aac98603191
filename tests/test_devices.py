"""Where computations run: float32 precision settings restored exactly from every starting state PyTorch allows (the
legacy API, the generic flag, settings mixed so that the legacy getter refuses), by `matmul_precision`, `ieee_float32`
and the neighbour pass, and a flag that inherited before still inherits after (a user's later change of the generic
flag reaches it). One example of each is in the devices notebook; here, every starting state."""
import numpy as np
import pytest
import torch

from intrinsic_props.devices import (FP32_NODES, FP32_TREE, _set, ieee_float32, matmul_precision, precision_state,
                                     restore_precision)
from intrinsic_props.neighbors import neighbors


PRECISION_STATES = {"default": lambda: None, "legacy high": lambda: torch.set_float32_matmul_precision("high"),
                    "legacy medium": lambda: torch.set_float32_matmul_precision("medium"),
                    "generic tf32": lambda: setattr(torch.backends, "fp32_precision", "tf32"),
                    "mkldnn bf16": lambda: setattr(torch.backends.mkldnn.matmul, "fp32_precision", "bf16"),
                    "mixed": lambda: setattr(torch.backends.cuda.matmul, "fp32_precision", "tf32"),
                    "cuda tf32": lambda: setattr(torch.backends.cudnn, "fp32_precision", "tf32")}
# states where no flag below the generic one is set: every flag then follows the generic one
FOLLOWERS = ("default", "generic tf32")


@pytest.fixture
def pristine_precision():
    from intrinsic_props.devices import precision_state, restore_precision
    state = precision_state()
    yield
    restore_precision(state)


def observed_precision():
    "Every fp32_precision flag and what the legacy getter says, or that it fails."
    from intrinsic_props.devices import FP32_NODES, _node
    try: legacy = torch.get_float32_matmul_precision()
    except RuntimeError: legacy = "fails"
    return {p: _node(p).fp32_precision for p in FP32_NODES}, legacy


@pytest.mark.parametrize("state", list(PRECISION_STATES))
def test_matmul_precision_restores_every_setting(state, pristine_precision):
    "From any starting state (legacy API, generic flag, mixed settings the legacy getter refuses): inside, the legacy getter works and says what runs; after, every flag and the getter are as before."
    from intrinsic_props.devices import ieee_float32, matmul_precision
    PRECISION_STATES[state]()
    before = observed_precision()
    for precision, inside in (("fp32", "highest"), ("tf32", "high"), ("tf32-emulated", "highest")):
        with matmul_precision(precision):
            assert torch.get_float32_matmul_precision() == inside
            assert torch.backends.mkldnn.matmul.fp32_precision == "ieee"
            assert torch.backends.cuda.matmul.fp32_precision == ("tf32" if precision == "tf32" else "ieee")
        assert observed_precision() == before
    with ieee_float32(torch.device("cuda")):  # flags only: no GPU needed
        assert torch.get_float32_matmul_precision() == "highest"
        assert (torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision) == ("ieee", "ieee")
    assert observed_precision() == before
    x = np.random.default_rng(0).normal(size=(300, 20)).astype(np.float32)
    neighbors(x, k=5)
    assert observed_precision() == before


def in_block(context):
    with context: pass


def points(): return torch.rand(300, 64, generator=torch.Generator().manual_seed(0)), torch.arange(300) % 2


def evaluate_on_cuda():
    from intrinsic_props.data import binary_task, load_dataset
    from intrinsic_props.models import build_model
    from intrinsic_props.training import evaluate
    task = binary_task(load_dataset("digits"), classes=("3", "8"), n_train=32, n_test=32, seed=0)
    evaluate(build_model("small_cnn", 1, seed=0).cuda(), task.test)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
LIBRARY_CALLS = {"matmul_precision fp32": lambda: in_block(matmul_precision("fp32")),
                 "matmul_precision tf32": lambda: in_block(matmul_precision("tf32")),
                 "ieee_float32 cuda": lambda: in_block(ieee_float32(torch.device("cuda"))),  # flags only: no GPU needed
                 "neighbors cpu": lambda: neighbors(*points(), k=5, device="cpu"),
                 "neighbors cuda fp32": lambda: neighbors(*points(), k=5, device="cuda", precision="fp32"),
                 "neighbors cuda tf32": lambda: neighbors(*points(), k=5, device="cuda", precision="tf32"),
                 "evaluate cuda": evaluate_on_cuda}
ON_A_GPU = ("neighbors cuda fp32", "neighbors cuda tf32", "evaluate cuda")
CALLS = [pytest.param(c, marks=needs_cuda) if c in ON_A_GPU else c for c in LIBRARY_CALLS]


# a user's changes after the library call: (flag, value) in order, each by PyTorch's setter of that flag (the
# attribute `torch.backends.mkldnn.fp32_precision` sets the generic flag in PyTorch 2.14)
LATER = {"generic ieee": [("", "ieee")], "generic tf32, then ieee": [("", "tf32"), ("", "ieee")],
         "generic ieee, then tf32": [("", "ieee"), ("", "tf32")],
         "cuda and mkldnn ieee": [("cudnn", "ieee"), ("mkldnn", "ieee")]}


def then_user(setup, call, later:list) -> list:
    "Every flag (and the legacy getter) after `setup`, `call` and each of a user's `later` changes; the state restored after."
    state, seen = precision_state(), []
    try:
        setup()
        call()
        for path, value in later:
            _set({path: value})
            seen.append(observed_precision())
        return seen
    finally: restore_precision(state)


@pytest.mark.parametrize("later", list(LATER))
@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("state", list(PRECISION_STATES))
def test_inherited_settings_still_inherit(state, call, later, pristine_precision):
    "A user's later change of a parent flag reaches every flag it would have reached without the library call; the issue's sequence is `generic tf32`, `neighbors cpu`, `generic ieee` (the notebook shows one with `matmul_precision`)."
    setup, steps = PRECISION_STATES[state], LATER[later]
    expected = then_user(setup, lambda: None, steps)
    seen = then_user(setup, LIBRARY_CALLS[call], steps)
    assert seen == expected
    if state in FOLLOWERS:  # nothing below the generic flag was set: what lies below a changed flag follows it
        flags = seen[-1][0]
        for path, value in dict(steps).items():
            below = [q for q in FP32_NODES if q in FP32_TREE.get(path, ()) or not path]
            assert {flags[q] for q in below} == {value}, (path, flags)
