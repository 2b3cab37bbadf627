#!/bin/bash
# The mixer comparison at an equal CPU budget: S4D, Mamba, Mamba-2, S5 and the Mamba/attention hybrid
# (3.0-3.3 M parameters each, the sizes of Training/tools/device_compare.sh) trained at the same time,
# one process each, one thread each, no data-loading workers, for the same wall time. Running together
# they share the cores alike, so each gets the same CPU time (printed at the end, from /proc) whatever
# else the machine does; a mixer that is slower per step simply takes fewer steps.
#     MIN=30 OUT=Training/runs/cpu-compare bash Training/tools/cpu_compare.sh
# Every model starts from the non-mixer weights of Resources/models/mamba-30ms (--transplant) with
# fresh mixers, on the same batches in the same order. Results: $OUT/<model>.run/<model>/{model.safetensors,
# config.json,log.jsonl}, $OUT/<model>.run/compare.json, the console output $OUT/<model>.log, and
# $OUT/cpu_seconds.txt (CPU seconds and exit status of each run).
set -uo pipefail
cd "$(dirname "$0")/../.."
MIN=${MIN:-30}; OUT=${OUT:-Training/runs/cpu-compare}
PY=${PY:-.venv/bin/python}
M=Training/data/manifests
mkdir -p "$OUT"
declare -A FLAGS=(
  [mamba]="--mixer mamba --d-state 8 --expand 1 --dt-rank 16"
  [s4d]="--mixer s4d --d-state 128"
  [mamba2]="--mixer mamba2 --d-state 64 --expand 1 --headdim 32"
  [s5]="--mixer s5 --d-state 192 --blocks 4"
  [hybrid]="--mixer hybrid --d-state 8 --expand 1 --dt-rank 16 --attn-every 3 --attn-heads 4 --attn-window 64"
)
pids=()
for name in mamba s4d mamba2 s5 hybrid; do
  OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1 "$PY" Training/tools/train_compare.py --out "$OUT/$name.run" --minutes "$MIN" \
    --workers 0 --save-seconds 300 --transplant Resources/models/mamba-30ms --model "$name=${FLAGS[$name]}" \
    -- --train $M/train_natural.jsonl --train $M/train.jsonl --train $M/train_kokoro.jsonl \
    --lr 2e-3 --ssm-lr 1e-3 --warmup 20 --aug 0.8 --augmenter recipe --batch-seconds 160 --max-batch 64 \
    --d-model 256 --n-layers 6 --ffn-mult 2 --norm layernorm --strides 3 1 --threads 1 > "$OUT/$name.log" 2>&1 &
  pids+=($!)
done
: > "$OUT/cpu_seconds.txt"
tck=$(getconf CLK_TCK)
while true; do  # record each process's CPU time (user + system) while it runs; the last value stays
  alive=0
  for i in "${!pids[@]}"; do
    p=${pids[$i]}
    if [ -r "/proc/$p/stat" ]; then
      alive=1
      t=$(awk -v k="$tck" '{print ($14 + $15) / k}' "/proc/$p/stat")
      echo "$i $t" >> "$OUT/.cpu_samples"
    fi
  done
  [ $alive = 1 ] || break
  sleep 2
done
names=(mamba s4d mamba2 s5 hybrid)
for i in "${!names[@]}"; do
  wait "${pids[$i]}"; rc=$?
  echo "${names[$i]} $(awk -v i="$i" '$1 == i {t = $2} END {print t}' "$OUT/.cpu_samples") s (exit $rc)" >> "$OUT/cpu_seconds.txt"
done
rm -f "$OUT/.cpu_samples"
cat "$OUT/cpu_seconds.txt"
