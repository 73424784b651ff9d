"""Embedding losses. Oracles: torch.nn.functional.triplet_margin_loss and
cosine_embedding_loss (gradients through autograd) where torch has the loss;
for the others the cited formula written out in float64 torch ops, with
gradients from autograd of that formula. Each test names its oracle."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-5, np.float64: 1e-10}
ATOL = {np.float32: 1e-6, np.float64: 1e-12}
REDUCTIONS = ["mean", "sum", "none"]


def close(got, want, dtype):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64),
                               np.asarray(want, dtype=np.float64),
                               rtol=RTOL[dtype], atol=ATOL[dtype])


def torch_grads(fn, arrays, reduction):
    """fn(*tensors) -> loss (torch); returns the loss and grads of loss.sum()."""
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    loss = fn(*ts)
    loss.sum().backward()
    return loss.detach().numpy(), [t.grad.numpy() for t in ts]


# ---------------------------------------------------------------------------
# triplet_margin_loss: oracle torch.nn.functional.triplet_margin_loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p,swap", [(2.0, False), (2.0, True), (1.0, False),
                                    (3.0, True), (1.5, False), (0.7, False)])
def test_triplet_margin_matches_torch(rng, dtype, reduction, p, swap):
    a, pos, neg = (rng.normal(size=(33, 17)).astype(dtype) for _ in range(3))
    kw = dict(margin=1.3, p=p, eps=1e-6, swap=swap)
    want, wg = torch_grads(
        lambda x, y, z: F.triplet_margin_loss(x, y, z, reduction=reduction,
                                              **kw), [a, pos, neg], reduction)
    got, gg = losslab.triplet_margin_loss(a, pos, neg, reduction=reduction,
                                          return_grad=True, **kw)
    close(got, want, dtype)
    assert isinstance(gg, tuple) and len(gg) == 3
    for g, w in zip(gg, wg):
        assert g.dtype == dtype and g.shape == a.shape
        close(g, w, dtype)


def test_triplet_margin_identical_embeddings_match_torch():
    """a == p == n: d = ||eps||_p > 0; torch and losslab give the same finite
    gradients (swap ties split the gradient in halves, as torch.minimum)."""
    a = np.full((3, 4), 0.5)
    for swap in (False, True):
        want, wg = torch_grads(
            lambda x, y, z: F.triplet_margin_loss(x, y, z, swap=swap),
            [a, a.copy(), a.copy()], "mean")
        got, gg = losslab.triplet_margin_loss(a, a, a, swap=swap,
                                              return_grad=True)
        close(got, want, np.float64)
        for g, w in zip(gg, wg):
            assert np.all(np.isfinite(g))
            close(g, w, np.float64)


def test_triplet_margin_3d_input_and_torch_tensors():
    """(B, T, D) inputs: the norm is over the last dim (torch.pairwise_distance);
    CPU tensors are read through DLPack."""
    g = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(4, 5, 6, generator=g) for _ in range(3))
    want = F.triplet_margin_loss(a, p, n, reduction="none")
    got = losslab.triplet_margin_loss(a, p, n, reduction="none")
    assert got.shape == (4, 5)
    close(got, want.numpy(), np.float32)


def test_triplet_margin_weight_and_grad_output(rng):
    """Oracle: torch per-sample losses, weighted mean sum(w l) / sum(w)
    (losslab's per-sample weight; torch has none); grad_output scales."""
    a, p, n = (rng.normal(size=(9, 4)) for _ in range(3))
    w = rng.uniform(0, 2, size=9)
    ta = torch.tensor(a, requires_grad=True)
    l = F.triplet_margin_loss(ta, torch.tensor(p), torch.tensor(n),
                              reduction="none")
    want = (l * torch.tensor(w)).sum() / w.sum()
    (want * 2.5).backward()
    got, (ga, _, _) = losslab.triplet_margin_loss(
        a, p, n, weight=w, return_grad=True, grad_output=2.5)
    close(got, want.item(), np.float64)
    close(ga, ta.grad.numpy(), np.float64)
    v = rng.normal(size=9)
    _, (ga, _, _) = losslab.triplet_margin_loss(a, p, n, reduction="none",
                                                return_grad=True,
                                                grad_output=v)
    ta.grad = None
    (F.triplet_margin_loss(ta, torch.tensor(p), torch.tensor(n),
                           reduction="none") * torch.tensor(v)).sum().backward()
    close(ga, ta.grad.numpy(), np.float64)


# ---------------------------------------------------------------------------
# cosine_embedding_loss: oracle torch.nn.functional.cosine_embedding_loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.3, -0.4])
def test_cosine_embedding_matches_torch(rng, dtype, reduction, margin):
    x1, x2 = (rng.normal(size=(41, 13)).astype(dtype) for _ in range(2))
    y = np.where(rng.uniform(size=41) < 0.5, 1, -1).astype(np.int64)
    want, wg = torch_grads(
        lambda a, b: F.cosine_embedding_loss(a, b, torch.tensor(y),
                                             margin=margin,
                                             reduction=reduction),
        [x1, x2], reduction)
    got, (g1, g2) = losslab.cosine_embedding_loss(
        x1, x2, y, margin=margin, reduction=reduction, return_grad=True)
    close(got, want, dtype)
    close(g1, wg[0], dtype)
    close(g2, wg[1], dtype)


def test_cosine_embedding_zero_row_is_finite_like_torch():
    """An all-zero x1 row: torch's 1e-12 keeps cos = 0 and the gradient finite
    (about 1e6 |x2| / |x2|). Oracle: torch; rtol 1e-8 because the gradient is
    x2 / sqrt(1e-12 |x2|^2) and torch's autograd path rounds it differently
    from the closed form losslab evaluates (which matches it to 1e-16)."""
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(5, 13)), rng.normal(size=(5, 13))
    x1[3] = 0
    y = np.ones(5, dtype=np.int64)
    want, wg = torch_grads(
        lambda a, b: F.cosine_embedding_loss(a, b, torch.tensor(y)),
        [x1, x2], "mean")
    got, (g1, g2) = losslab.cosine_embedding_loss(x1, x2, y, return_grad=True)
    assert np.all(np.isfinite(g1)) and np.all(np.isfinite(g2))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(g1, wg[0], rtol=1e-8)
    np.testing.assert_allclose(g2, wg[1], rtol=1e-8, atol=1e-12)
    m2 = x2[3] @ x2[3] + 1e-12
    np.testing.assert_allclose(g1[3], -(1 / 5) * x2[3] / np.sqrt(1e-12 * m2),
                               rtol=1e-14)


