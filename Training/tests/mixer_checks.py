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


def step_through(m, u: torch.Tensor, *states, keep_time_axis: bool = False, in_place: bool = False):
    """Runs `m.step(frame, *states) -> (y, *states)` frame by frame over `u (B, L, ...)`, starting from
    `states`. A frame is `u[:, t]`, or `u[:, t:t+1]` with `keep_time_axis` (Mamba's and Mamba-2's `step`
    take (B, 1, D)); with `in_place` each step must hand back the very tensors it was given. Returns
    (the outputs joined along time, *the final states)."""
    outs = []
    for t in range(u.shape[1]):
        y, *new = m.step(u[:, t:t + 1] if keep_time_axis else u[:, t], *states)
        if in_place:
            assert all(a is b for a, b in zip(new, states)), "step did not update its state in place"
        outs.append(y)
        states = tuple(new)
    y = torch.cat(outs, dim=1) if keep_time_axis else torch.stack(outs, dim=1)
    return (y, *states)
