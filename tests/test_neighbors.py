"Cross-cutting tests of the neighbour pass: brute force on random and adversarial data, scikit-learn on the shelf, bad input."
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from sklearn.neighbors import NearestNeighbors

from intrinsic_props.data import preprocess
from intrinsic_props.neighbors import neighbors, plan_memory


def brute_force(x, y, k):
    "Exact float64 neighbours (ties by index) and nearest other-class point, from the full distance matrix."
    x = torch.as_tensor(x, dtype=torch.float64)
    d = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist").numpy()
    np.fill_diagonal(d, np.inf)
    cols = np.broadcast_to(np.arange(len(x)), d.shape)
    order = np.lexsort((cols, d), axis=1)[:, :k]
    other = None
    if y is not None:
        cross = np.where(np.asarray(y)[:, None] != np.asarray(y)[None], d, np.inf)
        oo = np.lexsort((cols, cross), axis=1)[:, 0]
        other = (cross[np.arange(len(x)), oo], oo)
    return np.take_along_axis(d, order, 1), order, other


@st.composite
def labelled_points(draw):
    "Small point sets, often with exact duplicates and ties (integer coordinates from a tiny range), two or more classes."
    n = draw(st.integers(3, 40))
    dim = draw(st.integers(1, 6))
    values = st.integers(0, 3) if draw(st.booleans()) else st.floats(-1e3, 1e3, allow_nan=False, width=32)
    x = np.array(draw(st.lists(st.lists(values, min_size=dim, max_size=dim), min_size=n, max_size=n)), dtype=np.float32)
    y = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    if len(set(y)) < 2: y[0] = (y[0] + 1) % 3
    k = draw(st.integers(1, n - 1))
    return x, y, k, draw(st.integers(1, n)), draw(st.integers(0, 3))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labelled_points())
def test_equals_brute_force(case):
    "Any block size and margin (including the uncapped route) gives brute force: the same lists, ties broken by index, distances within the bound."
    x, y, k, block, margin = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = neighbors(x, y, k=k, block_size=block, margin=margin)
    d, i, (od, oi) = brute_force(x, y, k)
    rtol, atol = nb.tolerance
    np.testing.assert_array_equal(nb.indices.numpy(), i)
    np.testing.assert_allclose(nb.distances.numpy(), d, rtol=max(rtol, 1e-12), atol=atol)
    np.testing.assert_array_equal(nb.other_index.numpy(), oi)
    np.testing.assert_allclose(nb.other_distance.numpy(), od, rtol=1e-12, atol=0)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.integers(0, 10**6))
def test_duplicate_groups_are_complete(copies, seed):
    "A group of identical points larger than k is found whole, and counted."
    g = np.random.default_rng(seed)
    x = np.concatenate([g.normal(size=(20, 3)), np.repeat(g.normal(size=(1, 3)), copies, 0)])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        nb = neighbors(x, k=3)
    test_group = list(range(20, 20 + copies))
    assert [grp.indices for grp in nb.duplicate_groups] == [test_group]
    assert nb.n_zero_pairs == copies*(copies - 1)//2
    assert f"{copies} of {20 + copies} points have identical copies" in str(w[0].message)


def test_matches_sklearn_on_real_images(data):
    "On real images (uint8 and float, gray and RGB) the pass agrees with scikit-learn's exact brute force."
    at_hand = data
    for name, n in (("chest-xray-pneumonia-64", 800), ("cifar10", 800), ("breastmnist", None)):
        data = at_hand.load(name)
        # the RGB path, on a gray sample
        if name == "cifar10" and not at_hand.shelf: data = preprocess(data, channels=3)
        if n: data = data[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:n]]
        for x in (data.images.reshape(len(data), -1), data.flat()/255):
            nb = neighbors(x, data.labels, k=20)
            rtol = max(nb.tolerance[0], 1e-9)  # uint8: exact; float32: the "fp32" route's bound
            ref_d, ref_i = NearestNeighbors(n_neighbors=20).fit(x.double().numpy()).kneighbors()
            np.testing.assert_allclose(nb.distances.numpy(), ref_d, rtol=rtol)
            differ = nb.indices.numpy() != ref_i
            assert differ.mean() < 1e-3, name  # only ties at equal distance, which we order by index
            np.testing.assert_allclose(nb.distances.numpy()[differ], ref_d[differ], rtol=rtol)
            d, i, (od, oi) = brute_force(x.double().numpy(), data.labels.numpy(), 20)
            np.testing.assert_array_equal(nb.indices.numpy(), i)
            np.testing.assert_array_equal(nb.other_index.numpy(), oi)


