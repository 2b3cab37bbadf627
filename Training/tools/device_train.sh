#!/bin/bash
# Train the recognizer on a borrowed GPU machine in one call (about 10 minutes), from a folder packed by
# Training/tools/pack_for_device.py. Run from the repository root there, e.g.
#     RUN=gpu-a MIN=8 LIMIT=545 bash Training/tools/device_train.sh
# Reads PACK (default .gpu): data.zip, init/ (an exported model folder to warm-start from; fp16 weights
# are fine), whl/ (wheels of what the machine lacks: soundfile, cffi, pycparser). Writes to $OUT:
# model.safetensors (weights of the last checkpoint), config.json, log.jsonl, train.log.
# The same flags train on a CPU: drop --workers (or give it the cores you can spare).
set -uo pipefail
T0=$(date +%s)
PACK=${PACK:-.gpu}; RUN=${RUN:-gpu-a}; MIN=${MIN:-8}; WORKERS=${WORKERS:-14}; LIMIT=${LIMIT:-545}
source "$(dirname "$0")/device_setup.sh"   # wheels, data, threads, `manifests`
# DataLoader workers hand batches over through /dev/shm; make sure it is not a small container default.
[ "$(id -u)" = 0 ] && [ -n "${REMOUNT_SHM:-}" ] && mount -o remount,size=48G /dev/shm
timeout $(( LIMIT - ($(date +%s) - T0) )) python3 Training/train.py --run-name "$RUN" --runs-dir /tmp/runs \
  --init "$PACK/init" --mixer mamba --d-state 8 --expand 1 --dt-rank 16 --d-model 256 --n-layers 6 --ffn-mult 2 \
  --strides 3 1 --minutes "$MIN" --warmup 40 --lr 1e-3 --ssm-lr 5e-4 --aug 0.8 --augmenter recipe \
  --batch-seconds 480 --max-batch 192 --workers "$WORKERS" --ckpt-minutes 1 ${EXTRA:-} "${manifests[@]}" \
  > "$OUT/train.log" 2>&1
echo "train rc=$? after $(( $(date +%s) - T0 )) s"; tail -3 "$OUT/train.log"
python3 - "$RUN" <<'PY'
import os, sys, torch
from safetensors.torch import save_file
out, run = os.environ["OUT"], sys.argv[1]
ck = torch.load(f"/tmp/runs/{run}/last.pt", map_location="cpu", weights_only=False)
save_file({k: v.contiguous() for k, v in ck["model"].items()}, f"{out}/model.safetensors",
          metadata={"step": str(ck["step"]), "audio_hours_seen": str(ck["audio_hours_seen"])})
print("exported step", ck["step"], "audio hours seen", round(ck["audio_hours_seen"], 1))
PY
cp "/tmp/runs/$RUN/log.jsonl" "/tmp/runs/$RUN/config.json" "$OUT"/ 2>/dev/null
echo "total $(( $(date +%s) - T0 )) s"
