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

from .errors import ModelError

#: The view of the HCQT each input normalisation is in a model that reads both (``deep.model_input``).
VIEW_OF_NORM: dict[str, int] = {"none": 0, "l2": 1}
#: The convolutions of ``models.MultiPitch`` in order, the first reading the input.
_LAYERS: tuple[str, ...] = ("prefilter.1", "binning.1", "time.1", "reduce")


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
    """One ``MultiPitch`` network (``input_views=2``) whose logits are the mean of the
    ``members``' logits: each member is ``(state_dict, input_norm)``, a single-view network of
    the architecture ``config`` (a ``MultiPitchConfig``) reading the HCQT normalised as
    ``input_norm`` ("none" or "l2")."""
    from .models import MultiPitch

    if len(members) < 2:
        raise ModelError("an ensemble needs at least two members")
    if config.arch != "multipitch" or config.input_views != 1:
        raise ModelError("members must be single-view multipitch networks")
    unknown = [norm for _, norm in members if norm not in VIEW_OF_NORM]
    if unknown:
        raise ModelError(f"unknown member input normalisation {unknown[0]!r}; choose none or l2")
    k = len(members)
    c = config
    wide = replace(c, input_views=2, prefilter_channels=k * c.prefilter_channels,
                   binning_channels=k * c.binning_channels, time_channels=k * c.time_channels)
    state: dict[str, torch.Tensor] = {}
    n_in = c.n_harmonics
    in_offsets = [VIEW_OF_NORM[norm] * n_in for _, norm in members]
    in_total = 2 * n_in
    for layer in _LAYERS:
        weights = [s[f"{layer}.weight"] for s, _ in members]
        biases = [s[f"{layer}.bias"] for s, _ in members]
        if layer == "reduce":  # the mean of the members' single output maps
            state[f"{layer}.weight"] = torch.cat(weights, dim=1) / k
            state[f"{layer}.bias"] = sum(biases) / k
            break
        state[f"{layer}.weight"] = _block_diagonal(weights, in_offsets, in_total)
        state[f"{layer}.bias"] = torch.cat(biases)
        in_offsets = [i * w.shape[0] for i, w in enumerate(weights)]
        in_total = sum(w.shape[0] for w in weights)
    model = MultiPitch(wide)
    model.load_state_dict(state)
    return model