@pytest.mark.parametrize("k, block", [(100, None), (150, 97)])
def test_large_k_equals_brute_force(k, block):
    "k of 100 and more (the issue's minimum), with blocks smaller than k: brute-force lists and distances."
    g = np.random.default_rng(k)
    x = (g.normal(size=(1200, 48)) @ g.normal(size=(48, 48))).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    nb = neighbors(x, y, k=k, block_size=block)
    d, i, (od, oi) = brute_force(x, y, k)
    assert nb.indices.shape == (1200, k)
    np.testing.assert_array_equal(nb.indices.numpy(), i)
    np.testing.assert_allclose(nb.distances.numpy(), d, rtol=nb.tolerance[0])
    np.testing.assert_array_equal(nb.other_index.numpy(), oi)
    np.testing.assert_allclose(nb.other_distance.numpy(), od, rtol=1e-12)


def test_near_duplicates_in_real_images(data):
    "brain-tumor-mri-64's near-duplicates (one grey level apart; the breastmnist sample's without the shelf) come out exact."
    data = data.load("brain-tumor-mri-64")[:2000]
    nb = neighbors(data, k=20)
    d, i, (od, oi) = brute_force(data.flat(torch.float64), data.labels.numpy(), 20)
    assert d[:, 0].min() <= (2 if data.name == "brain-tumor-mri-64" else 30)  # near-duplicates are there
    np.testing.assert_array_equal(nb.indices.numpy(), i)
    np.testing.assert_allclose(nb.distances.numpy(), d, rtol=1e-12)
    np.testing.assert_array_equal(nb.other_index.numpy(), oi)


def test_fp32_route_is_within_its_bound_where_the_gram_form_fails():
    "Near-identical float32 images far from the mean at D = 224²: brute-force lists, distances within the stated bound."
    g = torch.Generator().manual_seed(3)
    dim = 224*224
    base = torch.rand(3, dim, generator=g)*255
    x = torch.cat([b + torch.randn(20, dim, generator=g)*s for b, s in zip(base, (1e-3, 1e-2, 1e-1))]).clamp(0, 255)
    x = torch.cat([x, x[:2], torch.rand(10, dim, generator=g)*255])  # two exact copies, and some far points
    y = torch.arange(len(x)) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = neighbors(x, y, k=8)
    d, i, (od, oi) = brute_force(x.double(), y.numpy(), 8)
    rtol, atol = nb.tolerance
    assert nb.route == "fp32" and 1e-6 < rtol < 3e-6 and nb.n_refined > 0
    np.testing.assert_array_equal(nb.indices.numpy(), i)
    np.testing.assert_array_equal(nb.other_index.numpy(), oi)
    assert (np.abs(nb.distances.numpy() - d) <= rtol*d + atol).all()
    np.testing.assert_allclose(nb.other_distance.numpy(), od, rtol=1e-12)  # refined: K_F to float64 rounding
    assert [grp.indices for grp in nb.duplicate_groups] == [[0, 60], [1, 61]]


@pytest.mark.parametrize("scale, route", [(1e-25, "fp32"), (1e17, "fp64")])
def test_float32_at_the_edges_of_its_range(scale, route):
    "Differences whose float32 squares underflow are refined in float64 (no false copies); huge values take the float64 route."
    x = (np.random.default_rng(4).normal(size=(40, 6))*scale).astype(np.float32)
    nb = neighbors(x, k=5)
    d, i, _ = brute_force(x, None, 5)
    assert nb.route == route and not nb.duplicate_groups
    np.testing.assert_array_equal(nb.indices.numpy(), i)
    np.testing.assert_allclose(nb.distances.numpy(), d, rtol=1e-12)


