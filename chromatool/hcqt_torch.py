"""The CQT engine of :mod:`chromatool.features` in torch, batched, for CUDA (and CPU).

Same plan, same decimation filter, same frame centres, same kernels as the numpy engine:
the two agree to float32 rounding (tests compare them when a GPU is lent).
"""

from __future__ import annotations

import numpy as np

from . import defaults as D
from .cqt_engine import CQTPlan, frame_centers


def cqt_magnitude_batch(signals, plan: CQTPlan, *, device: str = D.DEVICE):
    """CQT magnitudes of a batch of equal-length signals.

    Parameters
    ----------
    signals : torch.Tensor or np.ndarray [shape=(batch, n_samples)]

    Returns
    -------
    C : torch.Tensor [shape=(batch, n_bins, n_frames), dtype=float32] on ``device``
    """
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(signals, dtype=np.float32) if not torch.is_tensor(signals)
                        else signals, dtype=torch.float32, device=device)
    if x.ndim != 2:
        raise ValueError(f"expected signals of shape (batch, n), got {tuple(x.shape)}")
    n_frames = plan.n_frames(x.shape[-1])
    h = torch.as_tensor(plan.decimation_filter, device=device).flip(0).view(1, 1, -1)
    delay = (h.shape[-1] - 1) // 2
    out = torch.empty(x.shape[0], plan.freqs.size, n_frames, device=device)
    sig = x
    current = 1
    for lv in plan.levels:
        while current < lv.decimation:
            sig = F.conv1d(F.pad(sig.unsqueeze(1), (delay, delay)), h, stride=2).squeeze(1)
            current *= 2
        half = lv.n_fft // 2
        padded = F.pad(sig, (half, half))
        centers = np.minimum(frame_centers(n_frames, plan.hop, lv.decimation), sig.shape[-1])
        idx = torch.as_tensor(centers[:, None] + np.arange(lv.n_fft)[None, :], device=device)
        frames = padded[:, idx]  # (batch, n_frames, n_fft)
        spec = torch.fft.rfft(frames, dim=-1)
        kernel = torch.as_tensor(lv.kernel, device=device)
        resp = (spec @ kernel).abs()  # (batch, n_frames, n_bins_level)
        out[:, torch.as_tensor(lv.bins, device=device)] = resp.transpose(1, 2)
    return out * torch.as_tensor(plan.scale, device=device)[None, :, None]


class TorchEngine:
    """A CQT engine for :mod:`chromatool.features` (``engine=TorchEngine("cuda")``)."""

    def __init__(self, device: str = "cuda"):
        self.device = device

    def __call__(self, y: np.ndarray, plan: CQTPlan) -> np.ndarray:
        return cqt_magnitude_batch(y[None, :], plan, device=self.device)[0].cpu().numpy()