def test_cosine_embedding_1d_inputs_and_float_target():
    """(D,) inputs with a 0-d target, as torch; float targets are accepted."""
    x1, x2 = np.array([1.0, 2.0, -1.0]), np.array([0.5, -1.0, 2.0])
    for t in (1.0, -1.0):
        want = F.cosine_embedding_loss(torch.tensor(x1), torch.tensor(x2),
                                       torch.tensor(t), margin=-0.9)
        got = losslab.cosine_embedding_loss(x1, x2, np.array(t), margin=-0.9)
        close(got, want.item(), np.float64)


# ---------------------------------------------------------------------------
# contrastive_loss: oracle Hadsell et al. (2006) written in torch float64


def contrastive_ref(x1, x2, y, margin):
    d = torch.linalg.vector_norm(x1 - x2, dim=-1)
    return 0.5 * (y * d ** 2 + (1 - y) * torch.relu(margin - d) ** 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_contrastive_matches_formula(rng, dtype, reduction):
    x1, x2 = (rng.normal(size=(50, 6)).astype(dtype) for _ in range(2))
    y = (rng.uniform(size=50) < 0.5).astype(np.int64)
    w = rng.uniform(0, 1, size=50).astype(dtype)
    l, (g1, g2) = torch_grads(
        lambda a, b: contrastive_ref(a.double(), b.double(), torch.tensor(y),
                                     3.0) * torch.tensor(w, dtype=torch.float64),
        [x1, x2], "none")
    got, (h1, h2) = losslab.contrastive_loss(x1, x2, y, margin=3.0, weight=w,
                                             reduction=reduction,
                                             return_grad=True)
    if reduction == "none":
        close(got, l, dtype)
    elif reduction == "sum":
        close(got, l.sum(), dtype)
        close(h1, g1, dtype)
        close(h2, g2, dtype)
    else:
        close(got, l.sum() / w.astype(np.float64).sum(), dtype)
        close(h1, g1 / w.astype(np.float64).sum(), dtype)


def test_contrastive_zero_distance_is_finite():
    """d = 0: similar pair loss 0, dissimilar 0.5 m^2; subgradient 0."""
    x = np.ones((2, 3))
    l, (g1, g2) = losslab.contrastive_loss(x, x, np.array([True, False]),
                                           margin=2.0, reduction="none",
                                           return_grad=True)
    np.testing.assert_array_equal(l, [0.0, 2.0])
    assert not g1.any() and not g2.any()


# ---------------------------------------------------------------------------
# Batch mining: oracle Hermans et al. (2017) written in torch float64


def pdist_ref(x):
    diff = x[:, None, :] - x[None, :, :]
    # sqrt with a zero subgradient at 0 (the diagonal and duplicates).
    sq = (diff ** 2).sum(-1)
    safe = torch.where(sq > 0, sq, torch.ones_like(sq))
    return torch.where(sq > 0, torch.sqrt(safe), torch.zeros_like(sq))


def batch_hard_ref(x, y, margin):
    d = pdist_ref(x)
    same = y[:, None] == y[None, :]
    eye = torch.eye(len(y), dtype=torch.bool)
    pos, neg = same & ~eye, ~same
    valid = pos.any(1) & neg.any(1)
    dp = torch.where(pos, d, torch.full_like(d, -1)).max(1).values
    dn = torch.where(neg, d, torch.full_like(d, float("inf"))).min(1).values
    l = torch.relu(margin + dp - dn)
    return torch.where(valid, l, torch.zeros_like(l)), valid


def batch_all_ref(x, y, margin):
    d = pdist_ref(x)
    same = y[:, None] == y[None, :]
    eye = torch.eye(len(y), dtype=torch.bool)
    mask = (same & ~eye)[:, :, None] & (~same)[:, None, :]
    t = torch.relu(margin + d[:, :, None] - d[:, None, :]) * mask
    return t, (t > 0).sum()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_batch_hard_matches_formula(rng, dtype, reduction):
    x = rng.normal(size=(24, 5)).astype(dtype)
    y = rng.integers(0, 4, size=24)
    y[0] = 9  # an anchor without a positive takes no part
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    l, valid = batch_hard_ref(xt, torch.tensor(y), 0.5)
    red = {"mean": l.sum() / valid.sum(), "sum": l.sum(), "none": l}[reduction]
    red.sum().backward()
    got, g = losslab.batch_hard_triplet_loss(x, y, margin=0.5,
                                             reduction=reduction,
                                             return_grad=True)
    close(got, red.detach().numpy(), dtype)
    close(g, xt.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_batch_all_matches_formula(rng, dtype, reduction):
    x = rng.normal(size=(20, 4)).astype(dtype)
    y = rng.integers(0, 3, size=20)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    t, active = batch_all_ref(xt, torch.tensor(y), 1.0)
    red = {"mean": t.sum() / active, "sum": t.sum(),
           "none": t.sum((1, 2))}[reduction]
    red.sum().backward()
    got, g = losslab.batch_all_triplet_loss(x, y, margin=1.0,
                                            reduction=reduction,
                                            return_grad=True)
    close(got, red.detach().numpy(), dtype)
    close(g, xt.grad.numpy(), dtype)


@pytest.mark.parametrize("fn", [losslab.batch_hard_triplet_loss,
                                losslab.batch_all_triplet_loss])
def test_batch_no_valid_triplet_is_zero(fn):
    """All labels distinct (no positive) or equal (no negative): 0, zero grad."""
    x = np.arange(12.0).reshape(4, 3)
    for y in (np.arange(4), np.zeros(4, dtype=np.int64)):
        l, g = fn(x, y, return_grad=True)
        assert l == 0.0 and not g.any()


# ---------------------------------------------------------------------------
# nt_xent_loss: oracle SupCon L_out (Khosla et al. 2020) in torch float64


def supcon_ref(x, y, tau, eps=1e-12):
    z = F.normalize(x, dim=1, eps=eps)
    s = z @ z.T / tau
    n = len(y)
    eye = torch.eye(n, dtype=torch.bool)
    logits = s.masked_fill(eye, float("-inf"))
    lse = torch.logsumexp(logits, dim=1)
    pos = (y[:, None] == y[None, :]) & ~eye
    npos = pos.sum(1)
    mean_pos = torch.where(pos, s, torch.zeros_like(s)).sum(1) / npos.clamp_min(1)
    l = torch.where(npos > 0, lse - mean_pos, torch.zeros_like(lse))
    return l, npos > 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_nt_xent_matches_supcon(rng, dtype, reduction, tau):
    x = rng.normal(size=(16, 8)).astype(dtype)
    y = np.repeat(np.arange(8), 2)  # SimCLR: two views per sample
    y[-1] = 99  # this row has no positive
    y[:4] = 0  # four views of one class: SupCon averages over positives
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    l, valid = supcon_ref(xt, torch.tensor(y), tau)
    red = {"mean": l.sum() / valid.sum(), "sum": l.sum(), "none": l}[reduction]
    red.sum().backward()
    got, g = losslab.nt_xent_loss(x, y, temperature=tau, reduction=reduction,
                                  return_grad=True)
    # float32: logits / 0.07 amplify the rounding of z.z by 14x.
    rtol = 1e-10 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got, red.detach().numpy(), rtol=rtol,
                               atol=10 * ATOL[dtype])
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=rtol,
                               atol=10 * ATOL[dtype] / tau)


