"""Mamba-2 (SSD): the chunked scan equals the sequential one (values and gradients), step equals
forward, state hand-over between forward calls equals one whole forward."""
import math
import time

import pytest
import torch
import torch.nn.functional as F

from ssmspeech_ref.mamba2 import Mamba2, segsum, ssd_scan_chunked, ssd_scan_ref
from mixer_checks import forward_in_pieces, step_through

TOL = 1e-4


def _ssd_inputs(seed=0, b=2, L=157, h=4, p=3, g=1, n=5, dt_shift=0.0, dt_scale=1.0, dtype=torch.float64):
    """Random SSD inputs. dt = softplus(dt_scale * randn + dt_shift); A in [-16, -1]."""
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen, dtype=dtype)
    x = r(b, L, h, p)
    dt = F.softplus(dt_scale * r(b, L, h) + dt_shift)
    A = -(1.0 + 15.0 * torch.rand(h, generator=gen, dtype=dtype))
    B, C = r(b, L, g, n), r(b, L, g, n)
    D = r(h)
    h0 = r(b, h, p, n)
    return x, dt, A, B, C, D, h0


def _maxabs(a, b):
    return (a - b).abs().max().item()


def test_segsum_values():
    x = torch.tensor([-0.5, -1.0, -2.0, -0.25], dtype=torch.float64)
    s = segsum(x)
    for i in range(4):
        for j in range(4):
            want = sum(x[j + 1:i + 1].tolist()) if j <= i else -math.inf
            assert s[i, j].item() == pytest.approx(want, abs=1e-15)


# dt regimes: small (typical at init, dt ~ 0.01..0.1), moderate, and very strong decay
# (dt up to ~10 with A up to -16: log-decays of -100 per step and far below over a chunk).
DT_REGIMES = [(-4.0, 1.0), (0.0, 1.0), (1.0, 3.0)]


@pytest.mark.parametrize("chunk", [1, 7, 16, 64, 500])
@pytest.mark.parametrize("dt_shift,dt_scale", DT_REGIMES)
@pytest.mark.parametrize("with_h0", [False, True])
def test_chunked_ssd_equals_sequential(chunk, dt_shift, dt_scale, with_h0):
    x, dt, A, B, C, D, h0 = _ssd_inputs(chunk, L=157, dt_shift=dt_shift, dt_scale=dt_scale)  # 157: no multiple of chunk
    h0 = h0 if with_h0 else None
    y_ref, s_ref = ssd_scan_ref(x, dt, A, B, C, D, initial_state=h0)
    y, s = ssd_scan_chunked(x, dt, A, B, C, D, chunk_size=chunk, initial_state=h0)
    assert y.shape == y_ref.shape == x.shape and s.shape == s_ref.shape == (2, 4, 3, 5)
    assert torch.isfinite(y).all() and torch.isfinite(s).all()
    assert y_ref.abs().max() > 0.5 and s_ref.abs().max() > 0.05  # not trivially zero
    assert _maxabs(y, y_ref) <= 1e-10
    assert _maxabs(s, s_ref) <= 1e-10


@pytest.mark.parametrize("L", [0, 1, 2, 63, 64, 65])
def test_chunked_ssd_short_and_edge_lengths(L):
    x, dt, A, B, C, D, h0 = _ssd_inputs(L + 100, L=L)
    y_ref, s_ref = ssd_scan_ref(x, dt, A, B, C, D, initial_state=h0)
    y, s = ssd_scan_chunked(x, dt, A, B, C, D, chunk_size=64, initial_state=h0)
    assert y.shape == (2, L, 4, 3)
    assert _maxabs(s, s_ref) <= 1e-10
    if L:
        assert _maxabs(y, y_ref) <= 1e-10
    else:
        assert torch.equal(s, h0)  # nothing happens to the state


