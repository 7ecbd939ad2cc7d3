#!/usr/bin/env bash
# Issue 14, session 28: the packaged ctc-chroma trained on with CTC on renders with vibrato.
# On the Monteverdi retrieval renders with vibrato (`dataset --vibrato 1`, the same 24 pieces
# otherwise) the packaged model falls from MRR 0.709 to 0.674 while the authors' weights,
# trained on real recordings, rise from 0.602 to 0.632: the packaged model learnt from straight
# soundfont tones. Weak pairs: the top-voice excerpts (scripts/label_excerpts.py) of stage 9's
# 200 ensemble renders (scripts/train_multipitch_vibrato.sh; 70 % with vibrato), listed twice,
# and the right-hand skyline excerpts of 100 human piano performances (seed 32, none of the
# piano validation set's pieces), so that piano is not forgotten.
#
#   bash scripts/train_chroma_vibrato.sh [WORKDIR] [RUNDIR]
#
# WORKDIR: train_multipitch_vibrato.sh's (its renders and HCQT cache; made here when missing);
# RUNDIR (committed) the model, .last.pt and log, so a cut-off run continues with the same
# command. Then both Monteverdi sets and the piano set, the packaged model beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${TMPDIR:-/tmp}/chromatool-mp-vibrato-train}
RUNS=${2:-runs/chroma-vibrato}
CT=${CHROMATOOL:-.venv/bin/chromatool}
PY=${PYTHON:-.venv/bin/python}
PIANO_VALID=${PIANO_VALID:-${TMPDIR:-/tmp}/chromatool-mp-piano}  # benchmarks/deep_retrieval.py --asap's set
VALID=${VALID:-${TMPDIR:-/tmp}/chromatool-monteverdi}
mkdir -p "$RUNS"
"$CT" dataset "$PIANO_VALID" --asap ../shared/data/asap --pieces 30 --seed 12 --jobs 2 --skip-existing
"$CT" dataset "$WORK/ens" --composers bach,palestrina,handel,corelli,josquin,cpebach,trecento,ciconia,lusitano \
    --pieces 200 --seed 31 --max-seconds 90 --excerpts 0 --vibrato 0.7 --jobs 2 --skip-existing
[ -f "$WORK/ens-themes/ctc.csv" ] || "$PY" scripts/label_excerpts.py "$WORK/ens/bce.csv" "$WORK/ens-themes" --per-recording 4
"$CT" dataset "$WORK/asap-themes" --asap ../shared/data/asap --pieces 100 --seed 32 --max-seconds 150 --excerpts 4 \
    --exclude "$PIANO_VALID/bce.csv" --jobs 2 --skip-existing
"$PY" scripts/mix_manifests.py "$WORK/mix-ctc.csv" "$WORK/ens-themes/ctc.csv:2" "$WORK/asap-themes/ctc.csv:1:prefix=asap"
resume() { [ -f "$RUNS/$1.last.pt" ] && echo --resume || true; }
"$CT" train --loss ctc --init chromatool/weights/ctc-chroma.pt --data "$WORK/mix-ctc.csv" -o "$RUNS/ctc.pt" \
    --model-setting channels=32,16,16,16 --seed 0 --threads 2 --cache "$WORK/cache" --steps-per-epoch 50 \
    --patience 2 --lr 1e-4 --max-halvings 1 --max-minutes "${CTC_MINUTES:-40}" $(resume ctc)
"$CT" dataset "$VALID" --composers monteverdi --pieces 24 --seed 2 --jobs 2 --skip-existing
"$CT" dataset "$VALID-vibrato" --composers monteverdi --pieces 24 --seed 2 --vibrato 1 --jobs 2 --skip-existing
for set in "$VALID" "$VALID-vibrato"; do
  "$PY" benchmarks/deep_retrieval.py "$set" --max-docs 12 --models-only --model chromatool/weights/ctc-chroma.pt --model "$RUNS/ctc.pt"
done
"$PY" benchmarks/deep_retrieval.py "$PIANO_VALID" --asap --models-only --model chromatool/weights/ctc-chroma.pt --model "$RUNS/ctc.pt"
