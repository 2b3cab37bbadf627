"""Soak test of `ssmspeech stream`: a long stream through stdin, RSS sampled every minute of audio.

    python Benchmarks/scripts/stream_soak.py --minutes 60 [--model PATH] [--binary .build/release/ssmspeech]

Builds MINUTES of audio from the bundled bench recording (repeated, with random pauses of 0.2-1.5 s),
writes it to a temporary WAV, transcribes it with `transcribe`, then streams the same bytes into
`stream --json` in random-sized pieces (1 byte to 64 KiB) with occasional pauses, sampling the
stream process's resident memory (VmRSS) each time another minute of audio has been written.
Prints one JSON object: the RSS series (MiB), peak (VmHWM), growth after the first minute, and
whether the joined finals equal the `transcribe` text.
"""

import argparse
import json
import os
import random
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]


def proc_status(pid: int, key: str) -> float:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except FileNotFoundError:
        pass
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--model", default=None)
    ap.add_argument("--binary", default=str(ROOT / ".build" / "release" / "ssmspeech"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--extra", nargs="*", default=[], help="extra flags for both commands (e.g. --decoder greedy)")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    speech, sr = sf.read(ROOT / "Resources" / "bench" / "bench.wav", dtype="int16")
    parts, total = [], 0
    target = int(args.minutes * 60 * sr)
    while total < target:
        gap = np.zeros(int(rng.uniform(0.2, 1.5) * sr), dtype=np.int16)
        parts += [speech, gap]
        total += len(speech) + len(gap)
    audio = np.concatenate(parts)[:target]
    model = ["--model", args.model] if args.model else []
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "soak.wav"
        sf.write(wav, audio, sr, subtype="PCM_16")
        data = wav.read_bytes()
        t0 = time.time()
        ref = subprocess.run([args.binary, "transcribe", *model, *args.extra, str(wav)], capture_output=True, text=True, check=True)
        transcribe_s = time.time() - t0

        p = subprocess.Popen([args.binary, "stream", *model, *args.extra, "--json"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(p.stdout.read().decode().splitlines()))
        reader.start()
        series = []
        bytes_per_minute = 60 * sr * 2
        header = 44
        off, next_mark = 0, header + bytes_per_minute
        t0 = time.time()
        while off < len(data):
            n = min(len(data) - off, rng.choice([1, rng.randint(2, 512), rng.randint(512, 65536)]))
            p.stdin.write(data[off:off + n])
            p.stdin.flush()
            off += n
            if rng.random() < 0.002:
                time.sleep(rng.uniform(0, 0.05))
            if off >= next_mark:
                series.append(round(proc_status(p.pid, "VmRSS"), 2))
                next_mark += bytes_per_minute
        peak = proc_status(p.pid, "VmHWM")
        p.stdin.close()
        reader.join()
        err = p.stderr.read().decode()
        p.wait()
        stream_s = time.time() - t0
    finals = [json.loads(l) for l in lines if l.startswith("{") and '"final"' in l]
    text = " ".join(f["text"] for f in finals)
    out = {
        "minutes": args.minutes, "rss_mib_per_minute": series, "peak_rss_mib": round(peak, 2),
        "growth_after_first_minute_mib": round(max(series[1:] or series) - series[0], 2) if series else None,
        "finals": len(finals), "stream_equals_transcribe": text == ref.stdout.strip(),
        "stream_wall_s": round(stream_s, 1), "transcribe_wall_s": round(transcribe_s, 1), "exit": p.returncode,
        "stderr": err.strip()[-300:],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
