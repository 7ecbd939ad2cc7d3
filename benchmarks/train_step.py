"""One training step (forward + backward + Adam) of the ctc-chroma network on the CPU:
chromatool's convolution, whose gradients are forward convolutions, side by side with torch's
own ``nn.Conv2d`` backward (oneDNN) on the same random batch, as a ratio.

    python benchmarks/train_step.py [--channels 64,32,32,32] [--frames 250] [--batch 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from chromatool import models
from chromatool.models import build_model, make_config


def step_seconds(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    opt = torch.optim.Adam(model.parameters())
    times = []
    for _ in range(repeats + 1):  # the first step warms up oneDNN
        t = time.perf_counter()
        loss = torch.log_softmax(model(x), -1)[..., -1].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return min(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", default="64,32,32,32")
    ap.add_argument("--frames", type=int, default=250, help="frames per example (25 per second)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = make_config("ctc-chroma", channels=[int(c) for c in a.channels.split(",")])
    x = torch.randn(a.batch, cfg.n_harmonics, a.frames, cfg.n_bins)
    torch.manual_seed(0)
    ours = step_seconds(build_model(cfg), x, a.repeats)
    plain = models.Conv2d.forward
    models.Conv2d.forward = torch.nn.Conv2d.forward  # torch's own backward
    try:
        torch.manual_seed(0)
        ref = step_seconds(build_model(cfg), x, a.repeats)
    finally:
        models.Conv2d.forward = plain
    print(f"ctc-chroma channels {a.channels}, batch {a.batch} x {a.frames} frames, {a.threads} threads")
    print(f"{'':24}{'s/step':>8}")
    print(f"{'torch nn.Conv2d':24}{ref:8.2f}")
    print(f"{'chromatool Conv2d':24}{ours:8.2f}")
    print(f"speed-up {ref / ours:.2f}x")


if __name__ == "__main__":
    main()