@pytest.mark.parametrize("chunk", [4, 16])
def test_ngroups_share_B_C_per_group(chunk):
    # 6 heads in 2 groups: heads 0-2 read group 0, heads 3-5 read group 1.
    x, dt, A, B, C, D, h0 = _ssd_inputs(7, L=45, h=6, g=2, dt_shift=-1.0)
    y_ref, s_ref = ssd_scan_ref(x, dt, A, B, C, D, initial_state=h0)
    y, s = ssd_scan_chunked(x, dt, A, B, C, D, chunk_size=chunk, initial_state=h0)
    assert _maxabs(y, y_ref) <= 1e-10 and _maxabs(s, s_ref) <= 1e-10
    # The same as running each group on its own with ngroups=1.
    for grp in range(2):
        hs = slice(3 * grp, 3 * grp + 3)
        y1, s1 = ssd_scan_ref(x[:, :, hs], dt[:, :, hs], A[hs], B[:, :, grp:grp + 1], C[:, :, grp:grp + 1],
                              D[hs], initial_state=h0[:, hs])
        assert _maxabs(y[:, :, hs], y1) <= 1e-10 and _maxabs(s[:, hs], s1) <= 1e-10
    # And not the same as if every head read group 0 (the group mapping matters).
    y0, _ = ssd_scan_ref(x, dt, A, B[:, :, :1].expand_as(B), C[:, :, :1].expand_as(C), D, initial_state=h0)
    assert _maxabs(y[:, :, 3:], y0[:, :, 3:]) > 1e-3


def test_chunked_ssd_gradients_match_sequential():
    # Strong decays included: the -inf entries of segsum must give zero (not NaN) gradients.
    args = _ssd_inputs(11, b=2, L=37, h=4, g=2, dt_shift=0.0, dt_scale=3.0)
    a1 = [t.clone().requires_grad_(True) for t in args]
    a2 = [t.clone().requires_grad_(True) for t in args]
    y1, s1 = ssd_scan_chunked(*a1[:6], chunk_size=8, initial_state=a1[6])
    y2, s2 = ssd_scan_ref(*a2[:6], initial_state=a2[6])
    gen = torch.Generator().manual_seed(12)
    wy = torch.randn(y1.shape, generator=gen, dtype=y1.dtype)
    ws = torch.randn(s1.shape, generator=gen, dtype=s1.dtype)
    ((y1 * wy).sum() + (s1 * ws).sum()).backward()
    ((y2 * wy).sum() + (s2 * ws).sum()).backward()
    for name, t1, t2 in zip(["x", "dt", "A", "B", "C", "D", "h0"], a1, a2):
        assert torch.isfinite(t1.grad).all(), name
        assert t2.grad.abs().max() > 0, name
        assert _maxabs(t1.grad, t2.grad) <= 1e-9, name


def test_chunked_ssd_gradcheck():
    x, dt, A, B, C, D, h0 = _ssd_inputs(13, b=1, L=7, h=2, p=2, g=2, n=2, dt_shift=-1.0)
    args = [t.requires_grad_(True) for t in (x, dt, A, B, C, D, h0)]
    f = lambda x, dt, A, B, C, D, h0: ssd_scan_chunked(x, dt, A, B, C, D, chunk_size=3, initial_state=h0)
    assert torch.autograd.gradcheck(f, args)


# ---------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------


def _layer(seed=0, ngroups=1, chunk_size=16, dtype=torch.float32):
    torch.manual_seed(seed)
    m = Mamba2(16, d_state=8, d_conv=4, expand=2, headdim=8, ngroups=ngroups, chunk_size=chunk_size)
    with torch.no_grad():  # move away from the init values so that every term matters
        m.conv1d.bias.normal_(0.0, 0.3)
        m.D.normal_(1.0, 0.5)
        m.norm.weight.normal_(1.0, 0.3)
        m.dt_bias.add_(0.5 * torch.randn_like(m.dt_bias))
        m.out_proj.weight.mul_(4.0)
    return m.to(dtype)


