"""S5 layer (ssmspeech_ref/s5.py): chunked scan vs the sequential reference, streaming, HiPPO-N init."""
import math

import pytest
import torch

from ssmspeech_ref.encoder import Block, EncoderConfig, S4DConfig
from ssmspeech_ref.layers import gelu
from ssmspeech_ref.s5 import (
    S5,
    hippo_n_init,
    make_DPLR_HiPPO,
    make_HiPPO,
    s5_scan_chunked,
    s5_scan_ref,
)
from mixer_checks import forward_in_pieces, step_through

TOL = 1e-4


def _layer(seed=0, h=16, p=16, blocks=2, dt_min=0.001, dt_max=0.01, **kw):
    """Small layer with varied decay rates; dt_max 0.01: memory of several hundred steps.
    B and C are scaled up so that the state, not D u, dominates the SSM output."""
    torch.manual_seed(seed)
    m = S5(h, d_state=p, blocks=blocks, dt_min=dt_min, dt_max=dt_max, **kw)
    with torch.no_grad():
        m.Lambda_re.mul_(torch.exp(0.5 * torch.randn_like(m.Lambda_re)))  # Re(Lambda) no longer all -1/2
        m.B.mul_(4.0)
        m.C.mul_(4.0)
    return m


def _normal_hippo(n):
    """HiPPO-N = HiPPO-LegS + P P^T written out entrywise (independent of make_HiPPO):
    -1/2 sqrt((2i+1)(2k+1)) below the diagonal, +1/2 sqrt(...) above, -1/2 on it."""
    S = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for k in range(n):
            r = 0.5 * math.sqrt((2 * i + 1) * (2 * k + 1))
            S[i, k] = -r if i > k else (r if i < k else -0.5)
    return S


# 1. chunked scan == sequential reference ---------------------------------------------------


@pytest.mark.parametrize("L", [1, 2, 37, 157])
@pytest.mark.parametrize("chunk", [None, 1, 7, 64])
def test_chunked_scan_equals_sequential(L, chunk):
    m = _layer(L + (chunk or 0), h=6, p=12, blocks=3, dt_min=0.01, dt_max=1.0).double()
    dtA, Lambda_bar, B_bar, C_tilde = m.discretize()
    g = torch.Generator().manual_seed(L)
    u = torch.randn(2, L, 6, generator=g, dtype=torch.float64)
    x0 = torch.randn(2, 6, generator=g, dtype=torch.complex128)
    for init in (None, x0):
        y_ref, x_ref = s5_scan_ref(Lambda_bar, B_bar, C_tilde, m.D, u, init)
        y, x = s5_scan_chunked(dtA, B_bar, C_tilde, m.D, u, init, chunk_size=chunk)
        assert y.shape == (2, L, 6) and x.shape == (2, 6)
        assert y_ref.abs().max() > 0.1
        assert (y - y_ref).abs().max().item() < 1e-12
        assert (x - x_ref).abs().max().item() < 1e-12


def test_module_forward_equals_sequential_reference():
    m = _layer(1, h=8, p=16, dt_min=0.01, dt_max=0.5).double()
    g = torch.Generator().manual_seed(1)
    u = torch.randn(3, 101, 8, generator=g, dtype=torch.float64)
    x0 = torch.randn(3, 8, generator=g, dtype=torch.complex128)
    _, Lambda_bar, B_bar, C_tilde = m.discretize()
    for init in (None, x0):
        y_ssm, x_ref = s5_scan_ref(Lambda_bar, B_bar, C_tilde, m.D, u, init)
        # output block written out: GELU -> Conv1d(H, 2H, 1) on (B, H, L) -> GLU over channels
        y_ref = m.output_linear(gelu(y_ssm).transpose(1, 2)).transpose(1, 2)
        y, x = m(u, init)
        assert (y - y_ref).abs().max().item() < 1e-12
        assert (x - x_ref).abs().max().item() < 1e-12
    y, x = m(u, x0, return_state=False)
    assert x is None and y.shape == (3, 101, 8)
    y0, x0_out = m(u[:, :0], x0)  # empty input: the state passes through
    assert y0.shape == (3, 0, 8) and torch.equal(x0_out, x0)


# 2. streaming step == forward over 2000 frames -----------------------------------------------


