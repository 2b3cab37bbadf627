"""tools/pack_for_device.py: Opus copies of the manifests in one zip that train.py reads back, trimmed to a
byte budget from the last manifest."""
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING / "tools"))
sys.path.insert(0, str(TRAINING))

import pack_for_device  # noqa: E402
from train import load_manifest, read_audio  # noqa: E402


def _manifest(folder: Path, name: str, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(32000) / 16000
    rows = []
    for i in range(n):
        f0 = rng.uniform(120, 260)
        x = (0.3 * np.sin(2 * np.pi * f0 * t) * np.sin(np.pi * t / 2)).astype(np.float32)  # 2 s voiced tone
        path = folder / name / f"u{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x, 16000)
        rows.append({"audio_filepath": f"{name}/u{i}.wav", "text": f"utterance {i}", "duration": 2.0, "voice": "v"})
    m = folder / f"{name}.jsonl"
    m.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return m


def test_round_trip_and_budget(tmp_path):
    a, b = _manifest(tmp_path, "first", 3, 0), _manifest(tmp_path, "second", 4, 1)
    out = tmp_path / "pack"
    summary = pack_for_device.pack([a, b], out, budget_bytes=10 ** 9, jobs=1)
    assert summary["first"]["utterances"] == 3 and summary["second"]["utterances"] == 4
    one = (out / "data" / "audio" / "first" / "v" / "u0.opus").stat().st_size
    assert one < 2 * 16000 * 2 / 10  # at least 10x smaller than 16-bit PCM
    dest = tmp_path / "device"
    zipfile.ZipFile(out / "data.zip").extractall(dest)
    items = load_manifest(dest / "data" / "first.jsonl")
    assert [it["text"] for it in items] == ["utterance 0", "utterance 1", "utterance 2"]
    for it, src in zip(items, sorted((tmp_path / "first").glob("*.wav"))):
        y, x = read_audio(it["audio"]), read_audio(str(src))
        assert len(y) == len(x)
        assert np.corrcoef(x[4000:-4000], y[4000:-4000])[0, 1] > 0.95  # same signal, lossy

    # A budget of about five files: the last manifest gives way first, the first stays whole.
    small = pack_for_device.pack([a, b], tmp_path / "pack2", budget_bytes=int(5.5 * one), jobs=1)
    assert small["first"]["utterances"] == 3
    assert 0 < small["second"]["utterances"] < 4
    names = zipfile.ZipFile(tmp_path / "pack2" / "data.zip").namelist()
    assert sum(n.endswith(".opus") for n in names) == 3 + small["second"]["utterances"]
