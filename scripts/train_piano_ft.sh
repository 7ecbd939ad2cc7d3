#!/usr/bin/env bash
# Issue 14, session 16: the packaged ctc-chroma fine-tuned on ensemble renders *and* human piano
# performances, so that it keeps its ensemble figures and gains on piano.
#
#   bash scripts/train_piano_ft.sh [CV_WORKDIR] [WORKDIR] [RUNDIR]
#
# CV_WORKDIR holds the cross-version renders of scripts/train_cross_version.sh (PIECES=480;
# bach, palestrina, handel, corelli, josquin; three versions of each piece, 90 s): one version
# of each piece joins the mix. WORKDIR gets 120 ASAP performances (none of the piano
# validation set's pieces: benchmarks/deep_retrieval.py --asap) and the mixed manifests;
# RUNDIR (committed) the models, .last.pt files and logs. Stages, each from the last:
#   ce   frame-wise CE along the top voice's onset path, lr 3e-4, 50 min ........ 2 threads
#   ctc  CTC on the weak theme pairs of both sets, lr 1e-4, 25 min (early stop at 17) 2 threads
#        → chromatool/weights/ctc-chroma.pt in sessions 16-19
#   ce2, ctc2 (session 17), ce3, ctc3 (session 19: 360 performances) below
#        ctc3 → chromatool/weights/ctc-chroma.pt since session 20 (the piano benchmark's
#        queries corrected: ctc3 is above ctc on both validation sets)
set -euo pipefail
cd "$(dirname "$0")/.."
CV=${1:-${TMPDIR:-/tmp}/chromatool-cross-version}
WORK=${2:-${TMPDIR:-/tmp}/chromatool-piano-ft}
RUNS=${3:-runs/piano-ft}
CT=${CHROMATOOL:-.venv/bin/chromatool}
PY=${PYTHON:-.venv/bin/python}
PIANO_VALID=${PIANO_VALID:-${TMPDIR:-/tmp}/chromatool-mp-piano}  # dataset --asap --pieces 30 --seed 12
mkdir -p "$RUNS"
"$CT" dataset "$PIANO_VALID" --asap ../shared/data/asap --pieces 30 --seed 12 --jobs 2 --skip-existing
"$CT" dataset "$WORK/asap" --asap ../shared/data/asap --pieces 120 --seed 13 --max-seconds 150 \
    --exclude "$PIANO_VALID/bce.csv" --jobs 2 --skip-existing
"$PY" scripts/mix_manifests.py "$WORK/mix-bce.csv" "$CV/train/bce.csv:1:one-per-piece" "$WORK/asap/bce.csv:2:prefix=asap"
"$PY" scripts/label_excerpts.py "$CV/train/bce.csv" "$WORK/ensemble-themes" --every 3
"$PY" scripts/mix_manifests.py "$WORK/mix-ctc.csv" "$WORK/ensemble-themes/ctc.csv" "$WORK/asap/ctc.csv:2:prefix=asap"
resume() { [ -f "$RUNS/$1.last.pt" ] && echo --resume || true; }
SMALL="--model-setting channels=32,16,16,16 --seed 0 --threads 2 --cache $CV/cache"
# ce_stage NAME INIT DATA MINUTES / ctc_stage NAME INIT DATA: one resumable stage into $RUNS/NAME.pt
ce_stage() {
  "$CT" train --loss ce --init "$2" --data "$3" -o "$RUNS/$1.pt" $SMALL \
      --lr 3e-4 --steps-per-epoch 100 --patience 3 --max-halvings 2 --max-minutes "$4" $(resume "$1")
}
ctc_stage() {
  "$CT" train --loss ctc --init "$2" --data "$3" -o "$RUNS/$1.pt" $SMALL \
      --lr 1e-4 --steps-per-epoch 50 --patience 2 --max-halvings 1 --max-minutes 25 $(resume "$1")
}
# INIT: the model stage 5 starts from (the packaged file of sessions 1-15: stages 1-4 of
# scripts/train_default_models.sh; scripts/reproduce_models.sh gives it)
ce_stage ce "${INIT:-chromatool/weights/ctc-chroma.pt}" "$WORK/mix-bce.csv" 50
ctc_stage ctc "$RUNS/ce.pt" "$WORK/mix-ctc.csv"
# sessions 16-17: CE again from ce, the same data and split (16 epochs, 68 min), then CTC from it
ce_stage ce2 "$RUNS/ce.pt" "$WORK/mix-bce.csv" 68
ctc_stage ctc2 "$RUNS/ce2.pt" "$WORK/mix-ctc.csv"
# session 19: three times the performances (seed 13's first 120 are the set above), CE from ce2
# (52 min, best at epoch 2), then CTC from it
"$CT" dataset "$WORK/asap360" --asap ../shared/data/asap --pieces 360 --seed 13 --max-seconds 150 \
    --exclude "$PIANO_VALID/bce.csv" --jobs 2 --skip-existing
"$PY" scripts/mix_manifests.py "$WORK/mix360-bce.csv" "$CV/train/bce.csv:1:one-per-piece" "$WORK/asap360/bce.csv:1:prefix=asap"
"$PY" scripts/mix_manifests.py "$WORK/mix360-ctc.csv" "$WORK/ensemble-themes/ctc.csv" "$WORK/asap360/ctc.csv:1:prefix=asap"
ce_stage ce3 "$RUNS/ce2.pt" "$WORK/mix360-bce.csv" 50
ctc_stage ctc3 "$RUNS/ce3.pt" "$WORK/mix360-ctc.csv"
# session 20: CTC again from ctc3, then from ctc4 (the validation loss was still falling when each
# stage's 25 minutes ran out)
ctc_stage ctc4 "$RUNS/ctc3.pt" "$WORK/mix360-ctc.csv"
ctc_stage ctc5 "$RUNS/ctc4.pt" "$WORK/mix360-ctc.csv"
# validation: Monteverdi renders (chromatool dataset VALID --composers monteverdi --pieces 24 --seed 2)
# and the ASAP piano set, the packaged model beside each stage
VALID=${VALID:-${TMPDIR:-/tmp}/chromatool-monteverdi}
"$CT" dataset "$VALID" --composers monteverdi --pieces 24 --seed 2 --jobs 2 --skip-existing
for stage in ce ctc ce2 ctc2 ctc3 ctc4 ctc5; do
  "$PY" benchmarks/deep_retrieval.py "$PIANO_VALID" --asap --models-only --model chromatool/weights/ctc-chroma.pt --model "$RUNS/$stage.pt"
  "$PY" benchmarks/deep_retrieval.py "$VALID" --max-docs 12 --models-only --model chromatool/weights/ctc-chroma.pt --model "$RUNS/$stage.pt"
done
