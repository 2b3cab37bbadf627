"""tools/train_step_timing.py: seconds per training step of a configuration, on random features."""
import json
import subprocess
import sys
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[1]
FIXTURES = TRAINING.parent / "Tests" / "Fixtures"


def test_times_the_requested_steps_of_a_tiny_model():
    out = subprocess.run([sys.executable, str(TRAINING / "tools" / "train_step_timing.py"),
                          "--config", str(FIXTURES / "encoder_mamba_tiny.json"), "--batch", "2",
                          "--seconds", "0.5", "--steps", "3"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    assert r["batch"] == 2 and r["threads"] == 1
    for key in ("step_s", "step_cpu_s"):
        assert len(r[key]) == 3 and r[key] == sorted(r[key]) and all(t > 0 for t in r[key])
