#!/usr/bin/env bash
# Issue 14's training, resumable across sessions: the paper-size ctc-chroma (72,970 parameters)
# and multipitch, on renders closer to real recordings (expressive timing, every installed GM
# soundfont but the reserved MuseScore General, ±50 cents, EQ, compression, lossy coding, room
# tone) plus ASAP's human piano performances with their pedal.
#
#   bash scripts/train_realistic.sh [WORKDIR]
#
# The renders are deterministic (seeds below) and go to WORKDIR (not committed: re-rendered by
# the same command, --skip-existing keeps what exists). Each stage's model, OUTPUT.last.pt and
# log go to runs/realistic/ and ARE committed as training goes: rerunning this script on any
# machine continues every stage from its last state (--resume checks that data and settings
# match); a stage whose budget (minutes of training in all its sessions) is spent, or that
# stopped early, ends at once, and the next one starts from its best model. Raise a stage's
# budget (env STAGE_MINUTES_<name>) to let it go on. The packaged weights are replaced only when
# validation improves (see MODEL_CARD.md).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${TMPDIR:-/tmp}/chromatool-realistic}
CT=${CHROMATOOL:-.venv/bin/chromatool}
RUNS=${RUNS:-runs/realistic}  # env RUNS: another run folder (a reproduction from scratch)
TRAIN_COMPOSERS=bach,palestrina,trecento,josquin,cpebach,corelli,handel,ciconia,luca,lusitano,essenFolksong,oneills1850,airdsAirs
COMMON="--seed 0 --threads 2 --cache $WORK/cache --steps-per-epoch 100 --patience 3 --max-halvings 3"
mkdir -p "$RUNS"

"$CT" dataset "$WORK/scores" --composers "$TRAIN_COMPOSERS" --pieces ${PIECES:-80} --seed 10 --jobs 2 --skip-existing
"$CT" dataset "$WORK/asap" --asap ../shared/data/asap --pieces ${PERFORMANCES:-40} --seed 11 --jobs 2 --skip-existing

# more data (session 13): 160 more score renders (the first 160 of this seed's order) and 60
# human performances of pieces outside the piano validation set (the ASAP set of
# benchmarks/deep_retrieval.py and benchmarks/multipitch.py, rendered here to be excluded)
"$CT" dataset "$WORK/more" --composers "$TRAIN_COMPOSERS" --pieces ${MORE_PIECES:-160} --seed 12 --jobs 2 --skip-existing
"$CT" dataset "$WORK/piano-valid" --asap ../shared/data/asap --pieces 30 --seed 12 --jobs 2 --skip-existing
"$CT" dataset "$WORK/asap2" --asap ../shared/data/asap --pieces 60 --seed 13 --max-seconds 150 \
    --exclude "$WORK/piano-valid/bce.csv" --jobs 2 --skip-existing

source scripts/train_lib.sh  # merge, stage
merge all.csv bce scores asap        # the multipitch data: score renders and human piano performances
merge all2.csv bce scores more asap2  # the deep chroma's second CE stage: ensembles and piano
merge ctc2.csv ctc scores more        # its CTC stage: the theme excerpts of all score renders

# ctc-chroma (the paper's size), as scripts/train_default_models.sh, each stage from the last:
# a. its 216-bin salience on all notes (strongly aligned pre-training)
stage salience 200 --loss bce --arch ctc-chroma --voices all --data "$WORK/scores/bce.csv"
# b. the salience of the top voice (the themes' melody)
stage melody 60 --loss bce --arch ctc-chroma --init "$RUNS/salience.pt" --data "$WORK/scores/bce.csv"
# c. its 13 CTC classes frame-wise along the top voice's onset path
stage ce 120 --loss ce --init "$RUNS/melody.pt" --data "$WORK/scores/bce.csv"
# d. CTC on the weakly aligned theme excerpts
stage ctc 40 --loss ctc --init "$RUNS/ce.pt" --data "$WORK/scores/ctc.csv" --lr 3e-4
# e. (session 13) CE again from stage c, on 3x the score renders and 60 human piano performances
stage ce2 90 --loss ce --init "$RUNS/ce.pt" --data "$WORK/all2.csv" --lr 5e-4
# f. (session 13) CTC from ce2 on the weak theme pairs of all score renders
stage ctc2 40 --loss ctc --init "$RUNS/ce2.pt" --data "$WORK/ctc2.csv" --lr 3e-4
# multipitch of Weiss et al.'s size (15 x 15 prefilter, 75-frame context: 48,061 parameters) on
# the score renders and ASAP's human performances, bfloat16 autocast (2.2x faster, same loss)
stage multipitch 300 --loss bce --arch multipitch --data "$WORK/all.csv" --precision bfloat16 \
    --model-setting prefilter_kernel=15,15 --model-setting time_kernel=75
