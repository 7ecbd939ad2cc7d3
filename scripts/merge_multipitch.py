"""Two or more single-view multipitch checkpoints as one ensemble checkpoint (the mean of their
logits in one wider network reading both views of the HCQT; ``chromatool.ensemble``).

    python scripts/merge_multipitch.py OUT.pt A.pt B.pt [...]

The members must share the architecture and the HCQT settings but for the input
normalisation ("none" or "l2"). OUT.pt loads as any model (``extract --kind pitch --model
OUT.pt``) and trains on with ``chromatool train --init OUT.pt --input-norm both`` and the
widths it prints as ``--model-setting`` options.
"""

from __future__ import annotations

import sys

import torch

from chromatool.deep import checkpoint, read_checkpoint
from chromatool.ensemble import merge_multipitch
from chromatool.models import config_from_dict


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, paths = sys.argv[1], sys.argv[2:]
    cks = [read_checkpoint(p) for p in paths]
    base = {k: v for k, v in cks[0]["features"].items() if k != "normalize"}
    for p, ck in zip(paths, cks):
        if {k: v for k, v in ck["features"].items() if k != "normalize"} != base:
            sys.exit(f"{p}: other HCQT settings than {paths[0]}")
    merged = merge_multipitch([(ck["state_dict"], ck["features"]["normalize"]) for ck in cks],
                              config_from_dict(cks[0]["model"]))
    members = [{"source": p, "input_norm": ck["features"]["normalize"],
                "best_valid_loss": ck.get("training", {}).get("best_valid_loss")} for p, ck in zip(paths, cks)]
    torch.save(checkpoint(merged, {**base, "normalize": "both"}, {"loss": "bce", "ensemble": members}), out)
    c = merged.config
    print(f"{out}: the mean of {len(cks)} networks; train on with --input-norm both --model-setting "
          f"prefilter_channels={c.prefilter_channels} --model-setting binning_channels={c.binning_channels} "
          f"--model-setting time_channels={c.time_channels}")


if __name__ == "__main__":
    main()
