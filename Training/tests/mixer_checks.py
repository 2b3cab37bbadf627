"""Shared by the mixer tests: a sequence run through `forward` in pieces, the state handed over."""
import torch


def forward_in_pieces(m, u: torch.Tensor, sizes):
    """Runs `m(piece, *states) -> (y, *states)` over `u (B, L, ...)` in pieces of `sizes` (which must add
    up to L), starting from no state and handing each piece's states to the next; checks that forward
    leaves the states it is given unchanged. Returns (the pieces' outputs joined along time, the final
    states as a tuple)."""
    ys, states, start = [], (), 0
    for size in sizes:
        given = tuple(s.clone() for s in states)
        y, *out = m(u[:, start:start + size], *states)
        for s, g in zip(states, given):  # forward does not modify incoming states
            assert torch.equal(s, g), "forward modified the state it was given"
        ys.append(y)
        states = tuple(out)
        start += size
    assert start == u.shape[1], (start, u.shape)
    return torch.cat(ys, dim=1), states
