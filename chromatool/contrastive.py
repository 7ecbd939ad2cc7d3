"""Contrastive pretext tasks (Krause, Weiß & Müller): cross-version and single-version pairs.

* ``cross-version`` (CV): a positive pair is two excerpts of two versions of one piece at the
  same score time (found through each version's score-to-audio time map), or up to
  ``TrainConfig.positive_offset`` score seconds apart;
* ``single-version`` (SV), the baseline: two excerpts of one recording at most
  ``SV_MAX_OFFSET`` seconds apart (temporal proximity, as McCallum 2019).

Every other excerpt in the batch (other times, other pieces) is a negative: the loss is InfoNCE
(NT-Xent) over the batch's 2B embeddings with temperature ``TEMPERATURE``. With
``TrainConfig.per_recording`` = M > 1 a batch holds B/M recordings, each with M anchors at
different times (one per M-th of the recording, drawn at random within it): the other times of
one recording are then negatives too, so neither task can be solved by telling recordings (or
pieces) apart alone.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ParameterError
from .manifests import Item
from .train_config import TrainConfig

#: InfoNCE temperature (SimCLR / CLMR's range; 0.1 as Spijkervet & Burgoyne).
TEMPERATURE: float = 0.1
#: single-version positives: at most this many seconds from the anchor.
SV_MAX_OFFSET: float = 2.0


class PairBatcher:
    """Batches of positive pairs (the :class:`chromatool.batches.Batcher` interface): item
    ``i`` is an anchor recording; its pair is drawn per batch (fixed per item when ``rng`` is
    None, for validation)."""

    def __init__(self, items: list[Item], hcqts: dict[Path, np.ndarray], features: dict, cfg: TrainConfig):
        from .models import make_config

        self.items, self.hcqts, self.features, self.cfg = items, hcqts, features, cfg
        self.fr = float(features["feature_rate"])
        self.width = int(make_config("embedding", **cfg.model_overrides).context)
        self.versions: dict[str, list[int]] = {}
        for i, it in enumerate(items):
            if it.timemap is None:
                raise ParameterError(f"loss={cfg.loss!r} needs a versions manifest (piece,audio,path): "
                                     f"{it.audio} has no time map")
            self.versions.setdefault(it.piece, []).append(i)
        self.anchors = [i for i, it in enumerate(items)
                        if cfg.loss != "cross-version" or len(self.versions[it.piece]) > 1]
        if not self.anchors:
            raise ParameterError("loss='cross-version' needs pieces with two or more versions "
                                 "(chromatool dataset --versions 2 or more)")

    def epoch_batches(self, rng: np.random.Generator) -> list[list[int]]:
        """Anchor items per batch; with ``per_recording`` M each item is there M times in a row."""
        idx = [self.anchors[i] for i in rng.permutation(len(self.anchors))]
        m = max(1, min(self.cfg.per_recording, self.cfg.batch_size))
        bs = max(1, self.cfg.batch_size // m)
        out = [[i for i in idx[s:s + bs] for _ in range(m)] for s in range(0, len(idx), bs)]
        return [b for b in out if len(b) > 1]

    def _frame(self, it: Item, score_time: float) -> int:
        return int(round(np.interp(score_time, it.timemap[0], it.timemap[1]) * self.fr))

    def pair(self, i: int, rng: np.random.Generator, part: tuple[int, int] = (0, 1)) -> tuple[int, int, int, int]:
        """(anchor item, its centre frame, positive item, its centre frame); the anchor's score
        time lies in the ``part[0]``-th of ``part[1]`` equal parts of the item."""
        it = self.items[i]
        cv = self.cfg.loss == "cross-version"
        j = int(rng.choice([k for k in self.versions[it.piece] if k != i])) if cv else i
        s0, s1 = float(it.timemap[0, 0]), float(it.timemap[0, -1])
        s = s0 + (part[0] + float(rng.random())) / part[1] * (s1 - s0)
        a = self._frame(it, s)
        if cv:
            off = self.cfg.positive_offset
            return i, a, j, self._frame(self.items[j], s + (float(rng.uniform(-off, off)) if off else 0.0))
        return i, a, i, a + int(round(rng.uniform(-SV_MAX_OFFSET, SV_MAX_OFFSET) * self.fr))

    def excerpt(self, i: int, centre: int) -> Any:
        from .deep import model_input

        H = self.hcqts[self.items[i].audio]
        n, w = H.shape[-1], self.width
        a = int(np.clip(centre - w // 2, 0, max(0, n - w)))
        x = np.zeros(H.shape[:2] + (w,), np.float32)
        x[:, :, : min(w, n - a)] = H[:, :, a:a + w]
        return model_input(x, self.features)

    def batch(self, indices: list[int], rng: np.random.Generator | None) -> dict[str, Any]:
        """{"x": (2B, H, width, bins)}: the B anchors, then their positives in the same order."""
        import torch

        counts = Counter(indices)
        seen: dict[int, int] = {}
        pairs = []
        for i in indices:
            k = seen[i] = seen.get(i, -1) + 1
            pairs.append(self.pair(i, rng if rng is not None else np.random.default_rng(i if k == 0 else [i, k]), (k, counts[i])))
        xs = [self.excerpt(i, a) for i, a, _, _ in pairs] + [self.excerpt(j, b) for _, _, j, b in pairs]
        return {"x": torch.stack(xs)}


def info_nce(z, temperature: float = TEMPERATURE):
    """NT-Xent of unit embeddings (2B, D) whose rows k and k + B are positives."""
    import torch
    from torch.nn import functional as F

    b = z.shape[0] // 2
    sim = (z @ z.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(sim, target)
