#!/usr/bin/env bash
# Issue 14, session 25: stage 8 of the multipitch model. Stage 7 (the packaged file) trained on
# with stage 7's mix plus the ASAP performances rendered again with another seed
# (scripts/train_chroma_fresh.sh's: new soundfonts, rooms, tunings and codecs for the same
# performances), so that piano is about half the mix; lr half of stage 7's.
#
#   bash scripts/train_multipitch_fresh.sh [FRESH_WORKDIR] [S24_WORKDIR] [RUNDIR]
#
# FRESH_WORKDIR gets the fresh ASAP renders (train_chroma_fresh.sh's, if it ran), S24_WORKDIR
# train_multipitch_more.sh's (the ensemble renders, stage 7's ASAP renders, the HCQT cache);
# RUNDIR (committed) gets the model, its .last.pt and log, so a cut-off run continues with the
# same command. Then the threshold sweep on the Beethoven tuning set and the benchmark beside
# stage 7 and basic-pitch (train_multipitch_nonorm.sh's steps), and a sweep on the piano tuning
# performances.
set -euo pipefail
cd "$(dirname "$0")/.."
FRESH=${1:-${TMPDIR:-/tmp}/chromatool-chroma-fresh}
S24=${2:-${TMPDIR:-/tmp}/chromatool-mp-more}
PY=${PYTHON:-.venv/bin/python}
PIANO_VALID=${PIANO_VALID:-${TMPDIR:-/tmp}/chromatool-mp-piano}  # benchmarks/multipitch.py's piano set
# the fresh renders (train_chroma_fresh.sh makes the same; instant once they exist)
"${CHROMATOOL:-.venv/bin/chromatool}" dataset "$FRESH/asap" --asap ../shared/data/asap --pieces 600 --seed 22 \
    --max-seconds 150 --excerpts 4 --exclude "$PIANO_VALID/bce.csv" --jobs 2 --skip-existing
# both ASAP sets under one prefix: a piece's renders share a group, so the split holds it out whole
# ENS_REPEAT: how many times the ensemble renders are listed (2: ensembles as often as piano, as in stage 7)
MIX=$FRESH/mix-bce-ens${ENS_REPEAT:-1}.csv
"$PY" scripts/mix_manifests.py "$MIX" "$S24/ens/bce.csv:${ENS_REPEAT:-1}" "$S24/asap/bce.csv:1:prefix=asap" \
    "$FRESH/asap/bce.csv:1:prefix=asap"
MIX=$MIX CACHE=$S24/cache EXCLUDE=$S24/asap/bce.csv NORM=both LR=${LR:-1.25e-4} MINUTES=${MINUTES:-45} \
    INIT=${INIT:-runs/mp-more/mp.pt} INIT_THRESHOLD=0.4 \
    MODEL_SETTINGS="--model-setting prefilter_channels=40 --model-setting binning_channels=40 --model-setting time_channels=20" \
    bash scripts/train_multipitch_nonorm.sh "" "$FRESH" "${3:-runs/mp-fresh}"
# the threshold on piano: the piano set's performances the benchmark does not score
"$PY" benchmarks/multipitch.py --exclude "$S24/asap/bce.csv" --piano-tune "$FRESH/piano-tune.csv"
"${CHROMATOOL:-.venv/bin/chromatool}" evaluate pitch "$FRESH/piano-tune.csv" --model "${3:-runs/mp-fresh}/mp.pt" \
    $(printf -- "--threshold %s " 0.25 0.3 0.35 0.4)