def test_nt_xent_zero_embedding_matches_torch_normalize():
    """An all-zero row: z = 0 (F.normalize's eps), finite loss and gradient."""
    x = np.array([[0.0, 0.0], [1.0, 2.0], [0.5, -1.0], [2.0, 0.1]])
    y = np.array([0, 0, 1, 1])
    xt = torch.tensor(x, requires_grad=True)
    l, _ = supcon_ref(xt, torch.tensor(y), 0.1)
    l.mean().backward()
    got, g = losslab.nt_xent_loss(x, y, temperature=0.1, return_grad=True)
    assert np.all(np.isfinite(g))
    close(got, l.mean().item(), np.float64)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-9)


# ---------------------------------------------------------------------------
# Threads and targets


def test_every_target_and_thread_count_agree(runtime_guard, rng):
    """Scalar twin vs every SIMD target (p = 2 paths are bitwise) and 1 vs 2
    threads (bitwise)."""
    x = rng.normal(size=(300, 24)).astype(np.float32)
    x2 = rng.normal(size=(300, 24)).astype(np.float32)
    y = rng.integers(0, 5, size=300)

    def run():
        return [losslab.triplet_margin_loss(x, x2, x[::-1].copy(),
                                            return_grad=True),
                losslab.batch_hard_triplet_loss(x, y, return_grad=True),
                losslab.nt_xent_loss(x, y, return_grad=True)]

    def flat(r):
        out = []
        for v, g in r:
            out.append(np.atleast_1d(np.float64(v)))
            for a in (g if isinstance(g, tuple) else (g,)):
                out.append(a.ravel().astype(np.float64))
        return np.concatenate(out)

    losslab.set_simd_target("scalar")
    ref = flat(run())
    for t in losslab.available_simd_targets():
        losslab.set_simd_target(t)
        for threads in (1, 2):
            losslab.set_num_threads(threads)
            np.testing.assert_array_equal(flat(run()), ref, err_msg=t)


