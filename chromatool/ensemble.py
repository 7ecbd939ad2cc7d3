"""Several multi-pitch networks as one wider network that computes the mean of their logits.

Networks trained on different views of the HCQT (one on its log level, ``--input-norm none``,
one on each frame l2-normalised, ``l2``) make different mistakes; the mean of their logits is
a better salience than either. ``merge_multipitch`` writes such an ensemble as a single
``multipitch`` network reading both views (``input_views=2``): its layers are the members'
layers side by side (block-diagonal weights, so that no member sees another's channels) and
its last 1 x 1 layer averages their outputs. It runs, loads and trains as any other model;
training it further (``chromatool train --init``) lets the members' channels mix.

>>> import torch
>>> from chromatool.models import MultiPitch, MultiPitchConfig
>>> a, b = MultiPitch(MultiPitchConfig()).eval(), MultiPitch(MultiPitchConfig()).eval()
>>> m = merge_multipitch([(a.state_dict(), "none"), (b.state_dict(), "l2")], a.config).eval()
>>> x = torch.rand(1, 6, 50, 216)
>>> unit = x / x.norm(dim=-1, keepdim=True)
>>> bool(torch.allclose(m(torch.cat([x, unit], 1)), (a(x) + b(unit)) / 2, atol=1e-5))
True
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .deep import BOTH_VIEWS
from .errors import ModelError

#: The convolutions of ``models.MultiPitch`` before its last 1 x 1 layer, the first reading the input.
_CONVS: tuple[str, ...] = ("prefilter.1", "binning.1", "time.1")


def _block_diagonal(blocks: list[torch.Tensor], in_offsets: list[int], in_total: int) -> torch.Tensor:
    """Conv weights (out, in, kh, kw) placed on the diagonal: member k's outputs follow member
    k-1's and read only input channels ``in_offsets[k]`` onwards."""
    out_total = sum(w.shape[0] for w in blocks)
    merged = blocks[0].new_zeros((out_total, in_total, *blocks[0].shape[2:]))
    row = 0
    for w, col in zip(blocks, in_offsets):
        merged[row:row + w.shape[0], col:col + w.shape[1]] = w
        row += w.shape[0]
    return merged


def merge_multipitch(members: list[tuple[dict[str, torch.Tensor], str]], config):
    """One ``MultiPitch`` network reading both views (``deep.BOTH_VIEWS``) whose logits are the
    mean of the ``members``' logits: each member is ``(state_dict, input_norm)``, a single-view
    network of the architecture ``config`` (a ``MultiPitchConfig``) reading the HCQT normalised
    as ``input_norm`` ("none" or "l2")."""
    from .models import MultiPitch

    if len(members) < 2:
        raise ModelError("an ensemble needs at least two members")
    if config.arch != "multipitch" or config.input_views != 1:
        raise ModelError("members must be single-view multipitch networks")
    unknown = [norm for _, norm in members if norm not in BOTH_VIEWS]
    if unknown:
        raise ModelError(f"unknown member input normalisation {unknown[0]!r}; choose {' or '.join(BOTH_VIEWS)}")
    k, c = len(members), config
    wide = replace(c, input_views=len(BOTH_VIEWS), prefilter_channels=k * c.prefilter_channels,
                   binning_channels=k * c.binning_channels, time_channels=k * c.time_channels)
    state: dict[str, torch.Tensor] = {}
    in_offsets = [BOTH_VIEWS.index(norm) * c.n_harmonics for _, norm in members]
    in_total = len(BOTH_VIEWS) * c.n_harmonics
    for layer in _CONVS:
        weights = [s[f"{layer}.weight"] for s, _ in members]
        state[f"{layer}.weight"] = _block_diagonal(weights, in_offsets, in_total)
        state[f"{layer}.bias"] = torch.cat([s[f"{layer}.bias"] for s, _ in members])
        in_offsets = [i * w.shape[0] for i, w in enumerate(weights)]
        in_total = sum(w.shape[0] for w in weights)
    # the last 1 x 1 layer: the mean of the members' single output maps
    state["reduce.weight"] = torch.cat([s["reduce.weight"] for s, _ in members], dim=1) / k
    state["reduce.bias"] = sum(s["reduce.bias"] for s, _ in members) / k
    model = MultiPitch(wide)
    model.load_state_dict(state)
    return model
