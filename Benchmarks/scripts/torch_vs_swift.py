"""Per-step speed of the same model in the PyTorch reference and in the Swift engine, one thread each.

    python Benchmarks/scripts/torch_vs_swift.py --model Resources/models/NAME [--json OUT.json]

PyTorch: `Encoder.step_frame` (the reference's recurrent mode) over the log-mel frames of the bundled
bench recording, torch.set_num_threads(1), no autograd. Swift: the `multistream` benchmark's
single-stream `step` figure (one thread, release build; build it with
`swift build -c release --product multistream`), with float32 weights (the same logits as PyTorch
to 1e-5, ShippedModelTests) and with int8 weights (the command line's default; same best token on
every frame of the test utterance, ShippedModelTests). All figures are µs per 10 ms feature frame.
"""

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Training"))
from ssmspeech_ref.encoder import Encoder, EncoderConfig  # noqa: E402
from ssmspeech_ref.features import log_mel  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--frames", type=int, default=1500)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    model_dir = Path(args.model)
    enc = Encoder(EncoderConfig.load(model_dir / "config.json"))
    enc.load_state_dict(load_file(str(model_dir / "model.safetensors")))
    enc.eval()
    x, sr = sf.read(ROOT / "Resources" / "bench" / "bench.wav", dtype="float32")
    feats = log_mel(torch.from_numpy(x).double()).float()[: args.frames]  # (T, F)
    with torch.no_grad():
        enc.init_state(1)
        for t in range(50):
            enc.step_frame(feats[t])
        enc.init_state(1)
        t0 = time.perf_counter()
        for t in range(feats.shape[0]):
            enc.step_frame(feats[t])
        torch_us = (time.perf_counter() - t0) / feats.shape[0] * 1e6
    swift_us = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("float32", "int8"):
            out = Path(tmp) / f"ms-{precision}.csv"
            subprocess.run([str(ROOT / ".build" / "release" / "multistream"), "--model", str(model_dir), "--precision", precision,
                            "--streams", "1", "--out", str(out)], check=True, capture_output=True)
            swift_us[precision] = float(next(r for r in csv.DictReader(open(out)) if r["streams"] == "1")["separate_us_per_frame"])
    result = {"model": model_dir.name, "torch_us_per_frame": round(torch_us, 1),
              "swift_float32_us_per_frame": round(swift_us["float32"], 1), "speedup_float32": round(torch_us / swift_us["float32"], 1),
              "swift_int8_us_per_frame": round(swift_us["int8"], 1), "speedup_int8": round(torch_us / swift_us["int8"], 1)}
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
