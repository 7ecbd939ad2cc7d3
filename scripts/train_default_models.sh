#!/usr/bin/env bash
# The recipe of the default models in chromatool/weights (see chromatool/weights/MODEL_CARD.md),
# with the exact settings of the shipped run (2 CPU cores, no GPU). Renders the training set
# from the music21 corpus (no reserved test composer), trains the CTC deep chroma model and
# the multi-pitch model, then renders the validation set (Monteverdi, never trained on) and
# measures both. With a GPU add --device cuda and drop --max-minutes.
#   bash scripts/train_default_models.sh [WORKDIR]
set -euo pipefail
WORK=${1:-${TMPDIR:-/tmp}/chromatool-train}
CT=${CHROMATOOL:-chromatool}
PY=${PYTHON:-python}
TRAIN_COMPOSERS=bach,palestrina,trecento,josquin,cpebach,corelli,handel,ciconia,luca,lusitano,essenFolksong,oneills1850,airdsAirs

"$CT" dataset "$WORK/data" --composers "$TRAIN_COMPOSERS" --pieces 360 --seed 0 --jobs 2

"$CT" train --loss ctc --data "$WORK/data/ctc.csv" -o "$WORK/ctc-chroma.pt" \
    --model-setting channels=32,16,16,16 --steps-per-epoch 150 --patience 3 --max-halvings 3 \
    --max-minutes 70 --seed 0 --threads 2 --cache "$WORK/cache"

"$CT" train --loss bce --data "$WORK/data/bce.csv" -o "$WORK/multipitch.pt" \
    --steps-per-epoch 150 --patience 3 --max-halvings 3 --max-minutes 25 --seed 0 --threads 2 \
    --cache "$WORK/cache"

# validation: a composer never trained on
"$CT" dataset "$WORK/valid" --composers monteverdi --pieces 24 --seed 2 --jobs 2
"$PY" benchmarks/deep_retrieval.py "$WORK/valid" --max-docs 12 --model "$WORK/ctc-chroma.pt"
"$CT" evaluate pitch "$WORK/valid/bce.csv" --model "$WORK/multipitch.pt"

echo "models in $WORK: copy ctc-chroma.pt and multipitch.pt into chromatool/weights/"
