#!/usr/bin/env bash
# Issue 18, stage 2: the cross-version (CV) and single-version (SV) models of
# scripts/train_cross_version.sh, each fine-tuned on the same renders plus real pianists'
# versions of ASAP pieces (two performances of each piece, rendered with their own timing,
# dynamics and pedal; time maps from the annotated beats), then measured on the held-out
# renders and on ASAP pieces left out of training.
#
# The packaged model (runs/cross-version-v12): stage 1 = scripts/train_cross_version.sh
# (runs/cross-version-v9, CV positives up to 2 s apart), then this script with its defaults
# (CV positives at the same moment, 30 minutes). v6 was FROM=runs/cross-version-v5 with
# MINUTES=15; v11 the same as v12 with POSITIVE_OFFSET=2.
#
#   bash scripts/train_cross_version_mix.sh [WORKDIR] [FROM_RUNDIR] [RUNDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${TMPDIR:-/tmp}/chromatool-cross-version}
FROM=${2:-runs/cross-version-v9}
RUNS=${3:-runs/cross-version-v12}
CT=${CHROMATOOL:-.venv/bin/chromatool}
ASAP=../shared/data/asap
MINUTES=${MINUTES:-30}
POSITIVE_OFFSET=${POSITIVE_OFFSET:-0}  # CV pairs up to this many score seconds apart (v6, v12: 0; v11: 2)
mkdir -p "$RUNS" "$WORK/mix"
"$CT" dataset "$WORK/asap-test" --asap $ASAP --pieces 40 --versions 2 --max-seconds 90 --seed 31 --jobs 2 --skip-existing
"$CT" dataset "$WORK/asap-train" --asap $ASAP --pieces 70 --versions 2 --max-seconds 90 --seed 32 --jobs 2 \
    --exclude "$WORK/asap-test/versions.csv" --skip-existing
{ head -1 "$WORK/train/versions.csv"   # both manifests in one, paths made absolute
  for d in train asap-train; do
    tail -n +2 "$WORK/$d/versions.csv" | awk -F, -v OFS=, -v b="$(cd "$WORK/$d" && pwd)/" \
      '{ $2 = b $2; $3 = b $3; $4 = b $4; print }'
  done
} > "$WORK/mix/versions.csv"
for name in cv sv; do  # one thread each, side by side
  loss=$([ $name = cv ] && echo cross-version || echo single-version)
  offset=""; [ $name = cv ] && offset="--positive-offset $POSITIVE_OFFSET"
  resume="--init $FROM/$name.pt"; [ -f "$RUNS/$name.last.pt" ] && resume="--resume"
  "$CT" train --data "$WORK/mix/versions.csv" --loss $loss --batch-size 32 --steps-per-epoch 40 --lr 5e-4 $offset \
      --max-minutes "$MINUTES" --threads 1 --seed 0 --cache "$WORK/cache" -o "$RUNS/$name.pt" $resume &
done
wait
PY=${PYTHON:-.venv/bin/python}
"$PY" benchmarks/cross_version.py "$WORK/test/versions.csv" --cv "$RUNS/cv.pt" --sv "$RUNS/sv.pt"
"$PY" benchmarks/cross_version.py "$WORK/asap-test/versions.csv" --cv "$RUNS/cv.pt" --sv "$RUNS/sv.pt" --retrieval-only
