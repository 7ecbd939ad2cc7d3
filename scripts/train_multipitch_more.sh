#!/usr/bin/env bash
# Issue 14, session 24: stage 7 of the multipitch model. Stages 5 (the log level) and 4 (each
# frame l2-normalised) merged into one network reading both views of the HCQT, whose logits are
# their mean (scripts/merge_multipitch.py: 80k parameters, the two networks side by side), trained
# on with about twice the data of stages 4-6: 480 new ensemble renders (nine non-reserved
# composers, 90 s each, seed 21) and every ASAP performance whose piece is not in the piano
# validation set (150 s each, seed 21). Then the threshold is chosen on the Beethoven tuning set
# and the model measured as in stage 5's recipe, which this runs.
#
#   bash scripts/train_multipitch_more.sh [WORKDIR] [RUNDIR]
#
# WORKDIR gets the renders, the mix manifest and the HCQT cache; RUNDIR (committed) the model,
# its .last.pt and log, so a cut-off run continues with the same command. STAGE5 / STAGE4: the two
# models merged (default: the committed runs).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${TMPDIR:-/tmp}/chromatool-mp-more}
CT=${CHROMATOOL:-.venv/bin/chromatool}
PIANO_VALID=${PIANO_VALID:-${TMPDIR:-/tmp}/chromatool-mp-piano}  # benchmarks/multipitch.py's piano set
"$CT" dataset "$PIANO_VALID" --asap ../shared/data/asap --pieces 30 --seed 12 --jobs 2 --skip-existing
"$CT" dataset "$WORK/ens" --composers bach,palestrina,handel,corelli,josquin,cpebach,trecento,ciconia,lusitano \
    --pieces 480 --max-seconds 90 --seed 21 --excerpts 0 --jobs 2 --skip-existing
"$CT" dataset "$WORK/asap" --asap ../shared/data/asap --pieces 600 --seed 21 --max-seconds 150 --excerpts 0 \
    --exclude "$PIANO_VALID/bce.csv" --jobs 2 --skip-existing
"${PYTHON:-.venv/bin/python}" scripts/mix_manifests.py "$WORK/mix-bce.csv" "$WORK/ens/bce.csv:1" "$WORK/asap/bce.csv:1:prefix=asap"
"${PYTHON:-.venv/bin/python}" scripts/merge_multipitch.py "$WORK/merged.pt" "${STAGE5:-runs/mp-nonorm/mp.pt}" "${STAGE4:-runs/mp-ft/mp.pt}"
MIX=$WORK/mix-bce.csv CACHE=$WORK/cache EXCLUDE=$WORK/asap/bce.csv NORM=both LR=${LR:-2.5e-4} MINUTES=${MINUTES:-70} \
    INIT=${INIT:-$WORK/merged.pt} INIT_THRESHOLD=0.4 \
    MODEL_SETTINGS="--model-setting prefilter_channels=40 --model-setting binning_channels=40 --model-setting time_channels=20" \
    exec bash scripts/train_multipitch_nonorm.sh "" "$WORK" "${2:-runs/mp-more}"
