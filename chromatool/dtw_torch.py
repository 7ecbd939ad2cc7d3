"""The batched subsequence-DTW matcher of :mod:`chromatool.dtw` in torch, for CUDA.

Documents are processed together as a padded batch, one column at a time; each column is a
handful of vectorised tensor operations over (documents × query rows). Same steps, weights,
masks and results as :func:`chromatool.dtw.match_queries` (a test compares them on the CPU).
"""

from __future__ import annotations

import numpy as np

from . import defaults as D
from .dtw import _BIG, _check_fast_steps
from .errors import ParameterError

#: Cost cells per document chunk on the device (bounds device memory).
_CHUNK_CELLS = 1 << 28


def match_queries_torch(queries: list[np.ndarray], docs: list[np.ndarray], *, device: str = "cuda",
                        step_sizes=D.DTW_STEP_SIZES, step_weights=D.DTW_STEP_WEIGHTS
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Same contract as :func:`chromatool.dtw.match_queries`."""
    import torch

    from .features import normalize

    w21, w12, w11 = _check_fast_steps(step_sizes, step_weights)
    if not queries or not docs:
        raise ParameterError("need at least one query and one document")
    Q = torch.as_tensor(np.concatenate([normalize(q) for q in queries], axis=1), device=device)
    lens_np = np.array([q.shape[1] for q in queries])
    ends_np = np.cumsum(lens_np) - 1
    first = np.concatenate([[0], ends_np[:-1] + 1])
    Ntot = Q.shape[1]
    pos = np.arange(Ntot) - np.repeat(first, lens_np)
    big = float(_BIG)
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)  # noqa: E731
    smask, mask1, mask2 = t(np.where(pos == 0, 0, big)), t(np.where(pos >= 1, 0, big)), t(np.where(pos >= 2, 0, big))
    ends = torch.as_tensor(ends_np + 2, device=device)
    lens = t(lens_np)
    cost = np.full((len(queries), len(docs)), np.inf)
    end = np.full((len(queries), len(docs)), -1, dtype=np.int64)
    order = np.argsort([d.shape[1] for d in docs])  # similar lengths share a chunk
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and (j + 1 - i) * docs[order[j]].shape[1] * Ntot <= _CHUNK_CELLS:
            j += 1
        idx = order[i:j]
        M = max(docs[k].shape[1] for k in idx)
        Y = torch.zeros(len(idx), M, Q.shape[0], device=device)
        dl = torch.as_tensor([docs[k].shape[1] for k in idx], device=device)
        for r, k in enumerate(idx):
            Y[r, : docs[k].shape[1]] = torch.as_tensor(normalize(docs[k]).T, device=device)
        S1 = torch.full((len(idx), Ntot + 2), big, device=device)
        S2 = S1.clone()
        best = torch.full((len(idx), len(queries)), float("inf"), device=device)
        arg = torch.full((len(idx), len(queries)), -1, dtype=torch.long, device=device)
        for m in range(M):
            c = 1.0 - Y[:, m] @ Q  # (B, Ntot)
            a = S1[:, 1:-1] + mask1 + w11 * c
            b = S1[:, :-2] + mask2 + w21 * c
            e = S2[:, 1:-1] + mask1 + w12 * c
            cur = torch.minimum(torch.minimum(a, b), torch.minimum(e, smask + c))
            cur = torch.cat([S1[:, :2], cur], dim=1)
            v = cur[:, ends]
            v = torch.where(v < 1e29, v / lens, torch.full_like(v, float("inf")))
            better = (v < best) & (m < dl)[:, None]
            best = torch.where(better, v, best)
            arg = torch.where(better, torch.full_like(arg, m), arg)
            S2, S1 = S1, cur
        cost[:, idx] = best.T.cpu().numpy()
        end[:, idx] = arg.T.cpu().numpy()
        i = j
    return cost, end
