#!/usr/bin/env bash
# The whole recipe, one command: data → LM → train S4D and Mamba → export → evaluate.
#
#   Training/recipe.sh [HOURS_OF_AUDIO=40] [TRAIN_MINUTES=72]
#
# Everything generated goes to Training/data/ and Training/runs/ (git-ignored); each step resumes.
# The two models train at the same time, one thread each (this machine has two cores).
# On a GPU machine or several: replace `python Training/train.py` by
# `torchrun --nproc_per_node N Training/train.py` and raise --batch-seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
HOURS="${1:-40}"
MINUTES="${2:-72}"
PY="${PYTHON:-.venv/bin/python}"

"$PY" -m Training.data_recipe.make_all --hours "$HOURS" --jobs 2
"$PY" Training/lm/build_arpa.py --text Training/data/text/lm.txt --order 3 --vocab-size 30000 --prune 1 1 \
      --out Training/data/lm/lm3.arpa

M=Training/data/manifests
common=(--train "$M/train.jsonl" --dev "$M/test_synthetic.jsonl" --dev "$M/dev_real.jsonl"
        --d-model 256 --n-layers 6 --ffn-mult 2 --minutes "$MINUTES" --threads 1 --warmup 200 --eval-minutes 20)
"$PY" Training/train.py --run s4d-256 --mixer s4d --d-state 64 "${common[@]}" > Training/runs/s4d-256.out 2>&1 &
"$PY" Training/train.py --run mamba-256 --mixer mamba --d-state 8 --expand 1 --dt-rank 16 "${common[@]}" > Training/runs/mamba-256.out 2>&1 &
wait

"$PY" Training/export_model.py --run s4d-256 --name s4d-256
"$PY" Training/export_model.py --run mamba-256 --name mamba-256
swift build -c release --product ssmspeech
for name in s4d-256 mamba-256; do
  "$PY" Training/evaluate.py --model "Resources/models/$name" --pocketsphinx \
        --manifest "$M/test_synthetic.jsonl" --manifest "$M/test_unseen_voice.jsonl" --manifest "$M/dev_real.jsonl" \
        --json "Training/runs/eval-$name.json"
done
