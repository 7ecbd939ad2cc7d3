#!/usr/bin/env bash
# Issue 14, session 29: scripts/train_chroma_vibrato.sh's stage again, with plain ensemble
# renders in the mix. That stage (top-voice excerpts of 200 ensemble renders, 70 % with
# vibrato, and 100 human piano performances' skyline excerpts) lifted the Monteverdi set with
# vibrato (0.674 -> 0.702) and lowered the plain one (0.709 -> 0.685). Here the same excerpts
# sit beside those of 120 new ensemble renders without vibrato (other pieces: --seed 33), each
# set listed once (a piece in both ensemble sets is one group: the validation split holds it out
# whole), CTC from the packaged model again.
#
#   bash scripts/train_chroma_vibrato_mix.sh [WORKDIR] [RUNDIR]
#   INIT=runs/paper-size/ctc73.pt SETTING=channels=64,32,32,32 \
#       bash scripts/train_chroma_vibrato_mix.sh "" runs/ctc73-mix    # session 30: the 73k network
#
# WORKDIR: train_chroma_vibrato.sh's (its renders, excerpts and HCQT cache; made there); RUNDIR
# (committed) the model, .last.pt and log, so a cut-off run continues with the same command.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${TMPDIR:-/tmp}/chromatool-mp-vibrato-train}
RUNS=${2:-runs/chroma-vibrato-mix}
INIT=${INIT:-chromatool/weights/ctc-chroma.pt}
SETTING=${SETTING:-channels=32,16,16,16}
CT=${CHROMATOOL:-.venv/bin/chromatool}
PY=${PYTHON:-.venv/bin/python}
PIANO_VALID=${PIANO_VALID:-${TMPDIR:-/tmp}/chromatool-mp-piano}
VALID=${VALID:-${TMPDIR:-/tmp}/chromatool-monteverdi}
mkdir -p "$RUNS"
[ -f "$WORK/ens-themes/ctc.csv" ] && [ -f "$WORK/asap-themes/ctc.csv" ] || bash scripts/train_chroma_vibrato.sh "$WORK"
"$CT" dataset "$WORK/plain" --composers bach,palestrina,handel,corelli,josquin,cpebach,trecento,ciconia,lusitano \
    --pieces "${PIECES:-120}" --seed 33 --max-seconds 90 --excerpts 0 --vibrato 0 --jobs 2 --skip-existing
[ -f "$WORK/plain-themes/ctc.csv" ] || "$PY" scripts/label_excerpts.py "$WORK/plain/bce.csv" "$WORK/plain-themes" --per-recording 4
"$PY" scripts/mix_manifests.py "$WORK/mix2-ctc.csv" "$WORK/ens-themes/ctc.csv:1" "$WORK/plain-themes/ctc.csv:1" \
    "$WORK/asap-themes/ctc.csv:1:prefix=asap"
resume() { [ -f "$RUNS/$1.last.pt" ] && echo --resume || true; }
"$CT" train --loss ctc --init "$INIT" --data "$WORK/mix2-ctc.csv" -o "$RUNS/ctc.pt" \
    --model-setting "$SETTING" --seed 0 --threads 2 --cache "$WORK/cache" --steps-per-epoch 50 \
    --patience 2 --lr 1e-4 --max-halvings 1 --max-minutes "${CTC_MINUTES:-30}" $(resume ctc)
for set in "$VALID" "$VALID-vibrato"; do
  "$PY" benchmarks/deep_retrieval.py "$set" --max-docs 12 --models-only --model "$INIT" --model "$RUNS/ctc.pt"
done
"$PY" benchmarks/deep_retrieval.py "$PIANO_VALID" --asap --models-only --model "$INIT" --model "$RUNS/ctc.pt"