def test_parameter_names_and_shapes():
    m = Mamba2(16, d_state=8, d_conv=4, expand=2, headdim=8, ngroups=2)
    # E = 32, H = 4, G N = 16, C = E + 2GN = 64, in_proj rows 2E + 2GN + H = 100
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "in_proj.weight": (100, 16), "conv1d.weight": (64, 1, 4), "conv1d.bias": (64,),
        "dt_bias": (4,), "A_log": (4,), "D": (4,), "norm.weight": (32,), "out_proj.weight": (16, 32),
    }
    cs, ss = m.allocate_inference_cache(3)
    assert cs.shape == (3, 64, 4) and ss.shape == (3, 4, 8, 8)
    assert not cs.any() and not ss.any()
    b = Mamba2(16, d_state=8, headdim=8, bias=True, conv_bias=False)
    assert {k for k in b.state_dict() if "bias" in k} == {"in_proj.bias", "out_proj.bias", "dt_bias"}


def test_init_ranges():
    torch.manual_seed(0)
    m = Mamba2(256, d_state=16, headdim=4)  # 128 heads
    dt = F.softplus(m.dt_bias.detach())
    assert dt.min() >= 0.001 * (1 - 1e-5) and dt.max() <= 0.1 * (1 + 1e-5)
    assert dt.min() < 0.003 and dt.max() > 0.03  # log-uniform spread
    A = torch.exp(m.A_log.detach())
    assert A.min() >= 1.0 and A.max() <= 16.0 and A.max() - A.min() > 8.0
    assert torch.equal(m.D.detach(), torch.ones(128))
    assert torch.equal(m.norm.weight.detach(), torch.ones(512))


@torch.no_grad()
def test_forward_chunked_equals_ref_scan_and_gated_norm():
    m = _layer(1, ngroups=2, dtype=torch.float64)
    u = torch.randn(2, 50, 16, dtype=torch.float64)
    y, cs, ss = m(u)
    y_ref, cs_ref, ss_ref = m(u, scan="ref")
    assert y.shape == (2, 50, 16) and cs.shape == (2, 64, 4) and ss.shape == (2, 4, 8, 8)
    assert _maxabs(y, y_ref) <= 1e-10 and _maxabs(ss, ss_ref) <= 1e-10 and torch.equal(cs, cs_ref)
    # Recompute the whole layer from its definition, with PyTorch's own conv padding.
    E, H, P, GN = 32, 4, 8, 16
    z, xBC, dt = torch.split(m.in_proj(u), [E, E + 2 * GN, H], dim=-1)
    conv = F.conv1d(xBC.transpose(1, 2), m.conv1d.weight, m.conv1d.bias, padding=3, groups=E + 2 * GN)
    xBC = F.silu(conv[..., :50]).transpose(1, 2)
    x, Bm, Cm = torch.split(xBC, [E, GN, GN], dim=-1)
    dt = F.softplus(dt + m.dt_bias)
    yy, _ = ssd_scan_ref(x.reshape(2, 50, H, P), dt, -torch.exp(m.A_log), Bm.reshape(2, 50, 2, 8),
                         Cm.reshape(2, 50, 2, 8), m.D)
    g = yy.reshape(2, 50, E) * F.silu(z)
    g = g / torch.sqrt(g.square().mean(-1, keepdim=True) + 1e-5) * m.norm.weight
    assert _maxabs(y, m.out_proj(g)) <= 1e-10


@torch.no_grad()
def test_step_equals_forward_2000_frames_float64(record_property):
    m = _layer(2, ngroups=1, dtype=torch.float64)
    torch.manual_seed(3)
    u = torch.randn(2, 2000, 16, dtype=torch.float64)
    y, cs, ss = m(u)
    y_step, cs_step, ss_step = step_through(
        m, u, *m.allocate_inference_cache(u.shape[0]), keep_time_axis=True, in_place=True)
    diff = _maxabs(y, y_step)
    record_property("mamba2_step_vs_forward_f64_maxabs", diff)
    print(f"Mamba2 step vs forward, 2000 frames, float64: max abs {diff:.3e}")
    assert y.abs().max() > 0.1 and ss.abs().max() > 0.01
    assert diff <= 1e-9
    assert _maxabs(cs, cs_step) <= 1e-12
    assert _maxabs(ss, ss_step) <= 1e-9