def test_narrow_floats_and_views():
    "float16 data take the float32 route; numpy views with negative strides are accepted."
    x = np.random.default_rng(5).normal(size=(200, 30))
    half = neighbors(x.astype(np.float16), k=5)
    d, i, _ = brute_force(x.astype(np.float16), None, 5)
    assert half.route == "fp32"
    np.testing.assert_array_equal(half.indices.numpy(), i)
    np.testing.assert_allclose(half.distances.numpy(), d, rtol=half.tolerance[0])
    flipped = neighbors(x[::-1, ::-1], k=5)
    np.testing.assert_array_equal(flipped.indices.numpy(), neighbors(x[::-1, ::-1].copy(), k=5).indices.numpy())


def test_memory_budget_sets_the_block():
    "A smaller budget gives smaller blocks and the same answer."
    x = np.random.default_rng(0).normal(size=(8000, 64)).astype(np.float32)
    y = np.arange(8000) % 3
    big = neighbors(x, y, k=5, memory=2**30)
    budget = plan_memory(8000, 64, 12, 6, torch.device("cpu"), block_size=800)[1]
    small = neighbors(x, y, k=5, memory=budget)
    assert small.block_size == 800 < big.block_size and small.peak_bytes <= budget < big.peak_bytes
    np.testing.assert_array_equal(small.indices.numpy(), big.indices.numpy())
    np.testing.assert_array_equal(small.other_index.numpy(), big.other_index.numpy())
    B, peak, scratch = plan_memory(8000, 64, 12, 6, torch.device("cpu"), memory=2**30)
    assert peak == 4*8000*64 + 12*8000*(1 + 12 + 6) + 48*12*8000 + 4*B*8000 and scratch == 2**23 < 4*B*8000


@pytest.mark.parametrize("n, dim, memory", [(100_000, 4096, 130*2**30), (1000, 224*224, 2**32), (5000, 4096, 130*2**20),
                                           (1_000_000, 4096, 124*2**30), (200_000, 224*224, 2**40)])
def test_gpu_plan_keeps_scratch_inside_the_budget(n, dim, memory):
    "On CUDA (planned here without one) the scratch buffers take the panel's place, at least 64 MiB where the budget allows; panels stay under 2^31 elements."
    from intrinsic_props.neighbors import INDEX_CAP
    fixed = 4*n*dim + 12*n*(1 + 65 + 24) + 48*65*n
    B, peak, scratch = plan_memory(n, dim, 65, 24, torch.device("cuda"), memory=memory)
    panel = 4*B*n*(2 if dim > 4096 else 1)
    assert peak == fixed + max(panel, scratch) <= memory
    assert scratch == max(panel, min(2**26, memory - fixed))
    assert panel//4 <= INDEX_CAP


def test_exact_step_buffers_stay_within_scratch():
    "Rows with very unequal candidate lists (one list longer than a chunk): buffers never exceed `scratch`, values unchanged."
    from intrinsic_props.neighbors import chunk_bounds, pair_sq_distances
    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 300, generator=g)
    rows = torch.cat([torch.zeros(399, dtype=torch.int64), torch.arange(1, 40).repeat_interleave(3)])
    cols = torch.cat([torch.arange(1, 400), torch.randint(0, 400, (117,), generator=g)])
    exact = (x[rows].double() - x[cols].double()).square().sum(1)
    allocated = []
    real_zeros = torch.zeros
    def zeros(*shape, **kw):
        out = real_zeros(*shape, **kw); allocated.append(out.numel()*out.element_size()); return out
    for scratch in (2**23, 50*4*320, 1):
        torch.zeros = zeros
        try: got = pair_sq_distances(x, rows, cols, "fp64", scratch)
        finally: torch.zeros = real_zeros
        np.testing.assert_allclose(got.numpy(), exact.numpy(), rtol=1e-12)
        assert allocated[-1] <= max(scratch, 300*8)
    sizes = sorted(np.random.default_rng(1).integers(1, 50, 200).tolist(), reverse=True)
    bounds = chunk_bounds(sizes, 64)
    assert bounds[0] == 0 and bounds[-1] == 200 and all((b - a)*sizes[a] <= 64 for a, b in zip(bounds[:-1], bounds[1:]))


