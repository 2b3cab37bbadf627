"""The trainable fast selective scan equals the sequential reference, in value and in gradient."""
import torch

from ssmspeech_ref.layers import selective_scan_fast, selective_scan_ref


def _inputs(seed=0, b=2, e=6, n=4, L=37):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(b, e, L, generator=g, dtype=torch.float64)
    delta = torch.randn(b, e, L, generator=g, dtype=torch.float64) * 0.5
    A = -torch.rand(e, n, generator=g, dtype=torch.float64) * 3
    B = torch.randn(b, n, L, generator=g, dtype=torch.float64)
    C = torch.randn(b, n, L, generator=g, dtype=torch.float64)
    D = torch.randn(e, generator=g, dtype=torch.float64)
    z = torch.randn(b, e, L, generator=g, dtype=torch.float64)
    bias = torch.randn(e, generator=g, dtype=torch.float64) * 0.1
    h0 = torch.randn(b, e, n, generator=g, dtype=torch.float64)
    return [u, delta, A, B, C, D, z, bias, h0]


def _run(fn, args):
    u, delta, A, B, C, D, z, bias, h0 = args
    return fn(u, delta, A, B, C, D=D, z=z, delta_bias=bias, delta_softplus=True, initial_state=h0, return_last_state=True)


def test_fast_scan_matches_reference_values():
    args = _inputs()
    y1, h1 = _run(selective_scan_fast, args)
    y2, h2 = _run(selective_scan_ref, args)
    assert torch.allclose(y1, y2, atol=1e-10)
    assert torch.allclose(h1, h2, atol=1e-10)


def test_fast_scan_gradients_match_reference():
    a1 = [t.clone().requires_grad_(True) for t in _inputs(1)]
    a2 = [t.clone().requires_grad_(True) for t in _inputs(1)]
    y1, h1 = _run(selective_scan_fast, a1)
    y2, h2 = _run(selective_scan_ref, a2)
    w = torch.randn_like(y1)
    ((y1 * w).sum() + h1.sum()).backward()
    ((y2 * w).sum() + h2.sum()).backward()
    for g1, g2 in zip(a1, a2):
        assert torch.allclose(g1.grad, g2.grad, atol=1e-8), (g1.grad - g2.grad).abs().max()


def test_fast_scan_gradcheck():
    u, delta, A, B, C, D, z, bias, h0 = [t[..., :5] if t.dim() == 3 and t.shape[-1] == 37 else t for t in _inputs(2, b=1, e=2, n=2)]
    args = [t.requires_grad_(True) for t in (u, delta, B, C, h0)]
    f = lambda u, d, Bm, Cm, h: selective_scan_fast(u, d, A, Bm, Cm, D=D, initial_state=h, delta_softplus=True)
    assert torch.autograd.gradcheck(f, args)