@torch.no_grad()
def test_step_equals_forward_2000_frames_float32(record_property):
    m = _layer(4, ngroups=2)  # ngroups=2 here, 1 in the float64 test
    torch.manual_seed(5)
    u = torch.randn(2, 2000, 16)
    y, cs, ss = m(u)
    y_step, cs_step, ss_step = step_through(
        m, u, *m.allocate_inference_cache(u.shape[0]), keep_time_axis=True, in_place=True)
    diff = _maxabs(y, y_step)
    record_property("mamba2_step_vs_forward_f32_maxabs", diff)
    print(f"Mamba2 step vs forward, 2000 frames, float32: max abs {diff:.3e}")
    assert y.abs().max() > 0.1
    assert diff <= TOL
    assert _maxabs(cs, cs_step) <= 1e-6
    assert _maxabs(ss, ss_step) <= TOL


@pytest.mark.parametrize("sizes", [(2, 61, 137), (100, 3, 97), (16, 32, 152)])
@torch.no_grad()
def test_forward_with_state_handover_equals_whole(sizes):
    m = _layer(6, ngroups=2, dtype=torch.float64)
    torch.manual_seed(7)
    u = torch.randn(2, sum(sizes), 16, dtype=torch.float64)
    y_all, cs_all, ss_all = m(u)
    # uneven pieces, some shorter than d_conv or than a chunk
    y_pieces, (cs, ss) = forward_in_pieces(m, u, sizes)
    assert _maxabs(y_pieces, y_all) <= 1e-10
    assert _maxabs(cs, cs_all) <= 1e-12
    assert _maxabs(ss, ss_all) <= 1e-10
    # The hand-over matters: restarting from zero states changes the last piece.
    y_cold, _, _ = m(u[:, -sizes[-1]:])
    assert _maxabs(y_cold, y_pieces[:, -sizes[-1]:]) > 1e-3


@torch.no_grad()
def test_conv_state_holds_last_w_inputs():
    m = _layer(8)
    u = torch.randn(1, 6, 16)
    C = m.conv_dim  # E + 2GN = 32 + 16
    xBC = m.in_proj(u)[..., 32:32 + C].transpose(1, 2)  # (1, C, L) conv inputs
    _, cs, _ = m(u)
    assert _maxabs(cs, xBC[..., -4:]) <= 1e-6
    _, cs, _ = m(u[:, :2])  # shorter than W: zero-padded on the left
    assert torch.equal(cs[..., :2], torch.zeros(1, C, 2))
    assert _maxabs(cs[..., 2:], xBC[..., :2]) <= 1e-6
    assert xBC.abs().max() > 0.1


def test_module_backward_finite_and_fast():
    """Forward + backward on a training-sized input: every parameter gets a finite gradient, and the
    chunked form is much faster than the loop over time. The bound is generous: best of 3 chunked
    forward+backward passes against one sequential forward (measured ratio ~4x on one core)."""
    torch.manual_seed(9)
    m = Mamba2(32, d_state=16, headdim=16, chunk_size=64)
    u = torch.randn(2, 1024, 32)
    t_chunked = math.inf
    for _ in range(3):
        m.zero_grad()
        t0 = time.perf_counter()
        y, _, _ = m(u)
        y.square().mean().backward()
        t_chunked = min(t_chunked, time.perf_counter() - t0)
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max() > 0, name
    with torch.no_grad():
        t0 = time.perf_counter()
        m(u, scan="ref")
        t_ref = time.perf_counter() - t0
    print(f"Mamba2 fwd+bwd chunked {t_chunked * 1e3:.0f} ms, ref forward only {t_ref * 1e3:.0f} ms")
    assert t_chunked < t_ref  # chunked forward+backward beats the sequential forward alone
