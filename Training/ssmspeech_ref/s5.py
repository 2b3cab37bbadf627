"""S5 layer: one MIMO diagonal state-space model shared by all channels.

Smith, Warrington, Linderman, "Simplified State Space Layers for Sequence Modeling" (ICLR 2023),
reference code https://github.com/lindermanlab/S5 (JAX). This is a PyTorch port of its S5SSM with
conjugate symmetry and ZOH discretisation, followed by the same output block as our `S4D`
(GELU -> Linear(H, 2H) -> GLU), so that `S5` can replace `S4D` as the mixer of an encoder block.

Dimension letters used in the comments:
  B   batch
  L   sequence length (time steps)
  H   d_model: input and output features
  P   state size (complex). The state matrix is real up to a change of basis, so its eigenvalues come
      in conjugate pairs; only one of each pair is stored ("conjugate symmetry"), Ph = P/2 modes,
      and the output takes 2 Re(.) to account for the other half.
  J   number of blocks of the block-diagonal HiPPO-N initialisation (each block has P/J states)
  T   chunk length of the chunked scan;  Nc  number of chunks
  N   size of one HiPPO matrix (= P/J)

The SSM, per time step k (x_k complex (B, Ph), u_k real (B, H)):
  x_k = Lambda_bar * x_{k-1} + B_bar u_k           Lambda_bar (Ph), B_bar (Ph, H)
  y_k = 2 Re(C_tilde x_k) + D * u_k                C_tilde (H, Ph), D (H)
with Lambda_bar = exp(Lambda * Delta), B_bar = (Lambda_bar - 1) / Lambda * B_tilde (zero-order hold).
Unlike S4D (H independent single-input single-output SSMs with N/2 modes each), every output
channel reads the same state, and every input channel writes to it.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import _complex_dtype, gelu

# ---------------------------------------------------------------------------
# HiPPO initialisation
# ---------------------------------------------------------------------------
# All matrices here are built in float64 / complex128 and only cast to the module's dtype at the end.


# Ported from https://github.com/lindermanlab/S5/blob/main/s5/ssm_init.py (make_HiPPO)
def make_HiPPO(N: int) -> torch.Tensor:
    """HiPPO-LegS state matrix A (N, N), float64:
    A[n, k] = -sqrt(2n+1) sqrt(2k+1) for n > k, -(n+1) for n = k, 0 for n < k."""
    p = torch.sqrt(1.0 + 2.0 * torch.arange(N, dtype=torch.float64))  # (N)
    A = torch.tril(p[:, None] * p[None, :]) - torch.diag(torch.arange(N, dtype=torch.float64))
    return -A


# Ported from https://github.com/lindermanlab/S5/blob/main/s5/ssm_init.py (make_NPLR_HiPPO)
def make_NPLR_HiPPO(N: int):
    """HiPPO-LegS as normal plus low rank: returns A (N, N), the rank-1 factor P (N) such that
    A + P P^T is normal, and the HiPPO input vector B (N); all float64."""
    A = make_HiPPO(N)
    P = torch.sqrt(torch.arange(N, dtype=torch.float64) + 0.5)  # (N)
    B = torch.sqrt(2.0 * torch.arange(N, dtype=torch.float64) + 1.0)  # (N)
    return A, P, B


# Ported from https://github.com/lindermanlab/S5/blob/main/s5/ssm_init.py (make_DPLR_HiPPO)
def make_DPLR_HiPPO(N: int):
    """Diagonalisation of the normal part S = A + P P^T of HiPPO-LegS ("HiPPO-N").

    S = -1/2 I + K with K real skew-symmetric, so S = V diag(Lambda) V^H with V unitary,
    Re(Lambda) = -1/2 (the mean of diag(S)) and Im(Lambda) the eigenvalues of the Hermitian -i K,
    in ascending order: for even N the first N/2 have negative imaginary part and the last N/2 are
    their conjugates. Returns Lambda (N) complex128, P and B in the eigenbasis (N) complex128,
    V (N, N) complex128 and the original B (N) float64.
    """
    A, P, B = make_NPLR_HiPPO(N)
    S = A + P[:, None] * P[None, :]  # (N, N), normal
    lambda_real = torch.diagonal(S).mean() * torch.ones(N, dtype=torch.float64)  # all -1/2
    # The reference calls eigh(S * -1j), whose Hermitian part is -i K = -i (S - S^T)/2 (eigh reads
    # one triangle and a real diagonal). The skew part is formed explicitly here.
    K = 0.5 * (S - S.T)
    lambda_imag, V = torch.linalg.eigh(-1j * K.to(torch.complex128))  # (N), (N, N)
    Vh = V.conj().T
    return torch.complex(lambda_real, lambda_imag), Vh @ P.to(V.dtype), Vh @ B.to(V.dtype), V, B


# Block-diagonal initialisation as in S5's train.py:
# https://github.com/lindermanlab/S5/blob/main/s5/train.py
def hippo_n_init(P: int, J: int = 1):
    """Conjugate-symmetric block-diagonal HiPPO-N init for a state of size P made of J blocks.

    Each block is the HiPPO-N of size N = P/J; of its N eigenpairs the N/2 with negative imaginary
    part are kept. Returns
      Lambda (P/2) complex128: the kept eigenvalues of every block, block after block,
      V      (P, P/2) complex128: block_diag of the kept eigenvectors (N, N/2) of each block,
      Vinv   (P/2, P) complex128: block_diag of their conjugate transposes (N/2, N).
    With A_blocks = block_diag(S_N, ..., S_N): A_blocks = 2 Re(V diag(Lambda) Vinv).
    """
    if P % (2 * J) != 0:
        raise ValueError(f"d_state {P} must be a multiple of 2 * blocks = {2 * J}")
    n = P // J
    lam, _, _, v, _ = make_DPLR_HiPPO(n)
    lam, v = lam[: n // 2], v[:, : n // 2]  # (N/2), (N, N/2)
    Lambda = lam.repeat(J)  # (P/2)
    V = torch.block_diag(*([v] * J))  # (P, P/2)
    Vinv = torch.block_diag(*([v.conj().T] * J))  # (P/2, P)
    return Lambda, V, Vinv


# JAX's lecun_normal: variance_scaling(1, "fan_in", "truncated_normal"), a normal truncated to
# +-2 standard deviations, rescaled so that the variance after truncation is 1 / fan_in.
_TRUNC_STD = 0.87962566103423978  # standard deviation of N(0, 1) truncated to [-2, 2]


def _lecun_normal(shape, fan_in: int) -> torch.Tensor:
    std = math.sqrt(1.0 / fan_in) / _TRUNC_STD
    t = torch.empty(shape, dtype=torch.float64)
    nn.init.trunc_normal_(t, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)
    return t


# ---------------------------------------------------------------------------
# Scans
# ---------------------------------------------------------------------------


# Ported from https://github.com/lindermanlab/S5/blob/main/s5/ssm.py (apply_ssm, conj_sym=True),
# as the plain loop over time that the associative scan computes in parallel.
def s5_scan_ref(Lambda_bar, B_bar, C_tilde, D, u, x0=None):
    """Sequential S5 SSM (the clear version, for tests).

    Lambda_bar (Ph) complex, B_bar (Ph, H) complex, C_tilde (H, Ph) complex, D (H), u (B, L, H) real,
    x0 (B, Ph) complex: the state before the first step (None = zeros).
      x_k = Lambda_bar x_{k-1} + B_bar u_k;  y_k = 2 Re(C_tilde x_k) + D u_k.
    Returns y (B, L, H) and the state after the last step (B, Ph).
    """
    bsz, L, _ = u.shape
    ct = Lambda_bar.dtype
    x = u.new_zeros(bsz, Lambda_bar.shape[0], dtype=ct) if x0 is None else x0.to(ct)  # (B, Ph)
    ys = []
    for k in range(L):
        x = Lambda_bar * x + u[:, k].to(ct) @ B_bar.T  # (B, Ph)
        ys.append(2.0 * (x @ C_tilde.T).real + D * u[:, k])  # (B, H)
    y = torch.stack(ys, dim=1) if ys else u.new_zeros(u.shape)
    return y, x


def s5_scan_chunked(dtA, B_bar, C_tilde, D, u, x0=None, return_state: bool = True, chunk_size: int | None = None):
    """Same result as s5_scan_ref, computed chunk-wise without a loop over time.

    dtA = Lambda * Delta (Ph) complex (so Lambda_bar = exp(dtA)), B_bar (Ph, H), C_tilde (H, Ph),
    D (H), u (B, L, H) real, x0 (B, Ph) complex or None. Returns y (B, L, H) and the state after the
    last step (B, Ph), or None for it when return_state is False.

    The recurrence is diagonal and time-invariant, so with the sequence cut into Nc chunks of
    T ~ sqrt(L) steps (time t = c T + i):
      z_{c,i} = sum_{j<=i} Lambda_bar^(i-j) Bu_{c,j}               zero-initialised state inside chunk c
      h_c     = Lambda_bar^(cT) x0 + sum_{c'<c} Lambda_bar^((c-1-c')T) z_{c',T-1}   state entering chunk c
      x_{c,i} = z_{c,i} + Lambda_bar^(i+1) h_c
    The first two are batched matrix products with (Ph, T, T) and (Ph, Nc, Nc) matrices of powers.
    Every power Lambda_bar^k = exp(k dtA) is evaluated from its exponent with k >= 0 (entries above
    the diagonal are masked to zero, not computed with negative k), so nothing is divided by a decay
    and nothing overflows while Re(Lambda) <= 0. Cost O(B L sqrt(L) Ph), a few large operations.
    """
    bsz, L, H = u.shape
    ph = dtA.shape[0]
    ct = dtA.dtype
    real = u.dtype
    dev = u.device
    if L == 0:
        x_last = u.new_zeros(bsz, ph, dtype=ct) if x0 is None else x0.to(ct)
        return u.new_zeros(bsz, 0, H), (x_last if return_state else None)
    T = min(chunk_size, L) if chunk_size else math.ceil(math.sqrt(L))
    nc = -(-L // T)  # ceil(L / T)

    # Input to the state, Bu_k = B_bar u_k, as one real matmul: u (B, L, H) @ [Re; Im]^T (H, 2 Ph).
    bu = u @ torch.cat([B_bar.real, B_bar.imag], dim=0).T  # (B, L, 2 Ph)
    bu = torch.complex(bu[..., :ph], bu[..., ph:])  # (B, L, Ph)
    bu = F.pad(bu, (0, 0, 0, nc * T - L)).reshape(bsz, nc, T, ph)  # zero inputs after the end

    # 1. Zero-initialised states inside each chunk: W[p, i, j] = Lambda_bar_p^(i-j) for i >= j, else 0.
    i = torch.arange(T, device=dev)
    lag = i[:, None] - i[None, :]  # (T, T)
    W = torch.exp(dtA[:, None, None] * lag.clamp(min=0).to(real)) * (lag >= 0)  # (Ph, T, T)
    z = torch.einsum("pij,bcjp->bcip", W, bu)  # (B, Nc, T, Ph)

    # 2. States entering each chunk, from the chunk-final zero-initialised states z[:, :, T-1].
    c = torch.arange(nc, device=dev)
    clag = c[:, None] - 1 - c[None, :]  # (Nc, Nc); c' contributes to chunk c when c' < c
    M = torch.exp(dtA[:, None, None] * (T * clag.clamp(min=0)).to(real)) * (clag >= 0)  # (Ph, Nc, Nc)
    h = torch.einsum("pcd,bdp->bcp", M, z[:, :, T - 1])  # (B, Nc, Ph)
    if x0 is not None:
        h = h + torch.exp(dtA * (T * c).to(real)[:, None]) * x0.to(ct)[:, None, :]  # Lambda_bar^(cT) x0

    # 3. All states: x_{c,i} = z_{c,i} + Lambda_bar^(i+1) h_c.
    rise = torch.exp(dtA * (i + 1).to(real)[:, None])  # (T, Ph)
    x = (z + rise * h[:, :, None, :]).reshape(bsz, nc * T, ph)[:, :L]  # (B, L, Ph)

    # Output 2 Re(C_tilde x) = 2 (x_re C_re^T - x_im C_im^T), again one real matmul.
    w_out = 2.0 * torch.cat([C_tilde.real, -C_tilde.imag], dim=1)  # (H, 2 Ph)
    y = torch.cat([x.real, x.imag], dim=-1) @ w_out.T + u * D  # (B, L, H)
    return y, (x[:, -1] if return_state else None)


# ---------------------------------------------------------------------------
# S5 layer
# ---------------------------------------------------------------------------


# Ported from https://github.com/lindermanlab/S5/blob/main/s5/ssm.py (S5SSM with conj_sym=True,
# discretization "zoh", bidirectional=False), plus our S4D's output block.
class S5(nn.Module):
    """S5 layer: y = S5SSM(u) -> GELU -> Linear(H, 2H) -> GLU over channels.

    forward(u, state=None, return_state=True) -> (y, next_state); u and y are (B, L, H)
    (transposed=False) or (B, H, L) (transposed=True). `state` is the complex state (B, P/2) *before*
    the first step (None = zeros), next_state the state after the last step (None when
    return_state=False). step(u_t (B, H), state (B, P/2)) -> (y_t (B, H), next_state).
    default_state(batch_size) -> zeros (B, P/2), complex64 (complex128 after `.double()`).

    Parameters (names and shapes as in lindermanlab/S5's S5SSM, with Ph = P/2):
      Lambda_re, Lambda_im (Ph)   continuous-time eigenvalues Lambda = Lambda_re + i Lambda_im
      B (Ph, H, 2)                B_tilde = V^-1 B, real and imaginary parts in the last dim
      C (H, Ph, 2)                C_tilde = C V, real and imaginary parts in the last dim
      D (H)                       feedthrough
      log_step (Ph, 1)            Delta = step_rescale * exp(log_step), one step size per mode
      output_linear.0.weight (2H, H, 1), output_linear.0.bias (2H)   as in S4D
    d_state is P, the full complex state size; it must be a multiple of 2 * blocks.
    clip_eigs clamps Re(Lambda) to <= -1e-4 when discretising (stable for any length).
    C_init: "trunc_standard_normal" (the reference default), "lecun_normal" or "complex_normal".
    chunk_size: chunk length of the chunked scan in forward (None: about sqrt(L)).
    """

    def __init__(self, d_model: int, d_state: int = 64, blocks: int = 1, dt_min: float = 0.001,
                 dt_max: float = 0.1, clip_eigs: bool = False, transposed: bool = False,
                 C_init: str = "trunc_standard_normal", step_rescale: float = 1.0,
                 chunk_size: int | None = None):
        super().__init__()
        h, p = d_model, d_state
        self.h = h
        self.p = p
        self.blocks = blocks
        self.clip_eigs = clip_eigs
        self.transposed = transposed
        self.step_rescale = step_rescale
        self.chunk_size = chunk_size
        ph = p // 2
        dtype = torch.get_default_dtype()

        Lambda, V, Vinv = hippo_n_init(p, blocks)  # (Ph), (P, Ph), (Ph, P)
        self.Lambda_re = nn.Parameter(Lambda.real.to(dtype))  # (Ph)
        self.Lambda_im = nn.Parameter(Lambda.imag.to(dtype))  # (Ph)

        # B: a real (P, H) matrix, lecun_normal with JAX's fan_in = shape[-2] = P, moved into the
        # eigenbasis: B_tilde = Vinv B (Ph, H).
        b_tilde = Vinv @ _lecun_normal((p, h), fan_in=p).to(Vinv.dtype)  # (Ph, H)
        self.B = nn.Parameter(torch.view_as_real(b_tilde).to(dtype).contiguous())  # (Ph, H, 2)

        # C: a complex (H, P) matrix moved into the eigenbasis, C_tilde = C V (H, Ph); or sampled
        # directly in the eigenbasis ("complex_normal").
        if C_init == "complex_normal":
            c_tilde = torch.view_as_complex(torch.randn(h, ph, 2, dtype=torch.float64) * math.sqrt(0.5))
        else:
            if C_init == "trunc_standard_normal":  # lecun_normal per output row: fan_in P
                c = _lecun_normal((h, p, 2), fan_in=p)
            elif C_init == "lecun_normal":  # lecun_normal of the whole (H, P, 2): fan_in P * H
                c = _lecun_normal((h, p, 2), fan_in=p * h)
            else:
                raise ValueError(f"unknown C_init {C_init!r}")
            c_tilde = torch.view_as_complex(c) @ V  # (H, Ph)
        self.C = nn.Parameter(torch.view_as_real(c_tilde).to(dtype).contiguous())  # (H, Ph, 2)

        self.D = nn.Parameter(torch.randn(h))  # (H)
        log_step = torch.rand(ph, 1) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_step = nn.Parameter(log_step)  # (Ph, 1)

        # output_linear.0.weight (2H, H, 1), output_linear.0.bias (2H), as in S4D
        self.output_linear = nn.Sequential(
            nn.Conv1d(h, 2 * h, kernel_size=1),
            nn.GLU(dim=-2),
        )

    # S5SSM.setup + discretize_zoh of https://github.com/lindermanlab/S5/blob/main/s5/ssm.py
    def discretize(self):
        """Returns dtA = Lambda Delta (Ph), Lambda_bar = exp(dtA) (Ph), B_bar (Ph, H), C_tilde (H, Ph),
        all complex."""
        lam_re = self.Lambda_re.clamp(max=-1e-4) if self.clip_eigs else self.Lambda_re
        Lambda = torch.complex(lam_re, self.Lambda_im)  # (Ph)
        B_tilde = torch.complex(self.B[..., 0], self.B[..., 1])  # (Ph, H)
        C_tilde = torch.complex(self.C[..., 0], self.C[..., 1])  # (H, Ph)
        delta = self.step_rescale * torch.exp(self.log_step[:, 0])  # (Ph)
        dtA = Lambda * delta  # (Ph)
        Lambda_bar = torch.exp(dtA)
        # (Lambda_bar - 1) / Lambda, with expm1 for accuracy when |dtA| is small
        B_bar = (torch.expm1(dtA) / Lambda)[:, None] * B_tilde  # (Ph, H)
        return dtA, Lambda_bar, B_bar, C_tilde

    def default_state(self, batch_size: int = 1) -> torch.Tensor:
        dtype = _complex_dtype(self.D.dtype)
        return torch.zeros(batch_size, self.p // 2, dtype=dtype, device=self.D.device)  # (B, Ph)

    def _post(self, y: torch.Tensor) -> torch.Tensor:  # (..., H) -> (..., H)
        # The 1x1 Conv1d + GLU over channels, applied channel-last as a Linear + GLU over the last
        # dim (same parameters; as S4D.forward with transposed=False).
        conv = self.output_linear[0]
        z = F.linear(gelu(y), conv.weight[..., 0], conv.bias)  # (..., 2H)
        return F.glu(z, dim=-1)

    def forward(self, u: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = True):
        """u (B, L, H) or (B, H, L) if transposed; state (B, Ph) complex or None (zeros).
        return_state=False returns None for the next state (training)."""
        if self.transposed:
            u = u.transpose(-1, -2)  # (B, L, H)
        dtA, _, B_bar, C_tilde = self.discretize()
        y, next_state = s5_scan_chunked(dtA, B_bar, C_tilde, self.D, u, state, return_state, self.chunk_size)
        y = self._post(y)  # (B, L, H)
        if self.transposed:
            y = y.transpose(-1, -2)  # (B, H, L)
        return y, next_state

    def step(self, u: torch.Tensor, state: torch.Tensor):
        """One recurrent step: x <- Lambda_bar x + B_bar u; y = 2 Re(C_tilde x) + D u. u: (B, H)."""
        _, Lambda_bar, B_bar, C_tilde = self.discretize()
        next_state = Lambda_bar * state + u.to(B_bar.dtype) @ B_bar.T  # (B, Ph)
        y = 2.0 * (next_state @ C_tilde.T).real + self.D * u  # (B, H)
        return self._post(y), next_state
