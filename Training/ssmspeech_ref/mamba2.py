"""Mamba-2 mixer (SSD, "state space duality"): PyTorch reference implementation.

Dimension letters used in the shape comments below:
    B  batch                      L  sequence length (time)
    D  d_model                    E  d_inner = expand * D
    H  nheads = E / headdim       P  headdim (channels per head)
    G  ngroups (B and C are shared by the H/G heads of a group)
    R  heads per group = H / G    N  d_state
    W  d_conv (conv kernel width) C  conv_dim = E + 2 G N (channels of the depthwise conv)
    Q  chunk length               K  number of chunks = ceil(L / Q)
(In `Bm`/`Cm` "B"/"C" are the SSM input/output matrices, not the batch or conv letters.)

The SSM of one head h, with a (P, N) state S and a scalar decay per step:
    S_t = exp(dt_t A_h) S_{t-1} + dt_t x_t B_t^T          x_t (P), B_t (N)
    y_t = S_t C_t + D_h x_t                                C_t (N)
`ssd_scan_ref` runs this loop step by step. `ssd_scan_chunked` computes the same thing in the
chunked matrix ("SSD") form, a handful of batched matrix products with no loop over time:
  1. inside each chunk, the quadratic attention-like form  y_l = sum_{s<=l} (C_l . B_s) L[l, s] dt_s x_s,
     with the decay matrix L = exp(segsum(dt A)) (lower triangular, zero above the diagonal);
  2. the state each chunk leaves behind from its own inputs;
  3. the states entering each chunk, by passing states across chunks (a segsum over chunks);
  4. the contribution of the entering state to each output of the chunk.
All log-decays dt A are <= 0; only sums of them are exponentiated, and entries above the diagonal
are set to -inf *before* exp, so no positive number is ever exponentiated (no overflow, no NaN in
the gradient, for any dt).

Conventions are those of `layers.Mamba`: `forward` is functional and returns the states after the
last step, `step` updates the states in place, conv_state holds the last W conv inputs oldest first.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import silu

# ---------------------------------------------------------------------------
# SSD scan
# ---------------------------------------------------------------------------


# Ported from segsum in https://github.com/state-spaces/mamba/blob/main/mamba_ssm/modules/ssd_minimal.py
def segsum(x: torch.Tensor) -> torch.Tensor:
    """Segment sums: x (..., T) -> S (..., T, T) with S[i, j] = x[j+1] + ... + x[i] for j <= i
    (0 on the diagonal) and -inf for j > i, so that exp(S) is the lower-triangular decay matrix.

    Each segment is summed directly (masked cumulative sum down the columns) rather than as a
    difference of two prefix sums, which would lose precision when the prefix sums are large.
    """
    T = x.shape[-1]
    ones = torch.ones(T, T, dtype=torch.bool, device=x.device)
    strictly_lower = torch.tril(ones, diagonal=-1)  # [i, j]: i > j
    lower = torch.tril(ones, diagonal=0)  # [i, j]: i >= j
    # xx[..., i, j] = x[i] where i > j, else 0; summing down column j up to row i gives S[i, j].
    xx = x[..., :, None].expand(*x.shape, T)  # (..., T, T)
    xx = xx.masked_fill(~strictly_lower, 0.0)
    s = torch.cumsum(xx, dim=-2)  # (..., T, T)
    return s.masked_fill(~lower, -math.inf)


# Ported from ssd_minimal_discrete in
# https://github.com/state-spaces/mamba/blob/main/mamba_ssm/modules/ssd_minimal.py
# (with explicit batched matrix products, and B/C shared per group of heads for any ngroups).
def ssd_minimal_discrete(X: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                         block_len: int, initial_states: torch.Tensor | None = None):
    """Chunked SSD on inputs that are already discretised.

    X: (B, L, H, P)   inputs times dt (dt_t x_t)
    A: (B, L, H)      log-decay per step, dt_t A_h (<= 0)
    B, C: (B, L, G, N)
    block_len: chunk length Q; L must be a multiple of Q.
    initial_states: (B, H, P, N) state before the first step, or None (zeros).
    Head h uses group h // (H/G) (heads of a group are contiguous, as in mamba_chunk_scan_combined).
    Returns Y (B, L, H, P) without the D skip term, and the final state (B, H, P, N).
    """
    bsz, L, H, P = X.shape
    G, N = B.shape[2], B.shape[3]
    Q = block_len
    assert L % Q == 0, "sequence length must be a multiple of block_len"
    assert H % G == 0, "nheads must be a multiple of ngroups"
    K, R = L // Q, H // G

    # Split time into chunks and heads into (group, head in group); time next to last for matmuls.
    X = X.reshape(bsz, K, Q, G, R, P).permute(0, 1, 3, 4, 2, 5)  # (B, K, G, R, Q, P)
    A = A.reshape(bsz, K, Q, G, R).permute(0, 1, 3, 4, 2)  # (B, K, G, R, Q)
    B = B.reshape(bsz, K, Q, G, N).permute(0, 1, 3, 2, 4).unsqueeze(3)  # (B, K, G, 1, Q, N)
    C = C.reshape(bsz, K, Q, G, N).permute(0, 1, 3, 2, 4).unsqueeze(3)  # (B, K, G, 1, Q, N)
    A_cumsum = torch.cumsum(A, dim=-1)  # (B, K, G, R, Q), log-decay from chunk start to step l

    # 1. Intra-chunk (diagonal blocks): y_l = sum_{s<=l} (C_l . B_s) exp(a_{s+1} + ... + a_l) X_s.
    decay = torch.exp(segsum(A))  # (B, K, G, R, Q, Q) [l, s]
    scores = C @ B.transpose(-1, -2)  # (B, K, G, 1, Q, Q) [l, s] = C_l . B_s
    Y_diag = (scores * decay) @ X  # (B, K, G, R, Q, P)

    # 2. State at the end of each chunk from that chunk's inputs only (zero initial state):
    #    S_end = sum_s exp(a_{s+1} + ... + a_Q) X_s B_s^T.
    decay_to_end = torch.exp(A_cumsum[..., -1:] - A_cumsum)  # (B, K, G, R, Q)
    chunk_states = (X * decay_to_end[..., None]).transpose(-1, -2) @ B  # (B, K, G, R, P, N)

    # 3. Inter-chunk recurrence, as one matrix product: the state entering chunk k is
    #    sum_{c<=k} exp(total decay of chunks c..k-1) * (state produced by chunk c-1),
    #    with the initial state playing the role of the state produced by chunk -1.
    if initial_states is None:
        init = X.new_zeros(bsz, 1, G, R, P, N)
    else:
        init = initial_states.to(X.dtype).reshape(bsz, 1, G, R, P, N)
    states = torch.cat([init, chunk_states], dim=1)  # (B, K+1, G, R, P, N)
    chunk_decay = F.pad(A_cumsum[..., -1].permute(0, 2, 3, 1), (1, 0))  # (B, G, R, K+1): 0, then per-chunk totals
    chunk_decay = torch.exp(segsum(chunk_decay))  # (B, G, R, K+1, K+1)
    states = states.permute(0, 2, 3, 1, 4, 5).reshape(bsz, G, R, K + 1, P * N)
    states = (chunk_decay @ states).reshape(bsz, G, R, K + 1, P, N)  # [k] = state after chunk k-1
    final_state = states[:, :, :, -1].reshape(bsz, H, P, N)
    entering = states[:, :, :, :-1].permute(0, 3, 1, 2, 4, 5)  # (B, K, G, R, P, N)

    # 4. Contribution of the entering state: y_l += exp(a_1 + ... + a_l) S_in C_l.
    Y_off = (C @ entering.transpose(-1, -2)) * torch.exp(A_cumsum)[..., None]  # (B, K, G, R, Q, P)

    Y = (Y_diag + Y_off).permute(0, 1, 4, 2, 3, 5).reshape(bsz, L, H, P)
    return Y, final_state


def _ssd_inputs(x, dt, A, B, C, D, initial_state):
    """Common preamble of the scans: compute type (float32 at least) and casts."""
    dtype_in = x.dtype
    ct = torch.promote_types(x.dtype, torch.float32)
    x, dt, A, B, C = (t.to(ct) for t in (x, dt, A, B, C))
    D = None if D is None else D.to(ct)
    h0 = None if initial_state is None else initial_state.to(ct)
    return dtype_in, ct, x, dt, A, B, C, D, h0


def ssd_scan_chunked(x, dt, A, B, C, D=None, chunk_size: int = 64, initial_state=None):
    """Mamba-2 SSM scan in chunked SSD form (what `Mamba2.forward` uses).

    x: (B, L, H, P); dt: (B, L, H) step sizes, already biased and softplus-ed (>= 0);
    A: (H) (< 0); B, C: (B, L, G, N); D: (H) or None; initial_state: (B, H, P, N) or None (zeros).
    Computes in float32 at least. Returns y (B, L, H, P) in x's dtype and the final state
    (B, H, P, N) in the compute type. Any L: the last chunk is padded with dt = 0 (decay 1, no input),
    which changes neither the outputs nor the final state.
    """
    dtype_in, ct, x, dt, A, B, C, D, h0 = _ssd_inputs(x, dt, A, B, C, D, initial_state)
    bsz, L, H, P = x.shape
    Q = max(1, min(chunk_size, L))  # no point in chunks longer than the sequence
    pad = (-L) % Q
    X = x * dt[..., None]  # (B, L, H, P) discretised input dt_t x_t
    a = dt * A  # (B, L, H) log-decay per step
    if pad:
        X = F.pad(X, (0, 0, 0, 0, 0, pad))
        a = F.pad(a, (0, 0, 0, pad))
        B = F.pad(B, (0, 0, 0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, 0, 0, pad))
    y, last = ssd_minimal_discrete(X, a, B, C, Q, initial_states=h0)
    y = y[:, :L]
    if D is not None:
        y = y + x * D[:, None]
    return y.to(dtype_in), last


def ssd_scan_ref(x, dt, A, B, C, D=None, initial_state=None):
    """Sequential reference of `ssd_scan_chunked` (same arguments and results), one step at a time:
    S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T;  y_t = S_t C_t + D x_t  (per head; S is (P, N))."""
    dtype_in, ct, x, dt, A, B, C, D, h0 = _ssd_inputs(x, dt, A, B, C, D, initial_state)
    bsz, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    B = B.repeat_interleave(H // G, dim=2)  # (B, L, H, N): head h reads group h // (H/G)
    C = C.repeat_interleave(H // G, dim=2)  # (B, L, H, N)
    S = x.new_zeros(bsz, H, P, N) if h0 is None else h0.clone()
    ys = []
    for t in range(L):
        dA = torch.exp(dt[:, t] * A)  # (B, H)
        dBx = (dt[:, t, :, None] * x[:, t])[..., None] * B[:, t, :, None, :]  # (B, H, P, N)
        S = S * dA[..., None, None] + dBx
        ys.append(torch.einsum("bhpn,bhn->bhp", S, C[:, t]))  # (B, H, P)
    y = torch.stack(ys, dim=1) if ys else x.new_zeros(bsz, 0, H, P)  # (B, L, H, P)
    if D is not None:
        y = y + x * D[:, None]
    return y.to(dtype_in), S


# ---------------------------------------------------------------------------
# Gated RMSNorm
# ---------------------------------------------------------------------------


# Ported from rms_norm_ref / RMSNorm (group_size=None, norm_before_gate=False) in
# https://github.com/state-spaces/mamba/blob/main/mamba_ssm/ops/triton/layernorm_gated.py
class RMSNormGated(nn.Module):
    """out = rmsnorm(x * silu(z)) * weight over the last dim (one group over all E channels),
    eps 1e-5, computed in float32 at least. Parameter `weight` (E); no bias."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))  # (E)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:  # x, z: (..., E)
        dtype = x.dtype
        ct = torch.promote_types(x.dtype, torch.float32)
        x = x.to(ct) * silu(z.to(ct))  # gate first (norm_before_gate=False)
        x = x * torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + self.eps)
        return (x * self.weight.to(ct)).to(dtype)