@torch.no_grad()
def test_step_equals_forward_2000_frames(record_property):
    m = _layer(2)
    torch.manual_seed(3)
    u = torch.randn(2, 2000, 16)
    y, s_fwd = m(u)
    y_step, s_step = step_through(m, u, m.default_state(u.shape[0]))
    diff = (y - y_step).abs().max().item()
    record_property("s5_step_vs_forward_maxabs", diff)
    print(f"S5 step vs forward, 2000 frames: max abs {diff:.3e}")
    assert y.shape == (2, 2000, 16) and s_fwd.shape == (2, 8) and s_fwd.dtype == torch.complex64
    assert diff <= TOL
    assert (s_fwd - s_step).abs().max().item() <= TOL
    # sanity: the state matters (a memoryless layer, y = post(D u), is far off) ...
    y0 = m._post(u * m.D)
    assert (y - y0).abs().max() > 0.1
    # ... and reaches far back: dropping the first 1000 inputs changes the last outputs
    y_late, _ = m(u[:, 1000:])
    assert (y[:, -10:] - y_late[:, -10:]).abs().max() > 1e-3


# 3. chunked runs with state hand-over == one whole forward ------------------------------------


@torch.no_grad()
def test_chunked_forward_with_state_handover_equals_whole():
    m = _layer(4)
    torch.manual_seed(5)
    u = torch.randn(2, 1000, 16)
    y_all, s_all = m(u)
    y_pieces, (state,) = forward_in_pieces(m, u, (7, 300, 693))
    assert (y_pieces - y_all).abs().max().item() <= TOL
    assert (state - s_all).abs().max().item() <= TOL
    # forward from a state equals steps from the same state, and the state changes the output
    y_p, s_p = m(u[:, :50], s_all)
    y_s, s_s = step_through(m, u[:, :50], s_all.clone())
    assert (y_p - y_s).abs().max().item() <= TOL
    assert (s_p - s_s).abs().max().item() <= TOL
    assert (y_p - m(u[:, :50])[0]).abs().max() > 1e-2


# 4. HiPPO-N initialisation ---------------------------------------------------------------------


def test_make_hippo_is_legs():
    n = 9
    A = make_HiPPO(n)
    for i in range(n):
        for k in range(n):
            want = -math.sqrt((2 * i + 1) * (2 * k + 1)) if i > k else (-(i + 1.0) if i == k else 0.0)
            assert abs(A[i, k].item() - want) < 1e-12


@pytest.mark.parametrize("n", [2, 8, 16])
def test_dplr_hippo_diagonalises_the_normal_part(n):
    Lambda, _, _, V, _ = make_DPLR_HiPPO(n)
    S = _normal_hippo(n).to(torch.complex128)
    assert torch.allclose(Lambda.real, torch.full((n,), -0.5, dtype=torch.float64), atol=1e-12)
    eye = torch.eye(n, dtype=torch.complex128)
    assert (V.conj().T @ V - eye).abs().max() < 1e-10  # unitary
    # V diag(Lambda) V^-1 reconstructs HiPPO-N (inverse computed independently of V^H)
    assert (V @ torch.diag(Lambda) @ torch.linalg.inv(V) - S).abs().max() < 1e-10
    # same spectrum as a general (non-Hermitian) eigensolver finds
    ev = torch.linalg.eigvals(S)
    assert (torch.sort(ev.imag).values - torch.sort(Lambda.imag).values).abs().max() < 1e-8
    # conjugate pairs: the first half (kept by S5) has Im < 0, the second half holds the conjugates
    h = n // 2
    assert (Lambda.imag[:h] < 0).all()
    assert torch.allclose(torch.sort(-Lambda.imag[:h]).values, torch.sort(Lambda.imag[h:]).values, atol=1e-10)


