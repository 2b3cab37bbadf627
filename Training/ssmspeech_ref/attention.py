"""Causal sliding-window multi-head self-attention: the attention layer of the hybrid encoder.

Jamba (Lieber et al., AI21 Labs, "Jamba: A Hybrid Transformer-Mamba Language Model", 2024) interleaves
attention layers with Mamba layers (one attention layer every k layers) and uses no positional
encoding: the Mamba layers carry position. `MHA` is that attention layer, restricted to a sliding
window so that a stream's memory stays bounded: output frame t attends to the frames
max(0, t - S + 1) .. t, i.e. to exactly S keys (itself included) once t >= S - 1.

Dimension letters used in the shape comments (D, B, L as in Docs/ARCHITECTURE.md's glossary; A, Dh and S
are this file's own, chosen not to clash with the glossary's H and P, which other layers use already):
    B   batch                         L   sequence length (frames of this call)
    D   d_model                       A   attention heads (`n_heads`)
    Dh  head width, D / A             S   window (`window`): keys a frame attends to, itself included
    M   frames carried in from the cache, min(frames seen, S)

Per frame t, with x_t (D):
    [q; k; v] = in_proj(x_t)                      rows of in_proj.weight (3D, D): q, k, v, each (A Dh),
                                                  head a at columns a*Dh .. (a+1)*Dh - 1
    o_a = sum_j softmax_j(q_a . k_{a,j} / sqrt(Dh)) v_{a,j}   over j = max(0, t-S+1) .. t, per head a
    y_t = out_proj([o_0; ...; o_{A-1}])
No positional encoding, no rotary embedding.

Streaming cache (a ring buffer of the last S keys and values), a dict:
    "k": (B, S, D)  keys of the last min(n, S) frames; frame j (0-based, counted from the start of the
                    stream) is stored in slot j % S, heads concatenated as in in_proj's output
    "v": (B, S, D)  values, same slots
    "n": int        frames seen so far (all B streams advance together)
Slots >= n (only while n < S) are zeros and are never attended to. The cache after `forward` on a
chunk equals the cache after `step` on each of its frames, so the two modes can be mixed.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def window_mask(L: int, M: int, S: int, device=None) -> torch.Tensor:
    """Boolean (L, M + L), True where query i (frame M + i of the keys) may attend to key j:
    0 <= (M + i) - j < S (causal, and at most S - 1 frames back)."""
    i = torch.arange(L, device=device)[:, None]
    j = torch.arange(M + L, device=device)[None, :]
    lag = M + i - j  # how many frames key j lies before query i
    return (lag >= 0) & (lag < S)


# Parameter names and the [q | k | v] layout of in_proj follow MHA of
# https://github.com/state-spaces/mamba/blob/main/mamba_ssm/modules/mha.py (num_heads_kv = num_heads,
# no conv, no MLP, no rotary embedding), with causal=True and flash-attention's sliding window
# window_size = (S - 1, 0) written out as a mask.
class MHA(nn.Module):
    """Causal sliding-window multi-head self-attention (see the module docstring for the cache layout).

    forward(x (B, L, D), cache=None) -> (y (B, L, D), cache): all frames at once; with a cache, the
    stream continues after the frames it holds (their keys and values inside the window are visible).
    Functional: the incoming cache is read, not modified; the returned cache is after the last frame.
    allocate_inference_cache(batch_size) -> the empty cache (zeros, n = 0).
    step(x (B, D), cache) -> (y (B, D), cache): one frame; also functional.
    """

    def __init__(self, d_model: int, n_heads: int, window: int, bias: bool = True):
        super().__init__()
        if n_heads < 1 or d_model % n_heads != 0:
            raise ValueError(f"d_model {d_model} must be a positive multiple of n_heads {n_heads}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.window = window
        self.softmax_scale = 1.0 / math.sqrt(self.head_dim)
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)  # weight (3D, D), bias (3D): [q | k | v]
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # weight (D, D), bias (D)

    def allocate_inference_cache(self, batch_size: int = 1) -> dict:
        w = self.out_proj.weight
        return {"k": w.new_zeros(batch_size, self.window, self.d_model),  # (B, S, D)
                "v": w.new_zeros(batch_size, self.window, self.d_model),  # (B, S, D)
                "n": 0}

    def _heads(self, t: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, A, L, Dh)
        return t.unflatten(-1, (self.n_heads, self.head_dim)).transpose(1, 2)

    def forward(self, x: torch.Tensor, cache: dict | None = None, return_cache: bool = True):
        """`return_cache=False` (training, from the start of the sequence) skips building the cache and
        returns (y, None)."""
        bsz, L, _ = x.shape
        S = self.window
        q, k, v = self.in_proj(x).chunk(3, dim=-1)  # (B, L, D) each
        if cache is None and not return_cache:
            n, M, k_all, v_all = 0, 0, k, v
        else:
            if cache is None:
                cache = self.allocate_inference_cache(bsz)
            n = cache["n"]
            M = min(n, S)
            # The cached frames n-M .. n-1 in time order (frame j sits in slot j % S).
            slots = torch.arange(n - M, n, device=x.device) % S  # (M)
            k_all = torch.cat([cache["k"][:, slots], k], dim=1)  # (B, M + L, D): frames n-M .. n+L-1
            v_all = torch.cat([cache["v"][:, slots], v], dim=1)  # (B, M + L, D)

        y = x.new_zeros(bsz, L, self.d_model)
        if L > 0:
            mask = window_mask(L, M, S, device=x.device)  # (L, M + L), True = attend
            o = F.scaled_dot_product_attention(self._heads(q), self._heads(k_all), self._heads(v_all),
                                               attn_mask=mask, scale=self.softmax_scale)  # (B, A, L, Dh)
            y = self.out_proj(o.transpose(1, 2).flatten(2))  # (B, L, D)

        if not return_cache:
            return y, None
        # Cache after the last frame: the last min(n + L, S) frames, frame j in slot j % S.
        keep = min(n + L, S)
        new_slots = torch.arange(n + L - keep, n + L, device=x.device) % S  # (keep)
        new_cache = {"k": cache["k"].index_copy(1, new_slots, k_all[:, k_all.shape[1] - keep:]),  # (B, S, D)
                     "v": cache["v"].index_copy(1, new_slots, v_all[:, v_all.shape[1] - keep:]),  # (B, S, D)
                     "n": n + L}
        return y, new_cache

    def step(self, x: torch.Tensor, cache: dict):
        """x (B, D): frame n of the stream, written to slot n % S; attends to every filled slot (the
        softmax does not depend on the order of the keys, so the ring needs no reordering)."""
        S = self.window
        n = cache["n"]
        q, k, v = self.in_proj(x).chunk(3, dim=-1)  # (B, D) each
        slot = torch.tensor([n % S], device=x.device)
        k_cache = cache["k"].index_copy(1, slot, k[:, None])  # (B, S, D)
        v_cache = cache["v"].index_copy(1, slot, v[:, None])  # (B, S, D)
        qh = q.unflatten(-1, (self.n_heads, self.head_dim))  # (B, A, Dh)
        kh = k_cache.unflatten(-1, (self.n_heads, self.head_dim))  # (B, S, A, Dh)
        vh = v_cache.unflatten(-1, (self.n_heads, self.head_dim))  # (B, S, A, Dh)
        scores = torch.einsum("bad,bsad->bas", qh, kh) * self.softmax_scale  # (B, A, S)
        filled = torch.arange(S, device=x.device) <= n  # slots 0..n hold frames while n < S, then all
        scores = scores.masked_fill(~filled, float("-inf"))
        p = torch.softmax(scores, dim=-1)  # (B, A, S)
        o = torch.einsum("bas,bsad->bad", p, vh)  # (B, A, Dh)
        y = self.out_proj(o.flatten(1))  # (B, D)
        return y, {"k": k_cache, "v": v_cache, "n": n + 1}
