#!/usr/bin/env bash
# Issue 14, session 22: the multipitch model reading the log-HCQT as it is (`--input-norm none`)
# instead of each frame l2-normalised. Per-frame normalisation makes every frame equally loud, so
# the room noise of a real recording's pauses looks like notes (the MAESTRO clip's first second
# fired B1 and G1 at 0.5); without it a quiet frame stays quiet.
#
#   bash scripts/train_multipitch_nonorm.sh [CV_WORKDIR] [WORKDIR] [RUNDIR]
#
# NORM, LR, MINUTES, INIT (and INIT_THRESHOLD, its threshold), MODEL_SETTINGS (--model-setting
# options), MIX, CACHE and EXCLUDE (the training performances the benchmark's piano set leaves
# out) override the stage's settings
# (scripts/train_multipitch_both.sh: stage 6, the same recipe on both views;
# scripts/train_multipitch_more.sh: stage 7, on more data).
#
# Stage 5 of the packaged multipitch (stages 1-3: scripts/train_default_models.sh, stage 4:
# scripts/train_multipitch_ft.sh, whose model it starts from): the same mix (one rendered version
# of each of 480 ensemble pieces and 359 human piano performances, scripts/train_piano_ft.sh's
# mix360 manifest), 80 minutes, bfloat16. RUNDIR (committed) gets the model, its .last.pt and
# log, so a cut-off run continues with the same command. Then the threshold is chosen on the
# Beethoven tuning set and the model is measured beside the packaged one and basic-pitch
# (benchmarks/multipitch.py); it replaces the packaged weights only where that says so.
set -euo pipefail
cd "$(dirname "$0")/.."
CV=${1:-${TMPDIR:-/tmp}/chromatool-cross-version}
WORK=${2:-${TMPDIR:-/tmp}/chromatool-piano-ft}
RUNS=${3:-runs/mp-nonorm}
MIX=${MIX:-$WORK/mix360-bce.csv}
CACHE=${CACHE:-$CV/cache}
CT=${CHROMATOOL:-.venv/bin/chromatool}
PY=${PYTHON:-.venv/bin/python}
TUNE=${TUNE:-${TMPDIR:-/tmp}/chromatool-mp-tune}
INIT=${INIT:-runs/mp-ft/mp.pt}
INIT_THRESHOLD=${INIT_THRESHOLD:-0.45}
mkdir -p "$RUNS"
resume() { [ -f "$RUNS/$1.last.pt" ] && echo --resume || true; }
"$CT" train --loss bce --arch multipitch --init "$INIT" --input-norm "${NORM:-none}" --data "$MIX" \
    -o "$RUNS/mp.pt" --lr "${LR:-5e-4}" --steps-per-epoch 100 --patience 3 --max-halvings 2 \
    --max-minutes "${MINUTES:-80}" --seed 0 --threads 2 --precision bfloat16 --cache "$CACHE" ${MODEL_SETTINGS:-} $(resume mp)
"$CT" dataset "$TUNE" --composers beethoven --pieces 8 --seed 5 --excerpts 0 --jobs 2 --skip-existing
"$CT" evaluate pitch "$TUNE/bce.csv" --model "$RUNS/mp.pt" $(printf -- "--threshold %s " 0.3 0.35 0.4 0.45 0.5 0.55 0.6)
"$PY" benchmarks/multipitch.py --exclude "${EXCLUDE:-$WORK/asap360/bce.csv}" --model "$INIT@$INIT_THRESHOLD" \
    --model "$RUNS/mp.pt@${THRESHOLD:-0.4}" --per-file
