"""Render a tiny training set from the music21 corpus and train a small multi-pitch model.

    python examples/train_small.py OUT_DIR [--steps 4]

A real run uses `chromatool dataset` and `chromatool train` with many pieces and hours of CPU
(see the README); this one shows the library calls end to end in about a minute.
"""

import argparse
from pathlib import Path

import chromatool as ct
from chromatool.dataset import build_dataset, corpus_scores, pick_pieces
from chromatool.training import read_manifest, split_by_group

ap = argparse.ArgumentParser()
ap.add_argument("out", type=Path)
ap.add_argument("--steps", type=int, default=4)
args = ap.parse_args()

import numpy as np  # noqa: E402

scores = pick_pieces(corpus_scores(("bach",)), 4, np.random.default_rng(0))
ctc, bce, skipped = build_dataset(scores, args.out / "data", seed=0, skip_existing=True)
items = read_manifest(bce, "bce")
train, valid = split_by_group(items, 0.25, seed=0)
cfg = ct.TrainConfig(loss="bce", arch="multipitch", max_steps=args.steps, batch_size=2, crop_seconds=4.0)
res = ct.train(train, valid, args.out / "tiny.pt", cfg=cfg, cache_root=str(args.out / "cache"), overwrite=True)
print(f"{len(train)} training and {len(valid)} validation recordings; {res.steps} steps, "
      f"validation loss {res.best_valid_loss:.4f} -> {res.checkpoint}")
f = ct.extract(valid[0].audio, model=res.checkpoint, kind="pitch")
print(f"pitch salience of {valid[0].audio.name}: {f.data.shape} at {f.feature_rate:g} Hz")
