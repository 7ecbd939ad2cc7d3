#!/usr/bin/env bash
# Issue 14, session 28: stage 9 of the multipitch model. Real singers, string and wind players
# sustain their notes with vibrato (±5–90 cents at 4.5–7 Hz); General MIDI soundfonts barely
# do (a held choir note wavers by 3–5 cents), so every render until now was straighter than any
# real ensemble. The packaged model (stage 8) trains on from a fresh mix: ensemble renders of
# the training composers, 70 % of them with vibrato (`dataset --vibrato 0.7`), and human piano
# performances (another seed than earlier stages), one to one; lr as stage 8.
#
#   bash scripts/train_multipitch_vibrato.sh [WORKDIR] [RUNDIR]
#
# WORKDIR gets the renders and the HCQT cache; RUNDIR (committed) the model, its .last.pt and
# log, so a cut-off run continues with the same command. Then the threshold sweep on the
# Beethoven tuning set and the benchmark beside stage 8 and basic-pitch, with and without
# vibrato (benchmarks/multipitch.py's vibrato set: the same Monteverdi renders with vibrato).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${TMPDIR:-/tmp}/chromatool-mp-vibrato-train}
CT=${CHROMATOOL:-.venv/bin/chromatool}
PY=${PYTHON:-.venv/bin/python}
PIANO_VALID=${PIANO_VALID:-${TMPDIR:-/tmp}/chromatool-mp-piano}  # benchmarks/multipitch.py's piano set
"$CT" dataset "$PIANO_VALID" --asap ../shared/data/asap --pieces 30 --seed 12 --jobs 2 --skip-existing
"$CT" dataset "$WORK/ens" --composers bach,palestrina,handel,corelli,josquin,cpebach,trecento,ciconia,lusitano \
    --pieces "${PIECES:-200}" --seed 31 --max-seconds 90 --excerpts 0 --vibrato 0.7 --jobs 2 --skip-existing
"$CT" dataset "$WORK/asap" --asap ../shared/data/asap --pieces "${PERFORMANCES:-100}" --seed 31 --max-seconds 150 \
    --excerpts 0 --exclude "$PIANO_VALID/bce.csv" --jobs 2 --skip-existing
"$PY" scripts/mix_manifests.py "$WORK/mix-bce.csv" "$WORK/ens/bce.csv:1" "$WORK/asap/bce.csv:1:prefix=asap"
MIX=$WORK/mix-bce.csv CACHE=$WORK/cache EXCLUDE=$WORK/asap/bce.csv NORM=both LR=${LR:-1.25e-4} MINUTES=${MINUTES:-40} \
    INIT=${INIT:-runs/mp-fresh2/mp.pt} INIT_THRESHOLD=0.4 \
    MODEL_SETTINGS="--model-setting prefilter_channels=40 --model-setting binning_channels=40 --model-setting time_channels=20" \
    bash scripts/train_multipitch_nonorm.sh "" "$WORK" "${2:-runs/mp-vibrato}"
