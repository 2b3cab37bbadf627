#!/bin/bash
# The mixer comparison (Training/tools/train_compare.py) on a borrowed GPU machine in one call: S4D,
# Mamba, Mamba-2, S5 and the Mamba/attention hybrid at about the same parameter count (3.0-3.3 M),
# trained side by side on one identical stream of batches. Run from the repository root there, e.g.
#     MIN=3.5 LIMIT=300 bash Training/tools/device_compare.sh
# Reads PACK (default .gpu), packed by Training/tools/pack_for_device.py: data.zip, init/ (the exported
# model whose non-mixer weights every model starts from; fp16 is fine), whl/ (soundfile, cffi, pycparser
# wheels). Writes $OUT/compare.zip, holding <model>/{model.safetensors,config.json,log.jsonl} and
# compare.json (rewritten every 30 s and at the end, so a call cut short still brings back the last
# save; one zip, because a call brings back only a handful of files), and $OUT/train.log.
# The same command trains on a CPU with fewer --workers and a longer --minutes (see Training/README).
set -uo pipefail
T0=$(date +%s)
PACK=${PACK:-.gpu}; MIN=${MIN:-3.5}; WORKERS=${WORKERS:-14}; LIMIT=${LIMIT:-300}
source "$(dirname "$0")/device_setup.sh"   # wheels, data, threads, `manifests`
echo "setup $(( $(date +%s) - T0 )) s"
# The models go to /tmp and come back as one zip: a call returns only a handful of files.
left=$(( LIMIT - ($(date +%s) - T0) )); [ "$left" -ge 1 ] || left=1   # (timeout 0 would mean no limit)
timeout "$left" python3 Training/tools/train_compare.py --out /tmp/compare \
  --zip "$OUT/compare.zip" --minutes "$MIN" --workers "$WORKERS" --save-seconds 30 --transplant "$PACK/init" \
  --model "mamba=--mixer mamba --d-state 8 --expand 1 --dt-rank 16" \
  --model "s4d=--mixer s4d --d-state 128" \
  --model "mamba2=--mixer mamba2 --d-state 64 --expand 1 --headdim 32" \
  --model "s5=--mixer s5 --d-state 192 --blocks 4" \
  --model "hybrid=--mixer hybrid --d-state 8 --expand 1 --dt-rank 16 --attn-every 3 --attn-heads 4 --attn-window 64" \
  -- "${manifests[@]}" --lr 2e-3 --ssm-lr 1e-3 --warmup 50 --aug 0.8 --augmenter recipe \
  --batch-seconds 480 --max-batch 192 --d-model 256 --n-layers 6 --ffn-mult 2 --norm layernorm --strides 3 1 \
  > "$OUT/train.log" 2>&1
echo "train rc=$? after $(( $(date +%s) - T0 )) s"; tail -4 "$OUT/train.log"
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader 2>/dev/null
echo "total $(( $(date +%s) - T0 )) s"