@settings(max_examples=200, deadline=None)
@given(st.floats(width=32, allow_nan=False), st.floats(allow_nan=False), st.integers(-3, 3))
def test_floor32_keeps_float32_comparisons_exact(x, t, ulps):
    "Comparing float32 distances with thresholds rounded down to float32 selects what the float64 comparison selects."
    from intrinsic_props.neighbors import _floor32
    x32 = torch.tensor([x], dtype=torch.float32)
    # thresholds next to x too
    near = float(np.nextafter(np.float64(x), np.inf if ulps > 0 else -np.inf)) if ulps else x
    for t64 in (torch.tensor([t], dtype=torch.float64), torch.tensor([near], dtype=torch.float64)):
        assert bool(x32 <= _floor32(t64)) == (x <= float(t64))


def test_bool_points_are_refused():
    with pytest.raises(TypeError, match="real numbers"): neighbors(np.zeros((5, 2), dtype=bool), k=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    "The GPU's lists are the CPU's; the float32 route's distances each within `Neighbors.tolerance` of the exact ones (so within twice it of each other)."
    from intrinsic_props.neighbors import pair_error
    x = np.random.default_rng(1).normal(size=(2000, 300)).astype(np.float32)
    y = np.arange(2000) % 2
    cpu = neighbors(x, y, k=20, device="cpu")
    d, i, (od, oi) = brute_force(x, y, 20)
    for precision in ("fp32", "tf32", "auto"):
        for points in (x, torch.from_numpy(x).cuda()):  # on the host and on the device
            gpu = neighbors(points, y, k=20, device="cuda", precision=precision)
            rtol, atol = gpu.tolerance
            np.testing.assert_array_equal(gpu.indices.numpy(), cpu.indices.numpy())
            np.testing.assert_allclose(gpu.distances.numpy(), d, rtol=rtol, atol=atol)
            assert ((gpu.distances - cpu.distances).abs() <= 2*(rtol*cpu.distances + atol)).all()
            np.testing.assert_array_equal(gpu.other_index.numpy(), cpu.other_index.numpy())
            np.testing.assert_allclose(gpu.other_distance.numpy(), od, rtol=pair_error("fp64", 300)[0])


@pytest.mark.parametrize("precision", ["fp32", "tf32-emulated"])
def test_a_callers_autocast_does_not_change_the_pass(precision):
    "Inside torch.autocast (bf16 on the CPU; the same holds for CUDA's) the pass gives what it gives outside, uncapped rows included."
    x = torch.randn(800, 300, generator=torch.Generator().manual_seed(0))
    y = torch.arange(800) % 3
    plain = neighbors(x, y, k=10, margin=0, precision=precision)
    with torch.autocast("cpu", dtype=torch.bfloat16): inside = neighbors(x, y, k=10, margin=0, precision=precision)
    assert plain.n_uncapped > 0
    for name in ("indices", "distances", "other_index", "other_distance"):
        assert torch.equal(getattr(inside, name), getattr(plain, name)), name


def test_the_plan_counts_pytorchs_cached_blocks(monkeypatch):
    "On CUDA the memory PyTorch's allocator holds but does not use is free to the pass (63 GiB here), and the plan uses it."
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d: (3*2**30, 140*2**30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d: 100*2**30)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d: 40*2**30)
    B, peak, _ = plan_memory(100_000, 4096, 65, 24, torch.device("cuda", 0))  # the plan's default budget: 90 % of it
    assert peak <= 0.9*63*2**30 and B == 12_500


def test_a_million_images_fit_an_h200():
    "N = 1 000 000 uint8 64×64 images copied from the host, TF32's lists: the plan fits an H200 with panels under 2^31 elements."
    from intrinsic_props.neighbors import INDEX_CAP
    budget = int(0.9*138*2**30)
    n = 1_000_000
    B, peak, scratch = plan_memory(n, 4096, 65, 24, torch.device("cuda"), copy_bytes=n*4096, memory=budget)
    assert B*n <= INDEX_CAP < (B + 1)*n and B == 2147
    assert peak == 4*n*4096 + 12*n*90 + n*4096 + 48*65*n + 4*B*n < 32*2**30 < budget
    # the scratch buffers take the panel's place: the uncapped rows' chunks stay under 2^31 elements too
    assert scratch == 4*B*n


