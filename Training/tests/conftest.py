import sys
from pathlib import Path

import torch

TRAINING = Path(__file__).resolve().parents[1]
if str(TRAINING) not in sys.path:
    sys.path.insert(0, str(TRAINING))

# Small tensors: one thread avoids thread-pool overhead on the shared 2-core machine.
torch.set_num_threads(1)
