"""Forms of the networks' "same" convolutions that give the same numbers faster on the CPU
(oneDNN), in inference and in training (torch's autograd differentiates them as they are).

Reformulations of the same sums (the rounding may differ in the last bits; on the packaged models
``extract``'s outputs are bit for bit those of the layers as written):

- **Padding inside the convolution** (:func:`padded_inside`): a symmetric "same" padding done by
  oneDNN in its kernel instead of by a padded copy of the input.
- **Frequency folding** (:func:`folded_conv`): a convolution whose kernel is wide along the
  frequency axis (the ctc-chroma's 3 x 42 "distribute" layer, the multi-pitch prefilter's
  5 x 15) is inefficient in oneDNN when it has few output channels (8 or 40). Folding ``s``
  neighbouring bins into the channel axis ("space to depth" along frequency) turns it into a
  convolution with ``s`` times the input and output channels and a kernel ``ceil((k + s - 1) / s)``
  wide: a few more multiplications (the folded kernel holds zeros) in a shape oneDNN runs near
  its peak. In channels-last memory the fold and the unfold are views, no copies. Measured on
  this project's 2-core CPU (one 1,564-frame chunk, one thread): ctc-chroma distribute layer
  0.51 -> 0.25 s (73k) and 0.26 -> 0.12 s (27k) at ``s = 6``; the multi-pitch prefilter
  0.39 -> 0.22 s at ``s = 2``; 3 x 3 kernels only get slower (:func:`fold_for`).
- **A 3-frame running maximum** (:func:`max_over_3_frames`) as two elementwise maxima instead
  of max pooling (inference only: the two break ties differently in the gradient).

In training, oneDNN's backward of these shapes is fast too: a training step (batch 8, 2 cores,
``benchmarks/train_step.py``) 3.0x faster for the 73k ctc-chroma and 1.5x for the packaged
multi-pitch network than through ``models.Conv2d``'s gradients by forward convolutions.

>>> import torch
>>> layer = torch.nn.Sequential(torch.nn.ZeroPad2d((20, 21, 1, 1)), torch.nn.Conv2d(4, 2, (3, 42)))
>>> x = torch.randn(1, 4, 50, 72)
>>> with torch.no_grad():
...     bool(torch.allclose(folded_conv(layer, x, 6), layer(x), atol=1e-5))
True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: False runs every network's layers as written (``benchmarks/extract.py --network`` and
#: ``benchmarks/train_step.py`` time both).
ENABLED: bool = True

#: Frequency bins per folded group: about one group per 7 bins of kernel width (42 -> 6,
#: 15 -> 2), none for narrow kernels (measured above; 8 and 12 were slower than 6 for 42 bins).
FOLD_KERNEL_BINS = 7


def active(x: torch.Tensor) -> bool:
    """Whether a forward pass on ``x`` takes the forms here (on the CPU; GPUs are unmeasured)."""
    return ENABLED and x.device.type == "cpu"


def same_conv(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A ``(ZeroPad2d, Conv2d)`` "same" convolution of ``x`` in its fastest exact form: folded by
    :func:`fold_for` its kernel width, else padded inside; as written off the CPU or for a
    convolution with groups, strides, dilation or padding of its own."""
    conv = layer[1]
    plain = conv.groups == 1 and conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.padding == (0, 0)
    return folded_conv(layer, x, fold_for(conv.kernel_size[1])) if plain and active(x) else layer(x)


def fold_for(kernel_bins: int) -> int:
    """The fold :func:`folded_conv` uses for a kernel ``kernel_bins`` wide (1: no folding)."""
    return max(1, kernel_bins // FOLD_KERNEL_BINS)


def padded_inside(same_conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A ``(ZeroPad2d, Conv2d)`` pair with symmetric padding done by the convolution itself, not
    by a padded copy of ``x``; an asymmetric one as it is."""
    left, right, top, bottom = same_conv[0].padding  # ZeroPad2d's 4-tuple
    if left != right or top != bottom:
        return same_conv(x)
    conv = same_conv[1]
    return F.conv2d(x, conv.weight, conv.bias, padding=(top, left))


def fold_weight(weight: torch.Tensor, fold: int) -> torch.Tensor:
    """The (fold*O, fold*C, KT, Q) kernel of :func:`folded_conv` for an (O, C, KT, KF) kernel:
    output channel ``r*O + o`` (bin ``r`` of a group), input channel ``u*C + c``, and
    ``W'[r*O+o, u*C+c, t, q] = W[o, c, t, fold*q + u - r]`` where that tap exists, else 0."""
    O, C, KT, KF = weight.shape
    Q = math.ceil((KF + fold - 1) / fold)
    r = torch.arange(fold).view(fold, 1, 1)
    q = torch.arange(Q).view(1, Q, 1)
    u = torch.arange(fold).view(1, 1, fold)
    tap = fold * q + u - r  # (r, q, u)
    valid = (tap >= 0) & (tap < KF)
    W = weight[..., tap.clamp(0, KF - 1)] * valid.to(weight.dtype)  # (O, C, KT, r, q, u)
    return W.permute(3, 0, 5, 1, 2, 4).reshape(fold * O, fold * C, KT, Q)


def folded_conv(same_conv: nn.Module, x: torch.Tensor, fold: int) -> torch.Tensor:
    """The output of a ``(ZeroPad2d, Conv2d)`` "same" convolution (stride 1) on ``x``
    (N, C, frames, bins), computed with ``fold`` bins folded into channels (see the module)."""
    if fold <= 1:
        return padded_inside(same_conv, x)
    conv = same_conv[1]
    left, right, top, bottom = same_conv[0].padding  # ZeroPad2d's 4-tuple
    N, C, T, n_bins = x.shape
    O, _, KT, KF = conv.weight.shape
    Q = math.ceil((KF + fold - 1) / fold)
    groups = math.ceil(n_bins / fold)
    width = fold * (groups + Q - 1)  # >= left + n_bins + right
    x = F.pad(x, (left, width - n_bins - left, top, bottom)).contiguous(memory_format=torch.channels_last)
    x = x.permute(0, 2, 3, 1).reshape(N, T + top + bottom, groups + Q - 1, fold * C).permute(0, 3, 1, 2)
    w = fold_weight(conv.weight, fold).contiguous(memory_format=torch.channels_last)
    b = None if conv.bias is None else conv.bias.repeat(fold)
    y = F.conv2d(x, w, b)  # (N, fold*O, T, groups), channels-last
    y = y.permute(0, 2, 3, 1).reshape(N, T, groups * fold, O).permute(0, 3, 1, 2)
    return y[..., :n_bins]


def max_over_3_frames(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, (3, 1), stride=1, padding=(1, 0))`` (a running maximum over three frames
    of an (N, C, frames, bins) map) as two elementwise maxima of shifted views: the same
    values without the pooling kernel's index bookkeeping."""
    if x.shape[2] < 2:
        return x.clone()
    y = torch.maximum(x[:, :, :-1], x[:, :, 1:])  # y[t] = max(x[t], x[t+1])
    out = torch.empty_like(x)
    out[:, :, 1:-1] = torch.maximum(y[:, :, :-1], x[:, :, 2:])  # empty for 2 frames
    out[:, :, 0], out[:, :, -1] = y[:, :, 0], y[:, :, -1]
    return out
