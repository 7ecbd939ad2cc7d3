#!/usr/bin/env bash
# Issue 14, session 23: stage 6 of the multipitch model, reading both views of the HCQT
# (`--input-norm both`): the log-HCQT as it is (stage 5 reads only that: quiet frames stay quiet)
# and each frame l2-normalised (stage 4 read only that: a soft note under loud ones looks as
# strong as any). Stage 5 is widened (its first layer's weights for the l2 view start at zero,
# so training starts from exactly stage 5) and trained on with the same mix and split, then the
# threshold is chosen and the model measured as in stage 5's recipe, which this runs.
#
#   bash scripts/train_multipitch_both.sh MIX_MANIFEST CACHE [RUNDIR]
#
# MIX_MANIFEST: scripts/train_piano_ft.sh's mix360-bce.csv (480 rendered ensemble pieces and 359
# human piano performances); CACHE: the HCQT cache it was trained with. RUNDIR (committed) gets
# the model, its .last.pt and log, so a cut-off run continues with the same command.
set -euo pipefail
cd "$(dirname "$0")/.."
MIX=$1 CACHE=$2 NORM=both LR=2.5e-4 MINUTES=70 INIT=${INIT:-runs/mp-nonorm/mp.pt} INIT_THRESHOLD=0.4 \
    exec bash scripts/train_multipitch_nonorm.sh "" "" "${3:-runs/mp-both}"
