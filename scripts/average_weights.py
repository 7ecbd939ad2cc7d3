"""Average two chromatool models of one architecture, weight by weight (a "model soup").

Two models fine-tuned from the same parent lie in one basin of the loss, and the weights
between them often keep what each learnt (Wortsman et al. 2022, "Model soups"; WiSE-FT). Used
for the deep chroma in session 29: the packaged model and `runs/chroma-vibrato/ctc.pt`, trained
on from it with vibrato renders (each better on one validation set than the other).

    python scripts/average_weights.py A.pt B.pt --alpha 0.5 -o OUT.pt

``OUT = (1 - alpha) * A + alpha * B`` for every tensor (integer buffers taken from A). The
checkpoint keeps A's metadata and records the average under ``training["averaged"]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from chromatool.deep import read_checkpoint
from chromatool.models import same_config


def average(a: dict, b: dict, alpha: float) -> dict:
    """The checkpoint ``a`` with every floating-point tensor moved ``alpha`` of the way to ``b``'s."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if not same_config(a["model"], b["model"]) or a["features"] != b["features"]:
        raise ValueError("the two models differ in architecture or input features")
    sa, sb = a["state_dict"], b["state_dict"]
    if sa.keys() != sb.keys():
        raise ValueError(f"the two models' weights differ: {sorted(set(sa) ^ set(sb))[:5]}")
    state = {k: torch.lerp(v, sb[k].to(v.dtype), alpha) if v.is_floating_point() else v.clone()
             for k, v in sa.items()}
    return {**a, "state_dict": state}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--alpha", type=float, default=0.5, help="weight of B (default 0.5)")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    a, b = (read_checkpoint(p) for p in (args.a, args.b))
    out = average(a, b, args.alpha)
    out["training"] = {**a.get("training", {}),
                       "averaged": {"a": str(args.a), "b": str(args.b), "alpha": args.alpha,
                                    "b_training": b.get("training", {})}}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, args.output)
    print(f"{args.output}: (1 - {args.alpha}) x {args.a} + {args.alpha} x {args.b}")


if __name__ == "__main__":
    main()
