"""A VGG-like audio embedding (Krause, Weiß & Müller: cross-version representation learning).

Convolution blocks on the HCQT pool over pitch only, so the network keeps the frame rate: each
frame gets a feature vector from a few frames of context. An excerpt's embedding is the mean of
its frames' features through a linear head, ℓ2-normalised; since the head is linear, the
embedding of the excerpt centred on every frame is the head applied to a moving mean, so a whole
recording is embedded in one pass at the feature rate (:func:`frame_embeddings`), exactly as the
excerpts it was trained on.

>>> import torch
>>> from chromatool.embedding import Embedding, EmbeddingConfig, frame_embeddings
>>> net = Embedding(EmbeddingConfig(channels=(4, 8, 8, 8), dims=16))
>>> x = torch.rand(2, 6, 75, 216)  # two 3-s excerpts of a 6-harmonic HCQT
>>> z = net(x).detach()
>>> z.shape, round(float(z.norm(dim=-1)[0]), 4)
(torch.Size([2, 16]), 1.0)
>>> frame_embeddings(net, torch.rand(6, 500, 216)).shape  # (dims, frames)
(16, 500)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import defaults as D


@dataclass(frozen=True)
class EmbeddingConfig:
    """Channels and pitch pooling of the conv blocks, frame feature size, embedding size, and
    the excerpt length (frames at the HCQT's rate) the embedding summarises."""

    arch: str = "embedding"
    n_harmonics: int = len(D.HCQT_HARMONICS)
    input_views: int = 1  # the harmonics come this many times (2: input normalisation "both")
    n_bins: int = D.N_BINS
    channels: tuple[int, ...] = (16, 32, 64, 64)
    pools: tuple[int, ...] = (3, 3, 2, 1)
    frame_features: int = 128
    dims: int = 64
    context: int = 75


class Embedding(nn.Module):
    def __init__(self, config: EmbeddingConfig = EmbeddingConfig()):
        super().__init__()
        self.config = config
        c = config
        blocks, c_in, bins = [], c.n_harmonics * c.input_views, c.n_bins
        for c_out, pool in zip(c.channels, c.pools):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
            if pool > 1:
                blocks.append(nn.MaxPool2d((1, pool)))
            c_in, bins = c_out, bins // pool
        self.blocks = nn.Sequential(*blocks)
        self.frame = nn.Linear(c_in * bins, c.frame_features)
        self.head = nn.Linear(c.frame_features, c.dims)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        """Frame features (batch, n_frames, frame_features) of HCQTs (batch, H, n_frames, bins)."""
        h = self.blocks(x)  # (B, C, T, bins')
        return F.relu(self.frame(h.permute(0, 2, 1, 3).flatten(2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings (batch, dims) of excerpts (batch, H, n_frames, bins)."""
        return F.normalize(self.head(self.frames(x).mean(dim=1)), dim=-1)


def frame_embeddings(model: Embedding, x: torch.Tensor, *, chunk: int = 2000, device: str = "cpu") -> np.ndarray:
    """Embeddings (dims, n_frames) of one HCQT (H, n_frames, bins): for every frame, the
    embedding of the ``context``-frame excerpt centred on it (shorter at the ends)."""
    model.eval()
    halo = 8  # frames of context each side: more than the conv blocks' receptive field
    T = x.shape[1]
    parts = []
    with torch.no_grad():
        for a in range(0, T, chunk):
            lo, hi = max(0, a - halo), min(T, a + chunk + halo)
            f = model.frames(x[None, :, lo:hi].to(device))[0]
            parts.append(f[a - lo:a - lo + min(chunk, T - a)])
        f = torch.cat(parts)  # (T, frame_features)
        w = model.config.context
        csum = F.pad(torch.cumsum(f, 0), (0, 0, 1, 0))
        idx = torch.arange(T, device=f.device)
        lo = (idx - w // 2).clamp(0, T)
        hi = (idx - w // 2 + w).clamp(0, T)
        mean = (csum[hi] - csum[lo]) / (hi - lo).clamp_min(1)[:, None]
        return F.normalize(model.head(mean), dim=-1).T.cpu().numpy().astype(np.float32)
