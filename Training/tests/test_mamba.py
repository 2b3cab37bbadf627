import pytest
import torch

from ssmspeech_ref.layers import Mamba, selective_scan_chunked, selective_scan_ref
from mixer_checks import forward_in_pieces, step_through

TOL = 1e-4


def _layer(seed=0):
    torch.manual_seed(seed)
    m = Mamba(16, d_state=8, d_conv=4, expand=2, dt_rank=2, dt_min=0.002, dt_max=0.1)
    with torch.no_grad():
        m.A_log.add_(0.3 * torch.randn_like(m.A_log))
        m.conv1d.bias.normal_(0.0, 0.3)
        m.out_proj.weight.mul_(4.0)
    return m


@pytest.mark.parametrize("chunk", [1, 5, 16, 32, 64])
@pytest.mark.parametrize("dt_scale", [1.0, 6.0])
def test_chunked_scan_equals_sequential(chunk, dt_scale):
    g = torch.Generator().manual_seed(chunk)
    b, e, n, L = 2, 12, 6, 157
    u = torch.randn(b, e, L, generator=g)
    delta = dt_scale * torch.randn(b, e, L, generator=g)  # dt_scale 6: very strong decays
    A = -torch.exp(torch.randn(e, n, generator=g) + 1.0)
    B = torch.randn(b, n, L, generator=g)
    C = torch.randn(b, n, L, generator=g)
    D = torch.randn(e, generator=g)
    z = torch.randn(b, e, L, generator=g)
    bias = torch.randn(e, generator=g)
    h0 = torch.randn(b, e, n, generator=g)
    kw = dict(D=D, z=z, delta_bias=bias, delta_softplus=True, initial_state=h0, return_last_state=True)
    y_ref, h_ref = selective_scan_ref(u, delta, A, B, C, **kw)
    y, h = selective_scan_chunked(u, delta, A, B, C, chunk_size=chunk, **kw)
    assert torch.isfinite(y).all() and torch.isfinite(h).all()
    assert y.abs().max() > 0.5
    assert (y - y_ref).abs().max().item() <= TOL
    assert (h - h_ref).abs().max().item() <= TOL


@torch.no_grad()
def test_step_equals_forward_2000_frames(record_property):
    m = _layer(1)
    torch.manual_seed(2)
    u = torch.randn(2, 2000, 16)
    y, cs, ss = m(u)
    y_step, cs_step, ss_step = step_through(
        m, u, *m.allocate_inference_cache(u.shape[0]), keep_time_axis=True)
    diff = (y - y_step).abs().max().item()
    record_property("mamba_step_vs_forward_maxabs", diff)
    print(f"Mamba step vs forward, 2000 frames: max abs {diff:.3e}")
    assert y.abs().max() > 0.1
    assert diff <= TOL
    assert (cs - cs_step).abs().max().item() <= 1e-6  # same inputs up to BLAS rounding
    assert (ss - ss_step).abs().max().item() <= TOL
    # the sequential reference scan gives the same forward
    y_ref, _, ss_ref = m(u, scan="ref")
    assert (y - y_ref).abs().max().item() <= TOL
    assert (ss - ss_ref).abs().max().item() <= TOL


@torch.no_grad()
def test_chunked_forward_with_state_handover_equals_whole():
    m = _layer(3)
    torch.manual_seed(4)
    u = torch.randn(2, 1200, 16)
    y_all, cs_all, ss_all = m(u)
    # pieces include some shorter than d_conv
    y_pieces, (cs, ss) = forward_in_pieces(m, u, (1, 2, 3, 60, 134, 1000))
    assert (y_pieces - y_all).abs().max().item() <= TOL
    assert (cs - cs_all).abs().max().item() <= 1e-6
    assert (ss - ss_all).abs().max().item() <= TOL


@torch.no_grad()
def test_conv_state_holds_last_w_inputs():
    m = _layer(5)
    u = torch.randn(1, 6, 16)
    x = m.in_proj(u)[..., :m.d_inner].transpose(1, 2)  # (1, E, L) conv inputs
    _, cs, _ = m(u)
    assert (cs - x[..., -4:]).abs().max() <= 1e-6
    _, cs, _ = m(u[:, :2])  # shorter than W: zero-padded on the left
    assert torch.equal(cs[..., :2], torch.zeros(1, m.d_inner, 2))
    assert (cs[..., 2:] - x[..., :2]).abs().max() <= 1e-6
    assert x.abs().max() > 0.1


def test_parameter_names_and_shapes():
    m = Mamba(16, d_state=8, d_conv=4, expand=2, dt_rank=2)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "in_proj.weight": (64, 16), "conv1d.weight": (32, 1, 4), "conv1d.bias": (32,),
        "x_proj.weight": (18, 32), "dt_proj.weight": (32, 2), "dt_proj.bias": (32,),
        "A_log": (32, 8), "D": (32,), "out_proj.weight": (16, 32),
    }
    assert Mamba(64).dt_rank == 4  # "auto" = ceil(D/16)
