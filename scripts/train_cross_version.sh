#!/usr/bin/env bash
# Issue 18's recipe: the cross-version (CV) embedding and its single-version (SV) baseline,
# trained the same way on the same renders, then measured on composers held out from training.
#
#   bash scripts/train_cross_version.sh [WORKDIR] [RUNDIR]
#
# The renders (deterministic seeds) go to WORKDIR; the models, .last.pt files and logs to
# RUNDIR (committed). Every version of a piece keeps the piece's instrumentation and gets its
# own soundfont, timing, balance, room and noise (chromatool dataset --versions). A CV pair is
# two versions up to POSITIVE_OFFSET score seconds apart (runs/cross-version-v9, stage 1 of the
# packaged model, whose stage 2 is scripts/train_cross_version_mix.sh; v7's CV took the same
# moment: instrument AP 0.353 against 0.385); SV's pairs lie up to 2 s apart in one recording,
# as always.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${TMPDIR:-/tmp}/chromatool-cross-version}
RUNS=${2:-runs/cross-version-v9}
CT=${CHROMATOOL:-.venv/bin/chromatool}
MINUTES=${MINUTES:-40}
PER_RECORDING=${PER_RECORDING:-1}  # anchors per recording in a batch (other times as negatives)
POSITIVE_OFFSET=${POSITIVE_OFFSET:-2}  # CV: a pair's excerpts up to this many score seconds apart
mkdir -p "$RUNS"
"$CT" dataset "$WORK/train" --composers bach,palestrina,handel,corelli,josquin --pieces ${PIECES:-480} \
    --versions 3 --max-seconds 90 --excerpts 0 --seed 21 --jobs 2 --skip-existing
"$CT" dataset "$WORK/test" --composers monteverdi,cpebach,trecento,lusitano,ciconia --pieces 100 \
    --versions 2 --max-seconds 90 --excerpts 0 --seed 22 --jobs 2 --skip-existing
for name in cv sv; do  # one thread each, side by side
  loss=$([ $name = cv ] && echo cross-version || echo single-version)
  offset=""; [ $name = cv ] && offset="--positive-offset $POSITIVE_OFFSET"
  resume=""; [ -f "$RUNS/$name.last.pt" ] && resume="--resume"
  "$CT" train --data "$WORK/train/versions.csv" --loss $loss --batch-size 32 --steps-per-epoch 40 \
      --max-minutes "$MINUTES" --per-recording "$PER_RECORDING" $offset --threads 1 --seed 0 --cache "$WORK/cache" -o "$RUNS/$name.pt" $resume &
done
wait
${PYTHON:-.venv/bin/python} benchmarks/cross_version.py "$WORK/test/versions.csv" --cv "$RUNS/cv.pt" --sv "$RUNS/sv.pt"
