#!/usr/bin/env bash
# The recipe for the default models of chromatool/weights. NONE SHIPS YET: on 2 CPU cores the
# ctc run below reached only 2 epochs (200 steps, ~4.5 s a step) in the time a session had,
# far from trained. Run it where there is a GPU (add --device cuda), then copy the models into
# chromatool/weights with a model card. Renders the training set from the music21 corpus (no
# reserved test composer), then trains the CTC deep chroma model and the multi-pitch model.
#   bash scripts/train_default_models.sh [WORKDIR]
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
