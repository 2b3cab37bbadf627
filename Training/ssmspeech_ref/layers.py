"""Layers of the SSMSpeech encoder (Docs/ARCHITECTURE.md, "Encoder specification").

Layout conventions (B = batch, L = time, channels last unless stated):
* `CausalConv1d.forward`: (B, L, C_in) -> (B, ceil(L/stride), C_out), channel-last.
* `S4D.forward`: (B, L, H) if `transposed=False`, (B, H, L) if `transposed=True`.
* `Mamba.forward`: (B, L, D).
Modules compute in the dtype of their parameters (float32 or float64 after `.double()`).
Parameter names and shapes follow the reference implementations so that their
checkpoints load with `load_state_dict`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Pointwise functions and norms
# ---------------------------------------------------------------------------


def gelu(x: torch.Tensor) -> torch.Tensor:
    """Exact GELU: 0.5 x (1 + erf(x / sqrt 2))."""
    return 0.5 * x * (1.0 + torch.erf(x * (1.0 / math.sqrt(2.0))))


def silu(x: torch.Tensor) -> torch.Tensor:
    """x * sigmoid(x)."""
    return x * torch.sigmoid(x)


def softplus(x: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(x)), as torch's default (beta 1, linear above 20)."""
    return F.softplus(x)


class LayerNorm(nn.Module):
    """LayerNorm over the last dim, biased variance, eps 1e-5 (names `weight`, `bias`)."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))  # (D)
        self.bias = nn.Parameter(torch.zeros(d))  # (D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        var = (x - mean).square().mean(dim=-1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class RMSNorm(nn.Module):
    """RMSNorm over the last dim: x / sqrt(mean(x^2) + eps) * weight, eps 1e-5 (name `weight`)."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))  # (D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + self.eps) * self.weight


# ---------------------------------------------------------------------------
# Causal strided convolution (subsampling)
# ---------------------------------------------------------------------------


