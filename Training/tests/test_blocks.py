import math

import pytest
import torch
import torch.nn.functional as F

from ssmspeech_ref.layers import CausalConv1d, LayerNorm, RMSNorm, gelu, silu


def _stream(conv, x):
    state = conv.init_state(x.shape[0])
    outs, ready_at = [], []
    for t in range(x.shape[1]):
        y, state = conv.step(x[:, t], state)
        if y is not None:
            outs.append(y)
            ready_at.append(t)
    return (torch.stack(outs, dim=1) if outs else x.new_zeros(x.shape[0], 0, conv.out_channels)), ready_at


@pytest.mark.parametrize("k,s", [(3, 2), (4, 3), (1, 1), (3, 1)])
@pytest.mark.parametrize("L", [1, 2, 5, 11, 12])
@torch.no_grad()
def test_causal_conv_streaming_equals_whole(k, s, L):
    torch.manual_seed(k * 100 + s * 10 + L)
    conv = CausalConv1d(6, 5, k, stride=s)
    x = torch.randn(2, L, 6)
    y = conv(x)
    assert y.shape == (2, math.ceil(L / s), 5)
    ys, ready_at = _stream(conv, x)
    assert ready_at == list(range(0, L, s))  # output t is ready when input t*s arrives
    assert (ys - y).abs().max().item() <= 1e-6


@torch.no_grad()
def test_causal_conv_values_and_causality():
    torch.manual_seed(0)
    conv = CausalConv1d(6, 5, 3, stride=2)
    x = torch.randn(1, 11, 6)
    y = conv(x)
    xp = torch.cat([torch.zeros(1, 2, 6), x], dim=1)  # left pad K-1
    for t in range(6):
        window = xp[0, 2 * t:2 * t + 3]  # inputs 2t-2 .. 2t
        ref = torch.einsum("kc,ock->o", window, conv.weight) + conv.bias
        assert (y[0, t] - ref).abs().max() < 1e-6
    x2 = x.clone()
    x2[0, 7] += 10.0
    d = (conv(x2) - y).abs().amax(dim=-1)[0]
    assert torch.all(d[:4] == 0) and d[4] > 0  # input 7 first reaches output 4 (inputs 6..8)


@torch.no_grad()
def test_norms():
    torch.manual_seed(1)
    x = torch.randn(4, 16) * 3 + 1
    ln = LayerNorm(16)
    ln.weight.normal_()
    ln.bias.normal_()
    ref = F.layer_norm(x, (16,), ln.weight, ln.bias, eps=1e-5)
    assert (ln(x) - ref).abs().max() < 1e-5
    rms = RMSNorm(16)
    rms.weight.normal_()
    ref = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-5) * rms.weight
    assert (rms(x) - ref).abs().max() < 1e-5
    assert set(dict(ln.named_parameters())) == {"weight", "bias"}
    assert set(dict(rms.named_parameters())) == {"weight"}


def test_activations():
    x = torch.linspace(-6, 6, 101, dtype=torch.float64)
    assert (gelu(x) - F.gelu(x)).abs().max() < 1e-14  # exact erf form, not tanh
    assert abs(gelu(torch.tensor(1.0, dtype=torch.float64)).item() - 0.8413447460685429) < 1e-15
    assert (gelu(x) - F.gelu(x, approximate="tanh")).abs().max() > 1e-5
    assert (silu(x) - x * torch.sigmoid(x)).abs().max() < 1e-15
