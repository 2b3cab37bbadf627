"""Plots Benchmarks/results/scaling.csv (from `swift run -c release scaling`) to Docs/scaling.png.

    python Benchmarks/scripts/plot_scaling.py [--csv Benchmarks/results/scaling.csv] [--out Docs/scaling.png]

Two panels against stream length (log-log): per-step compute time and recurrent state memory, for
causal attention with a KV cache, S4D, Mamba, Mamba-2 and S5 at the same width.
"""

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", default=str(ROOT / "Benchmarks" / "results" / "scaling.csv"))
    ap.add_argument("--out", default=str(ROOT / "Docs" / "scaling.png"))
    args = ap.parse_args()
    rows = list(csv.DictReader(open(args.csv)))
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for layer, style in [("attention", "o-"), ("s4d", "s-"), ("mamba", "^-"), ("mamba2", "v-"), ("s5", "D-"), ("window-attn", "x-")]:
        r = [x for x in rows if x["layer"] == layer]
        secs = [float(x["seconds"]) for x in r]
        a.plot(secs, [float(x["step_us_median"]) for x in r], style, label=layer)
        b.plot(secs, [int(x["state_bytes"]) / 2**20 for x in r], style, label=layer)
    for ax, title, unit in [(a, "compute per 30 ms step", "µs per step"), (b, "state per stream", "MiB")]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("stream length (s)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("d_model 256, one thread: attention grows with the stream, SSMs stay flat")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