class CausalConv1d(nn.Conv1d):
    """Causal strided Conv1d on channel-last input.

    Weights as nn.Conv1d: `weight` (C_out, C_in, K), `bias` (C_out).
    `forward`: (B, L, C_in) -> (B, ceil(L/stride), C_out); the input is left-padded with
    K-1 zeros, so output t sees inputs t*s-(K-1) .. t*s and is ready when input t*s arrives.
    Streaming: `state = init_state(B)`, then `y, state = step(x_t, state)` per input frame
    x_t (B, C_in); y is (B, C_out) on inputs 0, s, 2s, ... and None otherwise.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, bias: bool = True):
        super().__init__(c_in, c_out, kernel_size, stride=stride, padding=0, bias=bias)
        # weight: (C_out, C_in, K); bias: (C_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, C_in)
        k, s = self.kernel_size[0], self.stride[0]
        b, l, _ = x.shape
        if l == 0:
            return x.new_zeros(b, 0, self.out_channels)
        xt = F.pad(x.transpose(1, 2), (k - 1, 0))  # (B, C_in, L + K - 1)
        y = F.conv1d(xt, self.weight, self.bias, stride=s)  # (B, C_out, ceil(L/s))
        return y.transpose(1, 2)

    def init_state(self, batch_size: int = 1) -> dict:
        k = self.kernel_size[0]
        w = self.weight
        # buf: last K inputs, oldest first, (B, K, C_in); n: inputs seen so far
        return {"buf": w.new_zeros(batch_size, k, self.in_channels), "n": 0}

    def step(self, x_t: torch.Tensor, state: dict):
        """x_t: (B, C_in). Returns (y (B, C_out) or None, new_state)."""
        buf = torch.cat([state["buf"][:, 1:], x_t[:, None, :]], dim=1)  # (B, K, C_in)
        n = state["n"]
        new_state = {"buf": buf, "n": n + 1}
        if n % self.stride[0] != 0:
            return None, new_state
        y = torch.einsum("bkc,ock->bo", buf, self.weight)  # (B, C_out)
        if self.bias is not None:
            y = y + self.bias
        return y, new_state


# ---------------------------------------------------------------------------
# S4D
# ---------------------------------------------------------------------------


def _complex_dtype(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64


# Ported from https://github.com/state-spaces/s4/blob/main/models/s4/s4d.py (S4DKernel)
class S4DKernel(nn.Module):
    """Diagonal SSM (ZOH, B = 1) with H channels and N/2 complex modes (conjugate pairs)."""

    def __init__(self, d_model: int, N: int = 64, dt_min: float = 0.001, dt_max: float = 0.1):
        super().__init__()
        h, n2 = d_model, N // 2
        log_dt = torch.rand(h) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        c = torch.randn(h, n2, dtype=torch.cfloat)
        self.C = nn.Parameter(torch.view_as_real(c).contiguous())  # (H, N/2, 2) real view of complex C
        self.log_dt = nn.Parameter(log_dt)  # (H)
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(h, n2)))  # (H, N/2)
        self.A_imag = nn.Parameter(math.pi * torch.arange(n2, dtype=torch.float32).repeat(h, 1))  # (H, N/2)

    # Discretisation as in SSMKernelDiag._setup_step (ZOH):
    # https://github.com/state-spaces/s4/blob/main/models/s4/s4.py
    def discretize(self):
        """Returns dtA, dA, dB, C, each complex (H, N/2)."""
        dt = torch.exp(self.log_dt)  # (H)
        C = torch.view_as_complex(self.C)  # (H, N/2)
        A = torch.complex(-torch.exp(self.log_A_real), self.A_imag)  # (H, N/2)
        dtA = A * dt[:, None]  # (H, N/2)
        dA = torch.exp(dtA)
        dB = torch.expm1(dtA) / A  # (exp(dtA) - 1)/A, with expm1 for accuracy at small dtA
        return dtA, dA, dB, C

    def forward(self, L: int) -> torch.Tensor:
        """Convolution kernel K[h, l] = 2 Re(sum_n C dB dA^l), shape (H, L).

        The Vandermonde matrix dA^l is factored as dA^(b·i) · dA^j with l = b·i + j, b ≈ √L, so only
        about 2√L complex exponentials per mode are evaluated and the sum over modes becomes one
        batched complex matrix product (H, L/b, N) × (H, N, b). Same values as exp(dtA · l)."""
        dtA, _, dB, C = self.discretize()
        real = self.log_dt.dtype
        b = max(1, int(math.ceil(math.sqrt(L))))
        m = (L + b - 1) // b
        small = torch.exp(dtA[..., None] * torch.arange(b, dtype=real, device=dtA.device))  # (H, N/2, b)
        big = torch.exp(dtA[..., None] * (b * torch.arange(m, dtype=real, device=dtA.device)))  # (H, N/2, m)
        weighted = (C * dB)[..., None] * big  # (H, N/2, m)
        k = torch.bmm(weighted.transpose(1, 2), small)  # (H, m, b)
        return 2.0 * k.reshape(k.shape[0], m * b)[:, :L].real


# Ported from https://github.com/state-spaces/s4/blob/main/models/s4/s4d.py (S4D), with the
# recurrent step of https://github.com/state-spaces/s4/blob/main/models/s4/s4.py (SSMKernelDiag.step)
class S4D(nn.Module):
    """S4D layer: y = SSM(u) + D u -> GELU -> Conv1d(H, 2H, 1) -> GLU over channels.

    forward(u, state=None) -> (y, next_state); u is (B, L, H) (transposed=False) or (B, H, L).
    `state` is the complex diagonal state (B, H, N/2) *before* the first step (None = zeros);
    next_state is the state after the last step. step(u_t (B, H), state) -> (y_t (B, H), next_state).
    """

    def __init__(self, d_model: int, d_state: int = 64, transposed: bool = True, **kernel_args):
        super().__init__()
        self.h = d_model
        self.n = d_state
        self.transposed = transposed
        self.D = nn.Parameter(torch.randn(self.h))  # (H)
        self.kernel = S4DKernel(self.h, N=self.n, **kernel_args)
        # output_linear.0.weight (2H, H, 1), output_linear.0.bias (2H); applied on (B, H, L)
        self.output_linear = nn.Sequential(
            nn.Conv1d(self.h, 2 * self.h, kernel_size=1),
            nn.GLU(dim=-2),
        )

    def default_state(self, batch_size: int = 1) -> torch.Tensor:
        dtype = _complex_dtype(self.D.dtype)
        return torch.zeros(batch_size, self.h, self.n // 2, dtype=dtype, device=self.D.device)  # (B, H, N/2)

    def _post(self, y: torch.Tensor) -> torch.Tensor:  # (B, H, L) -> (B, H, L)
        return self.output_linear(gelu(y))

    def forward(self, u: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = True):
        """return_state=False skips computing the state after the last step (training) and returns None for it."""
        if not self.transposed:
            u = u.transpose(-1, -2)  # (B, H, L)
        L = u.size(-1)
        dtA, _, dB, C = self.kernel.discretize()  # (H, N/2)
        real = u.dtype
        pos = torch.arange(L, dtype=real, device=u.device)  # (L)

        # Convolution with the SSM kernel via FFT of length 2L (no circular wrap-around).
        k = self.kernel(L)  # (H, L)
        k_f = torch.fft.rfft(k, n=2 * L)  # (H, L + 1)
        u_f = torch.fft.rfft(u, n=2 * L)  # (B, H, L + 1)
        y = torch.fft.irfft(u_f * k_f, n=2 * L)[..., :L]  # (B, H, L)
        y = y + u * self.D[:, None]

        next_state = None
        if return_state:
            # Next state after L steps: sum_k dA^(L-1-k) dB u_k  (+ dA^L s0).
            back = torch.exp(dtA[..., None] * (L - 1 - pos))  # (H, N/2, L)
            next_state = torch.einsum("hnl,bhl->bhn", back * dB[..., None], u.to(_complex_dtype(real)))  # (B, H, N/2)
        if state is not None:
            # Initial-state response: y_t += 2 Re(sum_n C_n dA_n^(t+1) s0_n).
            fwd = torch.exp(dtA[..., None] * (pos + 1))  # (H, N/2, L)
            y = y + 2.0 * torch.einsum("hn,bhn,hnl->bhl", C, state, fwd).real
            if return_state:
                next_state = next_state + torch.exp(dtA * L) * state

        if self.transposed:
            return self._post(y), next_state
        # Channel-last: the 1x1 Conv1d + GLU over channels is a Linear + GLU over the last dim
        # (same parameters; avoids two transposes and a slow convolution backward on CPU).
        conv = self.output_linear[0]
        z = F.linear(gelu(y.transpose(-1, -2)), conv.weight[..., 0], conv.bias)  # (B, L, 2H)
        return F.glu(z, dim=-1), next_state

    # SSMKernelDiag.step of https://github.com/state-spaces/s4/blob/main/models/s4/s4.py
    def step(self, u: torch.Tensor, state: torch.Tensor):
        """One recurrent step: s <- dA s + dB u; y = 2 Re(sum_n C s) + D u. u: (B, H)."""
        _, dA, dB, C = self.kernel.discretize()
        next_state = dA * state + dB * u[..., None]  # (B, H, N/2)
        y = 2.0 * torch.einsum("hn,bhn->bh", C, next_state).real + self.D * u  # (B, H)
        y = self._post(y[..., None])[..., 0]
        return y, next_state


# ---------------------------------------------------------------------------
# Mamba (v1)
# ---------------------------------------------------------------------------


def _scan_inputs(u, delta, A, B, C, delta_bias, delta_softplus):
    """Shared preamble of the scans: compute type (fp32 at least), dt bias and softplus."""
    dtype_in = u.dtype
    ct = torch.promote_types(u.dtype, torch.float32)
    u, delta, A, B, C = (t.to(ct) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(ct)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    return dtype_in, ct, u, delta, A, B, C


def _scan_output(y, u, D, z, ct, dtype_in):
    """Shared epilogue of the scans: skip term D·u, SiLU(z) gate, cast back to the input dtype."""
    if D is not None:
        y = y + u * D.to(ct)[:, None]
    if z is not None:
        y = y * silu(z.to(ct))
    return y.to(dtype_in)


# Ported from selective_scan_ref in
# https://github.com/state-spaces/mamba/blob/main/mamba_ssm/ops/selective_scan_interface.py
def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                       initial_state=None, return_last_state=False):
    """Sequential selective scan (the clear version).

    u, delta, z: (B, E, L); A: (E, N); B, C: (B, N, L); D, delta_bias: (E);
    initial_state: (B, E, N) or None (zeros; an addition to the reference).
    h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t;  y_t = C_t . h_t + D u_t;  y *= silu(z).
    Computes in float32 at least. Returns y (B, E, L) [, last_state (B, E, N)].
    """
    dtype_in, ct, u, delta, A, B, C = _scan_inputs(u, delta, A, B, C, delta_bias, delta_softplus)
    bsz, e, L = u.shape
    h = u.new_zeros(bsz, e, A.shape[1]) if initial_state is None else initial_state.to(ct)
    ys = []
    for t in range(L):
        dA = torch.exp(delta[:, :, t, None] * A)  # (B, E, N)
        dBu = delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]  # (B, E, N)
        h = dA * h + dBu
        ys.append(torch.einsum("ben,bn->be", h, C[:, :, t]))
    y = torch.stack(ys, dim=-1) if ys else u.new_zeros(bsz, e, 0)  # (B, E, L)
    y = _scan_output(y, u, D, z, ct, dtype_in)
    return (y, h) if return_last_state else y


def _chunk_scan_zero_init(decay: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Inclusive linear recurrence h_t = decay_t h_{t-1} + x_t with h_{-1} = 0 along the last dim,
    by log-depth doubling (Hillis-Steele): after the pass with offset s, x_t holds the recurrence
    over the window (t-2s, t] and decay_t the product of decays over that window. Every decay is
    in (0, 1], so no intermediate can overflow. decay, x: (..., T) -> h (..., T)."""
    # Out-of-place updates (torch.cat) so that autograd can differentiate through the passes.
    T = x.shape[-1]
    s = 1
    while s < T:
        x = torch.cat([x[..., :s], x[..., s:] + decay[..., s:] * x[..., :-s]], dim=-1)
        if 2 * s < T:
            decay = torch.cat([decay[..., :s], decay[..., s:] * decay[..., :-s]], dim=-1)
        s *= 2
    return x


