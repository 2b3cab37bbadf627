import torch

from ssmspeech_ref.layers import S4D, gelu
from mixer_checks import forward_in_pieces, step_through

TOL = 1e-4


def _layer(seed=0, h=8, n=16):
    torch.manual_seed(seed)
    m = S4D(h, d_state=n, transposed=False, dt_min=0.005, dt_max=0.05)  # slow decay: long memory
    with torch.no_grad():
        m.kernel.log_A_real.add_(0.3 * torch.randn_like(m.kernel.log_A_real))
    return m


@torch.no_grad()
def test_kernel_is_recurrence_impulse_response():
    m = _layer(1).double()
    L = 300
    dtA, dA, dB, C = m.kernel.discretize()
    s = torch.zeros_like(dA)
    ks = []
    for t in range(L):
        s = dA * s + dB * (1.0 if t == 0 else 0.0)
        ks.append(2.0 * (C * s).sum(-1).real)
    ref = torch.stack(ks, dim=-1)  # (H, L)
    k = m.kernel(L)
    assert k.shape == (8, L)
    assert (k - ref).abs().max() < 1e-12
    assert k[:, -1].abs().max() > 1e-2 * k[:, 0].abs().max()  # memory really spans the window


@torch.no_grad()
def test_step_equals_parallel_2000_frames(record_property):
    m = _layer(2)
    torch.manual_seed(3)
    u = torch.randn(2, 2000, 8)
    y, s_par = m(u)
    y_step, s_step = step_through(m, u, m.default_state(u.shape[0]))
    diff = (y - y_step).abs().max().item()
    record_property("s4d_step_vs_parallel_maxabs", diff)
    print(f"S4D step vs parallel, 2000 frames: max abs {diff:.3e}")
    assert y.shape == (2, 2000, 8)
    assert diff <= TOL
    assert (s_par - s_step).abs().max().item() <= TOL
    # sanity: a memoryless layer would be far off
    y0 = m.output_linear(gelu((u * m.D).transpose(1, 2))).transpose(1, 2)
    assert (y - y0).abs().max() > 0.1


@torch.no_grad()
def test_chunked_parallel_with_state_handover_equals_whole():
    m = _layer(4)
    torch.manual_seed(5)
    u = torch.randn(2, 1500, 8)
    y_all, s_all = m(u)
    y_pieces, (state,) = forward_in_pieces(m, u, (1, 7, 300, 192, 1000))
    assert (y_pieces - y_all).abs().max().item() <= TOL
    assert (state - s_all).abs().max().item() <= TOL
    # parallel from a state equals steps from the same state
    y_p, s_p = m(u[:, :50], s_all)
    y_s, s_s = step_through(m, u[:, :50], s_all.clone())
    assert (y_p - y_s).abs().max().item() <= TOL
    assert (s_p - s_s).abs().max().item() <= TOL


@torch.no_grad()
def test_initial_state_changes_output():
    m = _layer(6)
    u = torch.randn(1, 20, 8)
    s0 = torch.randn(1, 8, 8, dtype=torch.cfloat)
    assert (m(u, s0)[0] - m(u)[0]).abs().max() > 1e-2


@torch.no_grad()
def test_transposed_flag():
    m = _layer(7)
    mt = S4D(8, d_state=16, transposed=True)
    mt.load_state_dict(m.state_dict())
    u = torch.randn(3, 40, 8)
    y, s = m(u)
    yt, st = mt(u.transpose(1, 2))
    assert yt.shape == (3, 8, 40)
    assert (yt.transpose(1, 2) - y).abs().max() < 1e-6
    assert (st - s).abs().max() < 1e-6


def test_parameter_names_and_shapes():
    m = S4D(8, d_state=16, transposed=False)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "D": (8,), "kernel.C": (8, 8, 2), "kernel.log_dt": (8,), "kernel.log_A_real": (8, 8),
        "kernel.A_imag": (8, 8), "output_linear.0.weight": (16, 8, 1), "output_linear.0.bias": (16,),
    }
