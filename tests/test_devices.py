"""Where computations run: float32 precision settings restored exactly from every starting state PyTorch allows (the
legacy API, the generic flag, settings mixed so that the legacy getter refuses), by `matmul_precision`, `ieee_float32`
and the neighbour pass. One example of each is in the devices notebook; here, every starting state."""
import numpy as np
import pytest
import torch

from intrinsic_props.neighbors import neighbors


PRECISION_STATES = {"default": lambda: None, "legacy high": lambda: torch.set_float32_matmul_precision("high"),
                    "legacy medium": lambda: torch.set_float32_matmul_precision("medium"),
                    "generic tf32": lambda: setattr(torch.backends, "fp32_precision", "tf32"),
                    "mkldnn bf16": lambda: setattr(torch.backends.mkldnn.matmul, "fp32_precision", "bf16"),
                    "mixed": lambda: setattr(torch.backends.cuda.matmul, "fp32_precision", "tf32")}


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