def selective_scan_chunked(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                           initial_state=None, return_last_state=False, chunk_size: int = 32):
    """Same result as selective_scan_ref, computed chunk by chunk (chunk_size steps at a time).

    Inside a chunk with per-step log-decay a_t = delta_t A (<= 0):
      h_t = exp(c_t) h_in + g_t,   c_t = sum_{j<=t} a_j (cumulative log-decay, <= 0, so exp <= 1),
    where g is the zero-initialised recurrence g_t = exp(a_t) g_{t-1} + delta_t B_t u_t of the
    chunk's own inputs, computed with a log-depth doubling scan (_chunk_scan_zero_init).
    Nothing is divided by a decay or exponentiated with a positive argument, so it is stable
    for any dt (unlike the exp(-c_k) rescaling trick, which overflows for strong decay).
    """
    dtype_in, ct, u, delta, A, B, C = _scan_inputs(u, delta, A, B, C, delta_bias, delta_softplus)
    bsz, e, L = u.shape
    n = A.shape[1]
    h = u.new_zeros(bsz, e, n) if initial_state is None else initial_state.to(ct)  # (B, E, N)
    ys = []
    for s0 in range(0, L, chunk_size):
        s1 = min(L, s0 + chunk_size)
        dt = delta[:, :, s0:s1]  # (B, E, T)
        a = dt[:, :, None, :] * A[None, :, :, None]  # log-decay per step, (B, E, N, T)
        bx = B[:, None, :, s0:s1] * (dt * u[:, :, s0:s1])[:, :, None, :]  # (B, E, N, T)
        hs = _chunk_scan_zero_init(torch.exp(a), bx)  # states from this chunk's inputs
        hs = hs + torch.exp(torch.cumsum(a, dim=-1)) * h[..., None]  # plus the carried-in state
        ys.append(torch.einsum("bent,bnt->bet", hs, C[:, :, s0:s1]))  # (B, E, T)
        h = hs[..., -1]
    y = torch.cat(ys, dim=-1) if ys else u.new_zeros(bsz, e, 0)
    y = _scan_output(y, u, D, z, ct, dtype_in)
    return (y, h) if return_last_state else y