# ---------------------------------------------------------------------------
# Mamba-2 mixer
# ---------------------------------------------------------------------------


# Ported from https://github.com/state-spaces/mamba/blob/main/mamba_ssm/modules/mamba2_simple.py
# (Mamba2Simple: parameters and forward), with the step of
# https://github.com/state-spaces/mamba/blob/main/mamba_ssm/modules/mamba2.py (Mamba2.step).
class Mamba2(nn.Module):
    """Mamba-2 mixer (SSD).

    in_proj(u) -> [z (E), xBC (C), dt (H)]; xBC -> causal depthwise conv -> SiLU -> [x (E), B (GN), C (GN)];
    dt = softplus(dt + dt_bias); y = SSD scan(x, dt, A = -exp(A_log), B, C) + D x (per head);
    y = rmsnorm(y * silu(z)) * norm.weight; out = out_proj(y).

    forward(u (B, L, D), conv_state=None, ssm_state=None) -> (out (B, L, D), conv_state, ssm_state)
    is functional: incoming states are read, not modified, and the states after the last step
    are returned. conv_state (B, C, W) holds the last W conv inputs (oldest first), as in the
    reference's allocate_inference_cache; ssm_state is (B, H, P, N).
    step(u_t (B, 1, D), conv_state, ssm_state) follows the reference step: the states are updated
    in place (roll left, write the new input last) and returned with out (B, 1, D).
    """

    def __init__(self, d_model: int, d_state: int = 64, d_conv: int = 4, expand: int = 2,
                 headdim: int = 64, ngroups: int = 1, A_init_range=(1, 16), dt_min: float = 0.001,
                 dt_max: float = 0.1, dt_init_floor: float = 1e-4, chunk_size: int = 64,
                 bias: bool = False, conv_bias: bool = True):
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = int(expand * d_model)
        self.headdim = headdim
        self.ngroups = ngroups
        self.chunk_size = chunk_size
        assert self.d_inner % headdim == 0, "d_inner must be a multiple of headdim"
        self.nheads = self.d_inner // headdim
        assert self.nheads % ngroups == 0, "nheads must be a multiple of ngroups"
        e, h, g, n = self.d_inner, self.nheads, ngroups, d_state
        self.conv_dim = e + 2 * g * n

        # Output order: [z (E), x (E), B (GN), C (GN), dt (H)]
        self.in_proj = nn.Linear(d_model, 2 * e + 2 * g * n + h, bias=bias)  # weight (2E + 2GN + H, D)
        # Depthwise conv over xBC; causal padding is done explicitly (with the conv state) in forward.
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, kernel_size=d_conv, groups=self.conv_dim,
                                bias=conv_bias)  # weight (C, 1, W), bias (C)

        # dt_bias = softplus^-1(dt), dt log-uniform in [dt_min, dt_max], at least dt_init_floor.
        dt = torch.exp(torch.rand(h) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # (H)

        assert A_init_range[0] > 0 and A_init_range[1] >= A_init_range[0]
        A = torch.empty(h, dtype=torch.float32).uniform_(*A_init_range)
        self.A_log = nn.Parameter(torch.log(A))  # (H); A = -exp(A_log)
        self.D = nn.Parameter(torch.ones(h))  # (H)
        self.norm = RMSNormGated(e, eps=1e-5)  # weight (E)
        self.out_proj = nn.Linear(e, d_model, bias=bias)  # weight (D, E)

    def allocate_inference_cache(self, batch_size: int = 1):
        w = self.out_proj.weight
        conv_state = w.new_zeros(batch_size, self.conv_dim, self.d_conv)  # (B, C, W)
        ssm_state = w.new_zeros(batch_size, self.nheads, self.headdim, self.d_state)  # (B, H, P, N)
        return conv_state, ssm_state

    def _split_in_proj(self, zxbcdt: torch.Tensor):
        """(..., 2E + 2GN + H) -> z (..., E), xBC (..., C), dt (..., H)."""
        return torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.nheads], dim=-1)

    def _split_xbc(self, xBC: torch.Tensor):
        """(..., C) -> x (..., E), B (..., GN), C (..., GN)."""
        gn = self.ngroups * self.d_state
        return torch.split(xBC, [self.d_inner, gn, gn], dim=-1)

    def _A(self) -> torch.Tensor:
        """A = -exp(A_log) (H), in float32 at least."""
        return -torch.exp(self.A_log.to(torch.promote_types(self.A_log.dtype, torch.float32)))

    # Mamba2Simple.forward (non-fused path) of mamba2_simple.py, with explicit state hand-over
    def forward(self, u: torch.Tensor, conv_state: torch.Tensor | None = None,
                ssm_state: torch.Tensor | None = None, scan: str = "chunked"):
        """scan="chunked" (SSD matrix form) or "ref" (sequential loop over time, for tests)."""
        bsz, L, _ = u.shape
        w, h, p, g, n = self.d_conv, self.nheads, self.headdim, self.ngroups, self.d_state
        z, xBC, dt = self._split_in_proj(self.in_proj(u))  # (B, L, E), (B, L, C), (B, L, H)

        # Causal depthwise conv over time, continuing from the last W inputs in conv_state.
        xBC = xBC.transpose(1, 2)  # (B, C, L)
        if conv_state is None:
            conv_state = xBC.new_zeros(bsz, self.conv_dim, w)
        full = torch.cat([conv_state.to(xBC.dtype), xBC], dim=-1)  # (B, C, W + L)
        new_conv_state = full[..., -w:].clone()  # last W inputs, (B, C, W)
        xBC = F.conv1d(full[..., 1:], self.conv1d.weight, self.conv1d.bias, groups=self.conv_dim)  # (B, C, L)
        xBC = silu(xBC).transpose(1, 2)  # (B, L, C)
        x, Bm, Cm = self._split_xbc(xBC)  # (B, L, E), (B, L, GN), (B, L, GN)

        A = self._A()  # (H)
        dt = F.softplus(dt.to(A.dtype) + self.dt_bias.to(A.dtype))  # (B, L, H)
        args = (x.reshape(bsz, L, h, p), dt, A, Bm.reshape(bsz, L, g, n), Cm.reshape(bsz, L, g, n))
        if scan == "chunked":
            y, last = ssd_scan_chunked(*args, D=self.D, chunk_size=self.chunk_size, initial_state=ssm_state)
        elif scan == "ref":
            y, last = ssd_scan_ref(*args, D=self.D, initial_state=ssm_state)
        else:
            raise ValueError(f"unknown scan {scan!r}")
        y = self.norm(y.reshape(bsz, L, self.d_inner), z)  # (B, L, E)
        out = self.out_proj(y)  # (B, L, D)
        return out, new_conv_state, last

    # Mamba2.step (non-fused path) of
    # https://github.com/state-spaces/mamba/blob/main/mamba_ssm/modules/mamba2.py,
    # here for any ngroups (B and C are repeated over the heads of their group).
    def step(self, hidden_states: torch.Tensor, conv_state: torch.Tensor, ssm_state: torch.Tensor):
        """hidden_states (B, 1, D); conv_state (B, C, W) and ssm_state (B, H, P, N) updated in place."""
        dtype = hidden_states.dtype
        bsz = hidden_states.shape[0]
        h, p, g, n = self.nheads, self.headdim, self.ngroups, self.d_state
        z, xBC, dt = self._split_in_proj(self.in_proj(hidden_states.squeeze(1)))  # (B, E), (B, C), (B, H)

        # Conv step: shift the window left, append the new input, dot with the kernel.
        conv_state.copy_(torch.roll(conv_state, shifts=-1, dims=-1))
        conv_state[:, :, -1] = xBC
        xBC = torch.sum(conv_state * self.conv1d.weight[:, 0, :], dim=-1)  # (B, C)
        if self.conv1d.bias is not None:
            xBC = xBC + self.conv1d.bias
        xBC = silu(xBC).to(dtype)
        x, Bm, Cm = self._split_xbc(xBC)  # (B, E), (B, GN), (B, GN)

        # SSM step: S <- exp(dt A) S + dt x B^T;  y = S C + D x.
        A = self._A()  # (H)
        dt = F.softplus(dt + self.dt_bias.to(dt.dtype))  # (B, H)
        dA = torch.exp(dt * A)  # (B, H)
        x = x.reshape(bsz, h, p)  # (B, H, P)
        Bm = Bm.reshape(bsz, g, n).repeat_interleave(h // g, dim=1)  # (B, H, N)
        Cm = Cm.reshape(bsz, g, n).repeat_interleave(h // g, dim=1)  # (B, H, N)
        dBx = (dt[..., None] * x)[..., None] * Bm[:, :, None, :]  # (B, H, P, N)
        ssm_state.copy_(ssm_state * dA[..., None, None] + dBx)
        y = torch.einsum("bhpn,bhn->bhp", ssm_state.to(dtype), Cm)  # (B, H, P)
        y = y + self.D.to(dtype)[:, None] * x
        y = self.norm(y.reshape(bsz, self.d_inner), z)  # (B, E)
        out = self.out_proj(y)  # (B, D)
        return out.unsqueeze(1), conv_state, ssm_state