@pytest.mark.parametrize("P,J", [(16, 1), (16, 2), (24, 3)])
def test_block_init_reconstructs_block_diagonal_hippo_n(P, J):
    Lambda, V, Vinv = hippo_n_init(P, J)
    assert Lambda.shape == (P // 2,) and V.shape == (P, P // 2) and Vinv.shape == (P // 2, P)
    # conjugate symmetry: the kept half plus its conjugate gives the real block-diagonal matrix
    A = 2.0 * (V @ torch.diag(Lambda) @ Vinv).real
    want = torch.block_diag(*([_normal_hippo(P // J)] * J))
    assert (A - want).abs().max() < 1e-10
    assert torch.allclose(Vinv @ V, torch.eye(P // 2, dtype=torch.complex128), atol=1e-10)


def test_module_init_uses_hippo_n():
    torch.manual_seed(0)
    P, J, H = 16, 2, 5
    m = S5(H, d_state=P, blocks=J).double()
    Lambda, V, Vinv = hippo_n_init(P, J)
    assert torch.allclose(m.Lambda_re, torch.full((P // 2,), -0.5, dtype=torch.float64), atol=1e-7)
    # P/J = 8 per block: 4 distinct eigenvalues with Im < 0, repeated for each of the J blocks
    assert (m.Lambda_im < 0).all()
    assert torch.allclose(m.Lambda_im[: P // (2 * J)], m.Lambda_im[P // (2 * J):])
    assert torch.allclose(m.Lambda_im, Lambda.imag, atol=1e-5)
    # B_tilde = Vinv B for a real B (P, H): recover B = 2 Re(V B_tilde) and map it back
    B_tilde = torch.complex(m.B[..., 0], m.B[..., 1])  # (P/2, H)
    B_real = 2.0 * (V @ B_tilde).real
    assert (Vinv @ B_real.to(torch.complex128) - B_tilde).abs().max() < 1e-5
    assert 0.1 < B_real.std() * math.sqrt(P) < 3.0  # lecun_normal scale, fan_in P
    assert m.log_step.shape == (P // 2, 1)
    assert (m.log_step >= math.log(0.001)).all() and (m.log_step <= math.log(0.1)).all()


def test_init_is_deterministic_given_the_seed():
    torch.manual_seed(7)
    a = S5(8, d_state=16, blocks=2).state_dict()
    torch.manual_seed(7)
    b = S5(8, d_state=16, blocks=2).state_dict()
    torch.manual_seed(8)
    c = S5(8, d_state=16, blocks=2).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["B"], c["B"]) and not torch.equal(a["C"], c["C"])


def test_parameter_names_and_shapes():
    m = S5(8, d_state=16, blocks=2)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "Lambda_re": (8,), "Lambda_im": (8,), "B": (8, 8, 2), "C": (8, 8, 2), "D": (8,),
        "log_step": (8, 1), "output_linear.0.weight": (16, 8, 1), "output_linear.0.bias": (16,),
    }
    for c_init in ("lecun_normal", "complex_normal"):
        assert S5(8, d_state=16, C_init=c_init).C.shape == (8, 8, 2)
    with pytest.raises(ValueError):
        S5(8, d_state=12, blocks=4)  # 3 states per block: not conjugate-symmetric


# 5. gradients ----------------------------------------------------------------------------------


def test_gradients_reach_all_parameters():
    m = _layer(9, h=8, p=16)
    u = torch.randn(2, 60, 8)
    x0 = torch.randn(2, 8, dtype=torch.complex64)
    y, x = m(u, x0)
    (y.square().sum() + x.abs().sum()).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max() > 0, name


def test_gradients_of_chunked_scan_match_reference():
    m1 = _layer(10, h=4, p=8, dt_min=0.05, dt_max=0.5).double()
    m2 = _layer(10, h=4, p=8, dt_min=0.05, dt_max=0.5).double()
    g = torch.Generator().manual_seed(10)
    u = torch.randn(2, 23, 4, generator=g, dtype=torch.float64)
    x0 = torch.randn(2, 4, generator=g, dtype=torch.complex128)
    w = torch.randn(2, 23, 4, generator=g, dtype=torch.float64)
    dtA, _, B_bar, C_tilde = m1.discretize()
    y1, s1 = s5_scan_chunked(dtA, B_bar, C_tilde, m1.D, u, x0, chunk_size=5)
    _, Lambda_bar, B_bar, C_tilde = m2.discretize()
    y2, s2 = s5_scan_ref(Lambda_bar, B_bar, C_tilde, m2.D, u, x0)
    ((y1 * w).sum() + s1.real.sum()).backward()
    ((y2 * w).sum() + s2.real.sum()).backward()
    for (name, p1), p2 in zip(m1.named_parameters(), m2.parameters()):
        if p2.grad is None:  # the output block is not part of the scan
            continue
        assert torch.allclose(p1.grad, p2.grad, atol=1e-10), name


def test_gradcheck_tiny():
    m = _layer(11, h=2, p=4, blocks=1, dt_min=0.1, dt_max=0.5).double()
    names = [n for n, _ in m.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in m.parameters()]
    g = torch.Generator().manual_seed(11)
    u = torch.randn(1, 5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    x0 = torch.randn(1, 2, generator=g, dtype=torch.complex128, requires_grad=True)

    def f(u, x0, *ps):
        y, x = torch.func.functional_call(m, dict(zip(names, ps)), (u, x0))
        return y, torch.view_as_real(x)

    assert torch.autograd.gradcheck(f, (u, x0, *params))


# Further properties --------------------------------------------------------------------------------


@torch.no_grad()
def test_mimo_state_mixes_channels():
    """One state for all channels: an input on channel 0 alone moves the SSM output on every channel
    at later steps (H independent SISO SSMs, as in S4D, would leave the other channels at 0)."""
    m = _layer(12, h=4, p=8)
    dtA, _, B_bar, C_tilde = m.discretize()
    u = torch.zeros(1, 20, 4)
    u[0, 0, 0] = 1.0
    y, _ = s5_scan_chunked(dtA, B_bar, C_tilde, m.D, u)
    assert (y[0, 1:, 1:].abs().amax(dim=0) > 1e-4).all()


@torch.no_grad()
def test_transposed_flag():
    m = _layer(13, h=8, p=16)
    mt = S5(8, d_state=16, blocks=2, transposed=True)
    mt.load_state_dict(m.state_dict())
    u = torch.randn(3, 40, 8)
    y, s = m(u)
    yt, st = mt(u.transpose(1, 2))
    assert yt.shape == (3, 8, 40)
    assert (yt.transpose(1, 2) - y).abs().max() < 1e-6
    assert (st - s).abs().max() < 1e-6


@torch.no_grad()
def test_zoh_discretisation_matches_matrix_exponential():
    """ZOH: exp([[Lambda, B], [0, 0]] Delta) = [[Lambda_bar, B_bar], [0, I]] (Van Loan), per mode."""
    m = _layer(16, h=3, p=8, dt_min=0.01, dt_max=1.0, step_rescale=1.7).double()
    dtA, Lambda_bar, B_bar, _ = m.discretize()
    Lambda = torch.complex(m.Lambda_re, m.Lambda_im)
    B_tilde = torch.complex(m.B[..., 0], m.B[..., 1])
    delta = 1.7 * torch.exp(m.log_step[:, 0])
    for p in range(4):
        aug = torch.zeros(4, 4, dtype=torch.complex128)
        aug[0, 0] = Lambda[p]
        aug[0, 1:] = B_tilde[p]
        e = torch.linalg.matrix_exp(aug * delta[p])
        assert abs(e[0, 0] - Lambda_bar[p]) < 1e-12
        assert (e[0, 1:] - B_bar[p]).abs().max() < 1e-12
    assert torch.allclose(torch.exp(dtA), Lambda_bar)


@torch.no_grad()
def test_clip_eigs_keeps_the_recurrence_stable():
    m = _layer(14, h=4, p=8, clip_eigs=True)
    m.Lambda_re.fill_(0.3)  # unstable continuous-time eigenvalues
    _, Lambda_bar, _, _ = m.discretize()
    assert (Lambda_bar.abs() < 1).all()
    m.clip_eigs = False
    _, Lambda_bar, _, _ = m.discretize()
    assert (Lambda_bar.abs() > 1).all()


@torch.no_grad()
def test_drop_in_mixer_for_block():
    """An S4D block with its mixer swapped for S5: forward equals frame-by-frame streaming."""
    torch.manual_seed(15)
    cfg = EncoderConfig(mixer="s4d", d_model=8, n_layers=1, ffn_mult=2, s4d=S4DConfig(d_state=16))
    block = Block(cfg)
    block.mixer = _layer(15, h=8, p=16)
    x = torch.randn(2, 120, 8)
    y = block(x)
    state = block.init_state(2)
    ys = []
    for t in range(120):
        y_t, state = block.step(x[:, t], state)
        ys.append(y_t)
    assert (torch.stack(ys, dim=1) - y).abs().max().item() <= TOL
