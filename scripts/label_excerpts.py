"""Weakly aligned theme excerpts (a ctc.csv) from any labelled set (a bce.csv), for
``chromatool train --loss ctc``: the top voice of each recording's note labels, cut into
excerpts of 6–14 s as ``chromatool dataset`` cuts them from its scores (for renders made with
``--excerpts 0``, e.g. the cross-version sets).

    python scripts/label_excerpts.py DATA/bce.csv OUT [--per-recording 4] [--seed 0] [--every 1]

Writes OUT/themes/*.csv and OUT/ctc.csv with absolute audio paths; ``--every 3`` takes every
third recording of the manifest.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from chromatool.dataset import RenderSettings
from chromatool.excerpts import write_excerpts
from chromatool.labels import read_labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-recording", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=1)
    args = ap.parse_args()
    with open(args.manifest, newline="") as f:
        rows = list(csv.DictReader(f))[::args.every]
    out_dir = args.out.resolve()
    settings = RenderSettings(excerpts=args.per_recording)
    out = []
    for i, r in enumerate(rows):
        audio = (args.manifest.parent / r["audio"]).resolve()
        top = read_labels(args.manifest.parent / r["labels"]).top_voice()
        for e in write_excerpts(top, settings, np.random.default_rng([args.seed, i]), out_dir, audio.stem):
            out.append({"audio": str(audio), **e, "theme": str(out_dir / e["theme"]), "transpose": 0,
                        "group": r.get("group", audio.stem)})
    with open(args.out / "ctc.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["audio", "start", "end", "theme", "transpose", "group"])
        w.writeheader()
        w.writerows(out)
    print(f"{len(out)} excerpts of {len(rows)} recordings: {args.out / 'ctc.csv'}")


if __name__ == "__main__":
    main()
