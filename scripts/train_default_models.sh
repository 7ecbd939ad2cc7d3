#!/usr/bin/env bash
# The recipe of the default models in chromatool/weights (see chromatool/weights/MODEL_CARD.md):
# the exact commands and settings the shipped ctc-chroma.pt and multipitch.pt were trained with,
# on 2 CPU cores (times as measured there; on a GPU add --device cuda).
#
#   bash scripts/train_default_models.sh [WORKDIR]
#
# 1. the training set: music21 corpus renders, no reserved test composer (360 pieces, 11.2 h)
# 2. ctc-chroma (channels 32,16,16,16: 27k parameters), four stages, each from the last:
#    a. its 216-bin salience on all notes of the labels (bce) ......................... 20 min
#    b. the salience on the top voice only (the themes' melody) ....................... 16 min
#    c. its 13 CTC classes frame-wise along the top voice's onset path (ce) ........... 45 min
#    d. CTC on the weakly aligned theme excerpts (ctc), lr 3e-4 ...................... 8 min
# 3. multipitch on the note labels (bce), three stages:
#    a. from scratch (seed 0) ......................................................... 16 min
#    b. from a, seed 1 (lr halved on plateaus down to 1.25e-4; best of 34 epochs) ...... 66 min
#    c. from b, seed 1, lr 5e-4, patience 2, two halvings (best of 11 epochs) ........... 17 min
# 4. the validation set (Monteverdi, never trained on), the threshold's tuning set (Beethoven) and
#    the figures of the model card
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-${TMPDIR:-/tmp}/chromatool-train}
CT=${CHROMATOOL:-chromatool}
PY=${PYTHON:-python}
TRAIN_COMPOSERS=bach,palestrina,trecento,josquin,cpebach,corelli,handel,ciconia,luca,lusitano,essenFolksong,oneills1850,airdsAirs
SMALL="--model-setting channels=32,16,16,16"
COMMON="--seed 0 --threads 2 --cache $WORK/cache --steps-per-epoch 100 --patience 3 --max-halvings 3"
resume() { [ -f "$WORK/$1.last.pt" ] && echo --resume || true; }  # run again: each stage goes on where it stopped

"$CT" dataset "$WORK/data" --composers "$TRAIN_COMPOSERS" --pieces 360 --seed 0 --jobs 2 --skip-existing

"$CT" train --loss bce --arch ctc-chroma --voices all --data "$WORK/data/bce.csv" -o "$WORK/salience.pt" $SMALL \
    --max-minutes 18 $COMMON $(resume salience)
"$CT" train --loss bce --arch ctc-chroma --init "$WORK/salience.pt" --data "$WORK/data/bce.csv" -o "$WORK/melody.pt" \
    $SMALL --max-minutes 14 $COMMON $(resume melody)
"$CT" train --loss ce --init "$WORK/melody.pt" --data "$WORK/data/bce.csv" -o "$WORK/ce.pt" $SMALL \
    --max-minutes 45 $COMMON $(resume ce)
"$CT" train --loss ctc --init "$WORK/ce.pt" --data "$WORK/data/ctc.csv" -o "$WORK/ctc-chroma.pt" $SMALL \
    --seed 0 --threads 1 --cache "$WORK/cache" --lr 3e-4 --steps-per-epoch 50 --patience 2 --max-halvings 1 --max-minutes 8 $(resume ctc-chroma)
"$CT" train --loss bce --data "$WORK/data/bce.csv" -o "$WORK/multipitch-a.pt" --max-minutes 15 $COMMON $(resume multipitch-a)
"$CT" train --loss bce --init "$WORK/multipitch-a.pt" --data "$WORK/data/bce.csv" -o "$WORK/multipitch-b.pt" \
    --max-minutes 75 ${COMMON/--seed 0/--seed 1} $(resume multipitch-b)
"$CT" train --loss bce --init "$WORK/multipitch-b.pt" --data "$WORK/data/bce.csv" -o "$WORK/multipitch.pt" \
    --max-minutes 40 --lr 5e-4 --seed 1 --threads 2 --cache "$WORK/cache" --steps-per-epoch 100 --patience 2 --max-halvings 2 $(resume multipitch)

"$CT" dataset "$WORK/valid" --composers monteverdi --pieces 24 --seed 2 --jobs 2 --skip-existing
"$CT" dataset "$WORK/tune" --composers beethoven --pieces 8 --seed 5 --excerpts 0 --jobs 2 --skip-existing
"$CT" evaluate pitch "$WORK/tune/bce.csv" --model "$WORK/multipitch.pt" $(printf -- "--threshold %s " 0.3 0.35 0.4 0.45)
"$PY" benchmarks/deep_retrieval.py "$WORK/valid" --max-docs 12 --model "$WORK/ctc-chroma.pt"
"$CT" evaluate pitch "$WORK/valid/bce.csv" --model "$WORK/multipitch.pt"
REAL=../shared/data/real
for take in Igoshina Varsi; do
    "$CT" align "$REAL"/chopin_op10-3/*MIDI.mid "$REAL"/chopin_op10-3/*"$take".wav -o "$WORK/chopin_$take.csv" --overwrite
done
"$CT" evaluate pitch "$REAL"/maestro_stub/*.wav "$REAL"/maestro_stub/*.midi \
    "$REAL"/chopin_op10-3/*Igoshina.wav "$WORK/chopin_Igoshina.csv" "$REAL"/chopin_op10-3/*Varsi.wav "$WORK/chopin_Varsi.csv" \
    --model "$WORK/multipitch.pt"

echo "models in $WORK: copy ctc-chroma.pt and multipitch.pt into chromatool/weights/"