class _SelectiveScan(torch.autograd.Function):
    """The selective scan's core with a hand-written backward (what makes Mamba trainable on a CPU).

    forward(dt, u (B, L, E), A (E, N), Bt, Ct (B, L, N), h0 (B, E, N)) -> y (B, L, E), h_last (B, E, N):
        a_t = exp(dt_t A),  h_t = a_t * h_{t-1} + (dt_t u_t) B_t,  y_t = sum_n C_t[n] h_t[:, n].
    The recurrence runs step by step in place in one preallocated (B, L, E, N) buffer. Backward runs the
    adjoint g_t = dy_t C_t + a_{t+1} g_{t+1} in reverse, in place in a second buffer, and forms every
    parameter gradient from g with contractions, so autograd never builds the elementwise graph of the
    (B, L, E, N) tensors (each of its nodes would allocate and sweep another such tensor):
        dC_t = sum_e h_t dy_t;  d(dt u)_t = sum_n g_t B_t;  dB_t = sum_e g_t (dt_t u_t);
        q_t = g_t a_t h_{t-1};  d dt_t += sum_n q_t A;  dA = sum_{b,t} q_t dt_t;  dh0 = a_0 g_0.
    """

    @staticmethod
    def forward(ctx, dt, u, A, Bt, Ct, h0):
        L = dt.shape[1]
        a = (dt[..., None] * A).exp_()  # (B, L, E, N)
        x = dt * u  # (B, L, E)
        hs = x[..., None] * Bt[:, :, None, :]  # (B, L, E, N): b_t, overwritten by h_t below
        h = h0
        for t in range(L):
            h = hs[:, t].addcmul_(a[:, t], h)
        y = torch.matmul(hs, Ct[..., None])[..., 0]  # (B, L, E)
        ctx.save_for_backward(dt, u, A, Bt, Ct, h0, a, hs)
        return y, (hs[:, -1].clone() if L > 0 else h0.clone())

    @staticmethod
    def backward(ctx, dy, dh_last):
        dt, u, A, Bt, Ct, h0, a, hs = ctx.saved_tensors
        L = dt.shape[1]
        if L == 0:
            return (torch.zeros_like(dt), torch.zeros_like(u), torch.zeros_like(A), torch.zeros_like(Bt),
                    torch.zeros_like(Ct), dh_last)
        g = dy[..., None] * Ct[:, :, None, :]  # (B, L, E, N): dLoss/dh_t through y_t ...
        g[:, -1] += dh_last
        for t in range(L - 2, -1, -1):  # ... plus through h_{t+1}
            g[:, t].addcmul_(a[:, t + 1], g[:, t + 1])
        x = dt * u
        # The contractions are written as matmul over (E, N) per frame or as multiply-and-sum: on a CPU,
        # torch.einsum turns the last two into batched products of tiny matrices, 3-8x slower.
        d_Ct = torch.matmul(dy[:, :, None, :], hs)[:, :, 0]  # (B, L, N)
        d_x = torch.matmul(g, Bt[..., None])[..., 0]  # (B, L, E)
        d_Bt = torch.matmul(x[:, :, None, :], g)[:, :, 0]  # (B, L, N)
        q = g * a  # q_t = g_t a_t h_{t-1}: the gradient with respect to dt_t A
        q[:, 1:] *= hs[:, :-1]
        q[:, 0] *= h0
        d_dt = (q * A).sum(-1) + d_x * u  # (B, L, E)
        d_A = (q * dt[..., None]).sum((0, 1))  # (E, N)
        d_h0 = a[:, 0] * g[:, 0]
        return d_dt, d_x * dt, d_A, d_Bt, d_Ct, d_h0


