#!/usr/bin/env bash
# Issue 14, session 25: the packaged ctc-chroma (stage ctc3 of scripts/train_piano_ft.sh) trained
# on with CTC alone on *fresh renders* of the kind that made it: the ASAP performances rendered
# again with another seed (new soundfonts, rooms, tunings, codecs; every performance whose piece
# is not in the piano validation set), their weak pairs the score's right-hand skyline placed
# through the annotated beats (`dataset --asap --excerpts 4`, as ctc3's), beside the top-voice
# excerpts of session 24's 480 ensemble renders (scripts/train_chroma_more.sh's ens-themes).
# Session 24's CE stage on the performances' own top sounding notes lost on both validation sets;
# ctc4/ctc5 (the same pairs again) were level with ctc3: this asks whether new audio of the same
# music moves it.
#
#   bash scripts/train_chroma_fresh.sh [WORKDIR] [S24_WORKDIR] [RUNDIR]
#
# WORKDIR gets the renders and the mix; S24_WORKDIR is train_multipitch_more.sh's (ensemble
# renders, their themes, the HCQT cache); RUNDIR (committed) the model, .last.pt and log, so a
# cut-off run continues with the same command.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${TMPDIR:-/tmp}/chromatool-chroma-fresh}
S24=${2:-${TMPDIR:-/tmp}/chromatool-mp-more}
RUNS=${3:-runs/chroma-fresh}
CT=${CHROMATOOL:-.venv/bin/chromatool}
PY=${PYTHON:-.venv/bin/python}
PIANO_VALID=${PIANO_VALID:-${TMPDIR:-/tmp}/chromatool-mp-piano}  # benchmarks/deep_retrieval.py --asap's set
mkdir -p "$RUNS"
"$CT" dataset "$WORK/asap" --asap ../shared/data/asap --pieces 600 --seed 22 --max-seconds 150 --excerpts 4 \
    --exclude "$PIANO_VALID/bce.csv" --jobs 2 --skip-existing
[ -f "$S24/ens-themes/ctc.csv" ] || "$PY" scripts/label_excerpts.py "$S24/ens/bce.csv" "$S24/ens-themes" --per-recording 2
"$PY" scripts/mix_manifests.py "$WORK/mix-ctc.csv" "$S24/ens-themes/ctc.csv:2" "$WORK/asap/ctc.csv:1:prefix=asap"
resume() { [ -f "$RUNS/$1.last.pt" ] && echo --resume || true; }
"$CT" train --loss ctc --init chromatool/weights/ctc-chroma.pt --data "$WORK/mix-ctc.csv" -o "$RUNS/ctc.pt" \
    --model-setting channels=32,16,16,16 --seed 0 --threads 2 --cache "$S24/cache" --steps-per-epoch 50 \
    --patience 2 --lr 1e-4 --max-halvings 1 --max-minutes "${CTC_MINUTES:-40}" $(resume ctc)
