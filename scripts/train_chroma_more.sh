#!/usr/bin/env bash
# Issue 14, session 24: the packaged ctc-chroma (stage ctc3 of scripts/train_piano_ft.sh) trained
# on with the renders of scripts/train_multipitch_more.sh (480 new ensemble renders, 538 ASAP
# performances, none of the piano validation set's pieces): frame-wise CE along the top voice's
# onset path on their note labels, then CTC on theme-like excerpts of their labels' top voice.
#
#   bash scripts/train_chroma_more.sh [WORKDIR] [RUNDIR]
#
# WORKDIR: train_multipitch_more.sh's (renders, mix-bce.csv, HCQT cache); RUNDIR (committed) gets
# the models, .last.pt files and logs, so a cut-off run continues with the same command. A stage's
# time limit counts its whole run: CTC_MINUTES=40 gives a resumed CTC stage 25 more minutes than
# session 24's 15 (its validation loss was still falling when they ran out).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${TMPDIR:-/tmp}/chromatool-mp-more}
RUNS=${2:-runs/chroma-more}
CT=${CHROMATOOL:-.venv/bin/chromatool}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$RUNS"
for set in ens asap; do
  [ -f "$WORK/$set-themes/ctc.csv" ] || "$PY" scripts/label_excerpts.py "$WORK/$set/bce.csv" "$WORK/$set-themes" --per-recording 2
done
"$PY" scripts/mix_manifests.py "$WORK/mix-ctc.csv" "$WORK/ens-themes/ctc.csv" "$WORK/asap-themes/ctc.csv:1:prefix=asap"
resume() { [ -f "$RUNS/$1.last.pt" ] && echo --resume || true; }
COMMON="--model-setting channels=32,16,16,16 --seed 0 --threads 2 --cache $WORK/cache --steps-per-epoch 100 --patience 3"
"$CT" train --loss ce --init chromatool/weights/ctc-chroma.pt --data "$WORK/mix-bce.csv" -o "$RUNS/ce.pt" $COMMON \
    --lr 3e-4 --max-halvings 2 --max-minutes "${CE_MINUTES:-25}" $(resume ce)
"$CT" train --loss ctc --init "$RUNS/ce.pt" --data "$WORK/mix-ctc.csv" -o "$RUNS/ctc.pt" $COMMON \
    --lr 1e-4 --max-halvings 1 --max-minutes "${CTC_MINUTES:-15}" $(resume ctc)