def selective_scan_fast(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                        initial_state=None, return_last_state=False):
    """Same result as selective_scan_ref (same arguments: u, delta (B, E, L), A (E, N), B, C (B, N, L)),
    with the scan in `_SelectiveScan`: discretisation for all steps at once, one fused multiply-add per
    step, and a hand-written backward."""
    dtype_in, ct, u, delta, A, B, C = _scan_inputs(u, delta, A, B, C, delta_bias, delta_softplus)
    bsz, e, _ = u.shape
    n = A.shape[1]
    h0 = u.new_zeros(bsz, e, n) if initial_state is None else initial_state.to(ct)
    y, last = _SelectiveScan.apply(delta.transpose(1, 2), u.transpose(1, 2), A,
                                   B.transpose(1, 2), C.transpose(1, 2), h0)  # y (B, L, E)
    y = _scan_output(y.transpose(1, 2), u, D, z, ct, dtype_in)
    return (y, last) if return_last_state else y


# Ported from https://github.com/state-spaces/mamba/blob/main/mamba_ssm/modules/mamba_simple.py (Mamba)
class Mamba(nn.Module):
    """Mamba v1 mixer.

    forward(u (B, L, D), conv_state=None, ssm_state=None) -> (out (B, L, D), conv_state, ssm_state)
    is functional: incoming states are read, not modified, and the states after the last step
    are returned. conv_state (B, E, W) holds the last W conv inputs (oldest first), as in the
    reference's allocate_inference_cache; ssm_state is (B, E, N).
    step(u_t (B, 1, D), conv_state, ssm_state) follows the reference step: the states are updated
    in place (roll left, write the new input last) and returned with out (B, 1, D).
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank="auto", dt_min: float = 0.001, dt_max: float = 0.1, dt_init_floor: float = 1e-4,
                 dt_scale: float = 1.0, conv_bias: bool = True, bias: bool = False, chunk_size: int = 32):
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.chunk_size = chunk_size
        e, n, r = self.d_inner, d_state, self.dt_rank

        self.in_proj = nn.Linear(d_model, 2 * e, bias=bias)  # weight (2E, D)
        # Depthwise conv; causal padding is done explicitly (with the conv state) in forward.
        self.conv1d = nn.Conv1d(e, e, kernel_size=d_conv, groups=e, bias=conv_bias)  # weight (E, 1, W), bias (E)
        self.x_proj = nn.Linear(e, r + 2 * n, bias=False)  # weight (R + 2N, E)
        self.dt_proj = nn.Linear(r, e, bias=True)  # weight (E, R), bias (E)

        std = r ** -0.5 * dt_scale
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(e) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)

        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(e, 1))  # (E, N)
        self.D = nn.Parameter(torch.ones(e))  # (E)
        self.out_proj = nn.Linear(e, d_model, bias=bias)  # weight (D, E)

    def allocate_inference_cache(self, batch_size: int = 1):
        w = self.out_proj.weight
        conv_state = w.new_zeros(batch_size, self.d_inner, self.d_conv)  # (B, E, W)
        ssm_state = w.new_zeros(batch_size, self.d_inner, self.d_state)  # (B, E, N)
        return conv_state, ssm_state

    def _ssm_inputs(self, x: torch.Tensor):
        """x (B, E, L) after conv+SiLU -> dt (B, E, L) without bias, B, C (B, N, L)."""
        x_dbl = self.x_proj(x.transpose(1, 2))  # (B, L, R + 2N)
        dt, Bm, Cm = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight)  # (B, L, E)
        return dt.transpose(1, 2), Bm.transpose(1, 2), Cm.transpose(1, 2)

    # Mamba.forward (non-fused path) of mamba_simple.py, with explicit state hand-over
    def forward(self, u: torch.Tensor, conv_state: torch.Tensor | None = None,
                ssm_state: torch.Tensor | None = None, scan: str = "fast"):
        bsz, L, _ = u.shape
        w = self.d_conv
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, L, E) each
        x, z = x.transpose(1, 2), z.transpose(1, 2)  # (B, E, L)

        if conv_state is None:
            conv_state = x.new_zeros(bsz, self.d_inner, w)
        full = torch.cat([conv_state.to(x.dtype), x], dim=-1)  # (B, E, W + L)
        new_conv_state = full[..., -w:].clone()  # last W inputs, (B, E, W)
        x = F.conv1d(full[..., 1:], self.conv1d.weight, self.conv1d.bias, groups=self.d_inner)  # (B, E, L)
        x = silu(x)

        dt, Bm, Cm = self._ssm_inputs(x)
        ct = torch.promote_types(self.A_log.dtype, torch.float32)  # scan precision: fp32 at least
        A = -torch.exp(self.A_log.to(ct))  # (E, N)
        kw = dict(D=self.D.to(ct), z=z, delta_bias=self.dt_proj.bias.to(ct), delta_softplus=True,
                  initial_state=ssm_state, return_last_state=True)
        if scan == "fast":
            y, last = selective_scan_fast(x, dt, A, Bm, Cm, **kw)
        elif scan == "chunked":
            y, last = selective_scan_chunked(x, dt, A, Bm, Cm, chunk_size=self.chunk_size, **kw)
        else:
            y, last = selective_scan_ref(x, dt, A, Bm, Cm, **kw)
        out = self.out_proj(y.transpose(1, 2))  # (B, L, D)
        return out, new_conv_state, last

    # Mamba.step (non-fused path) of
    # https://github.com/state-spaces/mamba/blob/main/mamba_ssm/modules/mamba_simple.py
    def step(self, hidden_states: torch.Tensor, conv_state: torch.Tensor, ssm_state: torch.Tensor):
        """hidden_states (B, 1, D); conv_state (B, E, W) and ssm_state (B, E, N) updated in place."""
        dtype = hidden_states.dtype
        x, z = self.in_proj(hidden_states.squeeze(1)).chunk(2, dim=-1)  # (B, E) each

        conv_state.copy_(torch.roll(conv_state, shifts=-1, dims=-1))
        conv_state[:, :, -1] = x
        x = torch.sum(conv_state * self.conv1d.weight[:, 0, :], dim=-1)  # (B, E)
        if self.conv1d.bias is not None:
            x = x + self.conv1d.bias
        x = silu(x).to(dtype)

        x_db = self.x_proj(x)  # (B, R + 2N)
        dt, Bm, Cm = torch.split(x_db, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight)  # (B, E)
        A = -torch.exp(self.A_log.to(torch.promote_types(self.A_log.dtype, torch.float32)))  # (E, N)
        dt = F.softplus(dt + self.dt_proj.bias.to(dt.dtype))
        dA = torch.exp(dt[:, :, None] * A)  # (B, E, N)
        dB = dt[:, :, None] * Bm[:, None, :]  # (B, E, N)
        ssm_state.copy_(ssm_state * dA + x[:, :, None] * dB)
        y = torch.einsum("ben,bn->be", ssm_state.to(dtype), Cm)
        y = y + self.D.to(dtype) * x
        y = y * silu(z)
        out = self.out_proj(y)  # (B, D)
        return out.unsqueeze(1), conv_state, ssm_state
