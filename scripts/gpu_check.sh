#!/usr/bin/env bash
# The checks a GPU machine is for, in one run: the test suite with CUDA visible (the CLI's
# --device auto then computes on the GPU), training steps per second, `extract` end to end, and a
# short multi-pitch training run with its extraction, all on DEVICE (default cuda).
#
#   bash scripts/gpu_check.sh DATA OUT
#
# DATA holds op67.wav (a recording to loop) and bce.csv (a small strongly aligned manifest, as
# `chromatool dataset` writes); OUT receives the log, the trained model and its posteriors.
set -uo pipefail
DATA=${1:?DATA folder}; OUT=${2:?OUT folder}; DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
section() { printf '\n## %s  (%s)\n' "$1" "$(date +%T)"; }

section "environment"
$PY -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  section "tests"
  timeout "${TEST_SECONDS:-240}" $PY -m pytest -q -x -p no:cacheprovider -n "${TEST_WORKERS:-8}" tests
fi
section "training steps"
$PY benchmarks/train_step.py --device "$DEVICE" --batch "${BATCH:-64}" --repeats 5
section "extract, 10 minutes of audio"
$PY benchmarks/extract.py --device "$DEVICE" --minutes "${MINUTES:-10}" --clip "$DATA/op67.wav"
section "train multipitch (Weiss size, bfloat16) on $DATA/bce.csv"
$PY -m chromatool train --device "$DEVICE" --loss bce --arch multipitch --data "$DATA/bce.csv" \
    --precision bfloat16 --model-setting prefilter_kernel=15,15 --model-setting time_kernel=75 \
    --steps-per-epoch 100 --max-minutes "${TRAIN_MINUTES:-1}" --cache "$OUT/cache" -o "$OUT/mp.pt" --overwrite
section "extract pitch with it"
$PY -m chromatool extract "$DATA/op67.wav" --kind pitch --model "$OUT/mp.pt" -o "$OUT/op67_pitch.npy" \
    --device "$DEVICE" --overwrite && $PY -c "import numpy as np, sys; a = np.load(sys.argv[1]); print('posteriors', a.shape, 'max', a.max())" "$OUT/op67_pitch.npy"
rm -rf "$OUT/cache"
section "done"
