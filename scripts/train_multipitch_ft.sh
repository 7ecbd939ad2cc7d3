#!/usr/bin/env bash
# Issue 14, session 20: the packaged multipitch model (20k, ensemble renders only) fine-tuned on
# the mix the deep chroma's stage ce3 trained on — one rendered version of each of 480 ensemble
# pieces and 359 human piano performances (ASAP, with their pedal; none of the piano validation
# set's pieces) — so that it hears pianos as well as ensembles.
#
#   bash scripts/train_multipitch_ft.sh [CV_WORKDIR] [WORKDIR] [RUNDIR]
#
# The mix manifest is scripts/train_piano_ft.sh's WORKDIR/mix360-bce.csv (run that script's data
# steps first: they are resumable); RUNDIR (committed) gets the model, its .last.pt and log, so a
# cut-off run continues with the same command. Then the threshold is chosen on the Beethoven
# tuning set (as for the packaged model: defaults.PITCH_THRESHOLD) and the model is measured
# beside the packaged one and basic-pitch (benchmarks/multipitch.py).
# INIT: the model it starts from (stage 3, the packaged file until session 19; scripts/reproduce_models.sh
# gives train_default_models.sh's).
set -euo pipefail
cd "$(dirname "$0")/.."
CV=${1:-${TMPDIR:-/tmp}/chromatool-cross-version}
WORK=${2:-${TMPDIR:-/tmp}/chromatool-piano-ft}
RUNS=${3:-runs/mp-ft}
CT=${CHROMATOOL:-.venv/bin/chromatool}
PY=${PYTHON:-.venv/bin/python}
TUNE=${TUNE:-${TMPDIR:-/tmp}/chromatool-mp-tune}
mkdir -p "$RUNS"
resume() { [ -f "$RUNS/$1.last.pt" ] && echo --resume || true; }
"$CT" train --loss bce --arch multipitch --init "${INIT:-chromatool/weights/multipitch.pt}" --data "$WORK/mix360-bce.csv" \
    -o "$RUNS/mp.pt" --lr 3e-4 --steps-per-epoch 100 --patience 3 --max-halvings 2 --max-minutes 60 \
    --seed 0 --threads 2 --precision bfloat16 --cache "$CV/cache" $(resume mp)
"$CT" dataset "$TUNE" --composers beethoven --pieces 8 --seed 5 --excerpts 0 --jobs 2 --skip-existing
"$CT" evaluate pitch "$TUNE/bce.csv" --model "$RUNS/mp.pt" $(printf -- "--threshold %s " 0.15 0.2 0.3 0.4 0.5)
"$PY" benchmarks/multipitch.py --exclude "$WORK/asap360/bce.csv" --model multipitch --model "$RUNS/mp.pt" \
    --threshold "${THRESHOLD:-0.2}"