# ---------------------------------------------------------------------------
# Errors


def test_errors_name_function_argument_and_fix():
    a = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"triplet_margin_loss: anchor shape "
                                         r"\(3, 4\) does not match positive"):
        losslab.triplet_margin_loss(a, np.zeros((3, 5)), a)
    with pytest.raises(ValueError, match="p=-1"):
        losslab.triplet_margin_loss(a, a, a, p=-1.0)
    with pytest.raises(ValueError, match="margin=-0.5"):
        losslab.triplet_margin_loss(a, a, a, margin=-0.5)
    with pytest.raises(ValueError, match="empty"):
        losslab.triplet_margin_loss(np.zeros((0, 4)), np.zeros((0, 4)),
                                    np.zeros((0, 4)))
    with pytest.raises(TypeError, match="positive dtype float32"):
        losslab.triplet_margin_loss(a, a.astype(np.float32), a)
    with pytest.raises(ValueError, match=r"\{1, -1\}.*got 0 at index 2"):
        losslab.cosine_embedding_loss(a, a, np.array([1, -1, 0]))
    with pytest.raises(ValueError, match=r"\{0, 1\}.*got -1 at index 0"):
        losslab.contrastive_loss(a, a, np.array([-1, 1, 0]))
    with pytest.raises(ValueError, match=r"target shape \(2,\)"):
        losslab.contrastive_loss(a, a, np.array([1, 0]))
    with pytest.raises(ValueError, match=r"labels shape \(4,\) must be \(3,\)"):
        losslab.batch_hard_triplet_loss(a, np.arange(4))
    with pytest.raises(TypeError, match="labels dtype float64"):
        losslab.batch_all_triplet_loss(a, np.array([0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="temperature=0"):
        losslab.nt_xent_loss(a, np.arange(3), temperature=0.0)
    with pytest.raises(ValueError, match="temperature=-1"):
        losslab.nt_xent_loss(a, np.arange(3), temperature=-1.0)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        losslab.nt_xent_loss(np.zeros(4), np.arange(4))