def test_stages_are_timed():
    x = np.random.default_rng(0).normal(size=(500, 20)).astype(np.float32)
    nb = neighbors(x, np.arange(500) % 2, k=5)
    assert list(nb.stages) == ["prepare", "centre", "candidates", "certify", "uncapped", "exact", "finish"]
    assert all(s >= 0 for s in nb.stages.values()) and sum(nb.stages.values()) <= nb.seconds + 1e-3
    assert nb.precision == "fp32"  # "auto" on a CPU


def round_toward_zero(x:torch.Tensor) -> torch.Tensor:
    "float64 values rounded to float32 toward zero."
    r = x.float()
    return torch.where(r.double().abs() > x.abs(), torch.nextafter(r, torch.zeros_like(r)), r)


def tensor_core_products(a:torch.Tensor, b:torch.Tensor, group:int=4) -> torch.Tensor:
    "a·bᵀ as TF32 tensor cores compute it at worst: inputs truncated to 10 bits, products summed in groups, each group added to a float32 accumulator with truncation."
    from intrinsic_props.neighbors import truncate_tf32_
    a, b = truncate_tf32_(a.clone()).double(), truncate_tf32_(b.clone()).double()
    acc = torch.zeros(len(a), len(b), dtype=torch.float32)
    for s in range(0, a.shape[1], group):
        acc = round_toward_zero(acc.double() + a[:, s:s + group] @ b[:, s:s + group].T)
    return acc


@pytest.mark.parametrize("dim", [3, 64, 4096])
def test_tf32_bound_holds_for_emulated_tensor_cores(dim):
    "TF32 products (10-bit inputs, exact products, float32 sums truncated toward zero) stay within the certificate's TF32 bound."
    from intrinsic_props.neighbors import centred_points, rounding_bound
    g = torch.Generator().manual_seed(dim)
    base = torch.rand(1, dim, generator=g)*255
    x = torch.cat([base + torch.randn(40, dim, generator=g)*1e-2, torch.rand(40, dim, generator=g)*255,
                   torch.randint(0, 256, (40, dim), generator=g).float()])
    A, sq = centred_points(x, torch.arange(len(x)))
    approx = (sq[:, None] + sq[None] - 2*tensor_core_products(A, A).double())
    exact = torch.cdist(x.double(), x.double(), compute_mode="donot_use_mm_for_euclid_dist").square()
    norms = sq.sqrt()
    err = (approx - exact).abs()
    assert (err <= rounding_bound(dim, "tf32")*(norms[:, None] + norms[None])**2).all()
    assert (err > rounding_bound(dim, "fp32")*(norms[:, None] + norms[None])**2).any() or dim < 64


@pytest.mark.parametrize("margin", [None, 0])
def test_tf32_emulated_pass_is_exact(data, margin):
    "The TF32 path on a CPU: rows the wider bound cannot certify take the uncapped route (nearly all with margin=0); the results are fp32's."
    chest = data.load("chest-xray-pneumonia-64")
    chest = chest[torch.randperm(len(chest), generator=torch.Generator().manual_seed(0))[:1000]]
    for x in (chest.images.reshape(len(chest), -1), chest.flat()/255):
        fp32 = neighbors(x, chest.labels, k=20)
        tf32 = neighbors(x, chest.labels, k=20, precision="tf32-emulated", margin=margin)
        assert tf32.precision == "tf32-emulated" and (tf32.n_uncapped > 0.9*len(x) if margin == 0 else tf32.n_uncapped < len(x)//10)
        np.testing.assert_array_equal(tf32.indices.numpy(), fp32.indices.numpy())
        np.testing.assert_array_equal(tf32.distances.numpy(), fp32.distances.numpy())
        np.testing.assert_array_equal(tf32.other_index.numpy(), fp32.other_index.numpy())
        np.testing.assert_array_equal(tf32.other_distance.numpy(), fp32.other_distance.numpy())


def test_the_pass_refuses_a_gpu_the_machine_lacks(monkeypatch):
    "On an emulated machine with two GPUs (how devices resolve: the devices notebook), the pass names the GPUs it has."
    for name, value in (("is_available", True), ("device_count", 2), ("current_device", 1)):
        monkeypatch.setattr(torch.cuda, name, lambda value=value: value)
    with pytest.raises(ValueError, match="has 2 CUDA device"): neighbors(np.zeros((5, 2)), k=2, device=torch.device("cuda", 7))
