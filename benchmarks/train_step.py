"""Training steps per second on the CPU or a CUDA GPU (forward + backward + Adam on one random batch), for
both networks, with each speed-up tried, as ratios to torch's plain ``nn.Conv2d``:

- chromatool's ``Conv2d`` (gradients by forward convolutions);
- ``chromatool.fast_conv``'s forms (padding inside the convolution, wide kernels' bins folded into
  channels, differentiated by torch's autograd), the default for both since session 30;
- channels-last input (``models.CHANNELS_LAST``), the default for both (for the ctc-chroma since session 30);
- bfloat16 autocast (torch's convolutions only: chromatool's gradient path is float32), with
  each network's default memory layout;
- ``torch.compile`` with ``--compile`` (minutes of compilation first).

    python benchmarks/train_step.py [--batch 8] [--threads 2] [--compile] [--device cuda]
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

import torch

from chromatool import fast_conv, models
from chromatool.models import build_model, make_config

#: Frames per example: the ctc-chroma's 10-s excerpts; the multi-pitch network's 100 frames
#: plus its 75-frame context.
FRAMES = {"ctc-chroma": 250, "multipitch": 174}
#: (architecture, label, settings): the paper-size ctc-chroma, the packaged multipitch and the
#: Weiss-size multipitch of scripts/train_realistic.sh.
NETWORKS = (("ctc-chroma", "ctc-chroma", {}), ("multipitch", "multipitch", {}),
            ("multipitch", "multipitch-48k", {"prefilter_kernel": (15, 15), "time_kernel": 75}))


def step_seconds(model: torch.nn.Module, x: torch.Tensor, repeats: int, *, bf16: bool = False) -> float:
    opt = torch.optim.Adam(model.parameters())
    times = []
    for _ in range(repeats + 1):  # the first step warms up oneDNN / cuDNN
        t = time.perf_counter()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss = out.float().square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return min(times[1:]) if repeats else times[0]


@contextmanager
def setting(conv: str, channels_last: bool):
    plain, cl, fast = models.Conv2d.forward, models.CHANNELS_LAST, fast_conv.ENABLED
    if conv == "torch":
        models.Conv2d.forward = torch.nn.Conv2d.forward
    models.CHANNELS_LAST = channels_last
    fast_conv.ENABLED = conv == "fast"
    try:
        yield
    finally:
        models.Conv2d.forward, models.CHANNELS_LAST, fast_conv.ENABLED = plain, cl, fast


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    where = torch.cuda.get_device_name() if a.device == "cuda" else f"{a.threads} CPU threads"
    print(f"batch {a.batch}, {where}; best of {a.repeats} steps")
    print(f"{'network':<16}{'variant':<44}{'s/step':>8}{'steps/s':>9}{'ratio':>7}")
    for arch, label, settings in NETWORKS:
        cfg = make_config(arch, **settings)
        x = torch.randn(a.batch, cfg.n_harmonics, FRAMES[arch], cfg.n_bins, device=a.device)
        cl_default = models.CHANNELS_LAST
        variants = [("torch nn.Conv2d", "torch", False, False),
                    ("torch nn.Conv2d, channels-last", "torch", True, False),
                    ("torch nn.Conv2d, bfloat16 autocast", "torch", cl_default, True),
                    ("chromatool Conv2d", "ours", False, False),
                    ("chromatool Conv2d, channels-last", "ours", True, False),
                    ("fast_conv forms", "fast", False, False),
                    ("fast_conv forms, channels-last", "fast", True, False)]
        ref = None
        for name, conv, cl, bf16 in variants:
            with setting(conv, cl):
                torch.manual_seed(0)
                xx = x.contiguous(memory_format=torch.channels_last) if cl else x  # as the library does
                s = step_seconds(build_model(cfg).to(a.device), xx, a.repeats, bf16=bf16)
            ref = ref or s
            mark = "  (default)" if conv == "fast" and cl == cl_default else ""
            print(f"{label:<16}{name + mark:<44}{s:8.3f}{1 / s:9.2f}{ref / s:7.2f}")
        if a.compile:
            with setting("torch", cl_default):
                torch.manual_seed(0)
                t = time.perf_counter()
                model = torch.compile(build_model(cfg).to(a.device))
                step_seconds(model, x, 0)
                first = time.perf_counter() - t
                s = step_seconds(model, x, a.repeats)
            print(f"{label:<16}{f'torch.compile (first step {first:.0f} s)':<44}{s:8.3f}{1 / s:9.2f}{ref / s:7.2f}")


if __name__ == "__main__":
    main()
