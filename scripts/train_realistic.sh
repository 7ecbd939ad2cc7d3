#!/usr/bin/env bash
# Issue 14's training, resumable across sessions: the paper-size ctc-chroma (72,970 parameters)
# and multipitch, on renders closer to real recordings (expressive timing, every installed GM
# soundfont but the reserved MuseScore General, ±50 cents, EQ, compression, lossy coding, room
# tone) plus ASAP's human piano performances with their pedal.
#
#   bash scripts/train_realistic.sh [WORKDIR] [MINUTES_PER_STAGE]
#
# The renders are deterministic (seeds below) and go to WORKDIR (not committed: re-rendered by
# the same command, --skip-existing keeps what exists). Each stage's model, OUTPUT.last.pt and
# log go to runs/realistic/ and ARE committed as training goes: rerunning this script on any
# machine continues every stage from its last state (--resume checks that data and settings
# match). The packaged weights are replaced only when validation improves (see MODEL_CARD.md).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${TMPDIR:-/tmp}/chromatool-realistic}
MIN=${2:-60}
CT=${CHROMATOOL:-.venv/bin/chromatool}
RUNS=runs/realistic
TRAIN_COMPOSERS=bach,palestrina,trecento,josquin,cpebach,corelli,handel,ciconia,luca,lusitano,essenFolksong,oneills1850,airdsAirs
COMMON="--seed 0 --threads 2 --cache $WORK/cache --steps-per-epoch 100 --patience 3 --max-halvings 3 --max-minutes $MIN"
mkdir -p "$RUNS"

"$CT" dataset "$WORK/scores" --composers "$TRAIN_COMPOSERS" --pieces ${PIECES:-80} --seed 10 --jobs 2 --skip-existing
"$CT" dataset "$WORK/asap" --asap ../shared/data/asap --pieces ${PERFORMANCES:-40} --seed 11 --jobs 2 --skip-existing

stage() {  # stage NAME ARGS...: train, or continue the stage's last state
  local name=$1; shift
  local resume=""
  [ -f "$RUNS/$name.last.pt" ] && resume="--resume"
  "$CT" train "$@" -o "$RUNS/$name.pt" $COMMON $resume
}

# a. the ctc-chroma's 216-bin salience on all notes of both sets (strongly aligned pre-training)
stage salience --loss bce --arch ctc-chroma --voices all --data "$WORK/scores/bce.csv"
# (next stages, as scripts/train_default_models.sh: top-voice salience, ce along the onset path,
# ctc on the weak pairs; multipitch on scores + ASAP. Added once stage a has converged.)
