#!/usr/bin/env bash
# Reproduces the models shipped in chromatool/weights (see chromatool/weights/MODEL_CARD.md).
# Renders the training set from the music21 corpus (no reserved test composer), then trains
# the CTC deep chroma model and the multi-pitch model with exactly the settings shipped.
#   bash scripts/train_default_models.sh [WORKDIR]      (CPU: about 2 hours on 2 cores)
set -euo pipefail
WORK=${1:-${TMPDIR:-/tmp}/chromatool-train}
CT=${CHROMATOOL:-chromatool}
TRAIN_COMPOSERS=bach,palestrina,trecento,josquin,cpebach,corelli,handel,ciconia,luca,lusitano,essenFolksong,oneills1850,airdsAirs

"$CT" dataset "$WORK/data" --composers "$TRAIN_COMPOSERS" --pieces 360 --seed 0 --jobs 2

"$CT" train --loss ctc --data "$WORK/data/ctc.csv" -o "$WORK/ctc-chroma.pt" \
    --model-setting channels=32,16,16,16 --steps-per-epoch 100 --patience 2 --max-halvings 3 \
    --max-minutes 55 --seed 0 --threads 2 --jobs 2 --cache "$WORK/cache"

"$CT" train --loss bce --data "$WORK/data/bce.csv" -o "$WORK/multipitch.pt" \
    --steps-per-epoch 100 --patience 2 --max-halvings 3 --max-minutes 25 --seed 0 --threads 1 \
    --cache "$WORK/cache"

echo "models in $WORK: copy ctc-chroma.pt and multipitch.pt into chromatool/weights/"
