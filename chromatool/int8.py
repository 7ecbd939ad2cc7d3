"""8-bit integer inference of the ctc-chroma and multi-pitch networks on the CPU
(``precision="int8"``; what ``"auto"`` picks on a CPU with VNNI units, see :mod:`chromatool.device`).

Each convolution runs in oneDNN's u8 x s8 kernels (``torch.ops.onednn.qconv2d_pointwise``):
the weights quantised once per output channel (symmetric, 127 steps either side of 0), the
layer's input quantised **per chunk** to 256 steps between its own minimum and maximum (no
calibration data: whatever a recording holds, nothing is clipped), products summed exactly in
32-bit integers and the output given back in float32, where the leaky ReLU runs before the next
layer's input is quantised. A VNNI core does four 8-bit multiply-adds where it does one in
float32: measured on this project's 2-core CPU, one 1,564-frame chunk on one thread, the
packaged multi-pitch network 0.57 -> 0.24 s, the packaged ctc-chroma 0.23 -> 0.16 s
(``benchmarks/extract.py --network`` has the whole-file figures and their validation).

The layout follows :mod:`chromatool.fast_conv`: channels-last, symmetric "same" padding inside
the convolution (oneDNN pads with the zero point, i.e. a real 0), the ctc-chroma's wide
distribute layer folded, the 3-frame maximum on the 8-bit codes (quantisation is monotone, so
the maximum commutes with it). Integer sums do not depend on the thread count, so the outputs
are reproducible like float32's.

>>> import torch
>>> from chromatool.models import MultiPitch, MultiPitchConfig
>>> net = MultiPitch(MultiPitchConfig()).eval()
>>> x = torch.rand(1, 6, 100, 216)
>>> with torch.inference_mode():
...     gap = (torch.sigmoid(Int8Network(net)(x)) - torch.sigmoid(net(x))).abs().max()
>>> bool(gap < 0.05)
True
"""

from __future__ import annotations

import math
import warnings
import weakref

import torch
import torch.nn.functional as F
from torch import nn

from . import fast_conv
from .errors import ModelError

# torch deprecates its quantized dtypes (torch.quint8 ...); only quantize_per_tensor's kernel is
# used here, to make u8 codes. A filter, not catch_warnings: the chunks run on several threads.
warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)

_LEVELS = 255  # u8 codes 0..255
_WEIGHT_LEVELS = 127  # s8 codes -127..127
#: Input channels of a layer oneDNN sums wrongly are padded to a multiple of this.
CHANNEL_MULTIPLE = 32


def supported() -> bool:
    """Whether this torch build and CPU run oneDNN's 8-bit convolutions at speed (VNNI)."""
    ops = getattr(torch.ops, "onednn", None)
    return (hasattr(torch, "quantize_per_tensor") and ops is not None and hasattr(ops, "qconv2d_pointwise")
            and hasattr(ops, "qconv_prepack") and bool(getattr(torch.cpu, "_is_vnni_supported", lambda: False)()))


def quantize_input(x: torch.Tensor) -> tuple[torch.Tensor, float, int]:
    """``x`` as u8 codes (its layout kept) with the scale and zero point of 256 steps from
    min(x, 0) to max(x, 0)."""
    flat = x.permute(0, 2, 3, 1) if x.is_contiguous(memory_format=torch.channels_last) else x
    lo, hi = torch.aminmax(flat.reshape(-1))
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / _LEVELS if hi > lo else 1.0
    zero = int(round(-lo / scale))
    return torch.quantize_per_tensor(x, scale, zero, torch.quint8).int_repr(), scale, zero


class QuantizedConv:
    """A convolution's weights as s8 codes per output channel; called on u8 codes, gives the
    float32 output (bias added).

    Built, it checks oneDNN's sums against exact ones on a small probe: on CPUs with AMX units
    oneDNN 3.x gets some shapes wrong (measured: 16 or 24 input channels with a kernel 8 or 16
    bins wide, as in the multi-pitch network's folded prefilter; the whole output off). Such a
    layer then runs with its input channels padded with zeros to a multiple of
    ``CHANNEL_MULTIPLE``, checked again; a layer still wrong raises ``ModelError`` (``auto``
    precision then runs the network in float32)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, *, padding=(0, 0), stride=(1, 1),
                 channel_multiple: int = 1):
        w = weight.detach().float()
        self.w_scales = (w.abs().amax(dim=(1, 2, 3)).clamp_min(1e-12) / _WEIGHT_LEVELS).double()
        codes = torch.round(w / self.w_scales.float()[:, None, None, None])
        self.codes = codes.clamp(-_WEIGHT_LEVELS, _WEIGHT_LEVELS).to(torch.int8)
        self.w_zeros = torch.zeros(len(self.w_scales), dtype=torch.long)
        self.bias = None if bias is None else bias.detach().float()
        self.padding, self.stride = list(padding), list(stride)
        self.in_channels = self.codes.shape[1]
        self._pad_channels(channel_multiple)
        if channel_multiple == 1 and supported() and not self.exact():
            self._pad_channels(CHANNEL_MULTIPLE)
            if not self.exact():
                raise ModelError(f"oneDNN's 8-bit convolution gives wrong sums on this CPU for weights "
                                 f"{tuple(weight.shape)}: use precision 'float32'")

    def _pad_channels(self, multiple: int) -> None:
        extra = -self.in_channels % multiple
        self.codes = F.pad(self.codes[:, :self.in_channels], (0, 0, 0, 0, 0, extra))

    def exact(self) -> bool:
        """Whether oneDNN gives this layer's exact sums on a random probe (two zero points)."""
        kh, kw = self.codes.shape[2:]
        gen = torch.Generator().manual_seed(0)
        q = torch.randint(0, 256, (1, self.in_channels, kh + 4, kw + 2), generator=gen, dtype=torch.uint8)
        w = self.codes[:, :self.in_channels].double() * self.w_scales[:, None, None, None]
        for zero in (0, 7):
            want = F.conv2d((q.double() - zero) / _LEVELS, w, None if self.bias is None else self.bias.double(),
                            self.stride, self.padding)
            got = self(q.contiguous(memory_format=torch.channels_last), 1.0 / _LEVELS, zero).double()
            if (got - want).abs().max() > 1e-4 * (1.0 + want.abs().max()):
                return False
        return True

    def __call__(self, q: torch.Tensor, scale: float, zero: int) -> torch.Tensor:
        onednn = torch.ops.onednn
        if self.codes.shape[1] > q.shape[1]:  # channels padded with real zeros
            q = F.pad(q, (0, 0, 0, 0, 0, self.codes.shape[1] - q.shape[1]), value=zero)
            q = q.contiguous(memory_format=torch.channels_last)
        packed = onednn.qconv_prepack(self.codes, self.w_scales, scale, zero, self.stride, self.padding,
                                      [1, 1], 1, None)
        return onednn.qconv2d_pointwise(q, scale, zero, packed, self.w_scales, self.w_zeros, self.bias,
                                        self.stride, self.padding, [1, 1], 1, 1.0, 0, torch.float32,
                                        "none", [], "")


class FoldedQuantizedConv:
    """:func:`chromatool.fast_conv.folded_conv` on u8 codes: a ``(ZeroPad2d, Conv2d)`` "same"
    convolution with ``fold`` frequency bins folded into channels."""

    def __init__(self, same_conv: nn.Module, fold: int):
        conv = same_conv[1]
        self.pad, self.fold = same_conv[0].padding, fold
        self.out_channels, _, _, self.kernel_bins = conv.weight.shape
        bias = None if conv.bias is None else conv.bias.detach().repeat(fold)
        self.conv = QuantizedConv(fast_conv.fold_weight(conv.weight.detach(), fold), bias)

    def __call__(self, q: torch.Tensor, scale: float, zero: int) -> torch.Tensor:
        left, _, top, bottom = self.pad
        fold, n_out = self.fold, self.out_channels
        N, C, T, n_bins = q.shape
        Q = math.ceil((self.kernel_bins + fold - 1) / fold)
        groups = math.ceil(n_bins / fold)
        width = fold * (groups + Q - 1)
        q = F.pad(q, (left, width - n_bins - left, top, bottom), value=zero).contiguous(memory_format=torch.channels_last)
        q = q.permute(0, 2, 3, 1).reshape(N, T + top + bottom, groups + Q - 1, fold * C).permute(0, 3, 1, 2)
        y = self.conv(q, scale, zero)
        return y.permute(0, 2, 3, 1).reshape(N, T, groups * fold, n_out).permute(0, 3, 1, 2)[..., :n_bins]


def _same(same_conv: nn.Module):
    conv = same_conv[1]
    fold = fast_conv.fold_for(conv.kernel_size[1])
    if fold > 1:
        return FoldedQuantizedConv(same_conv, fold)
    left, right, top, bottom = same_conv[0].padding
    if left != right or top != bottom:
        raise ModelError("int8 inference needs symmetric 'same' padding or a folded layer")
    return QuantizedConv(conv.weight, conv.bias, padding=(top, left))


class Int8Network:
    """A ctc-chroma or multipitch network's forward pass (same input, same logits) with its
    convolutions in 8 bits; the last 1 x 1 layers and the heads in float32."""

    def __init__(self, model: nn.Module):
        from .models import CTCChroma, MultiPitch

        self.model = model
        if isinstance(model, CTCChroma):
            self.layers = [(_same(layer), False) for layer in (*model.convs, model.distribute)]
        elif isinstance(model, MultiPitch) and model.config.arch == "multipitch":
            k = model.config.bins_per_semitone
            binning = model.binning[1]
            # ZeroPad2d((k - 1, 0, 1, 1)) then stride k: padding (1, k - 1) on both sides gives
            # the same windows (the right one never completes a window)
            self.layers = [(_same(model.prefilter), False),  # (layer, 3-frame max pooling of its input)
                           (QuantizedConv(binning.weight, binning.bias, padding=(1, k - 1), stride=binning.stride), True),
                           (_same(model.time), False)]
        else:
            raise ModelError(f"int8 inference runs ctc-chroma and multipitch networks, not {model.config.arch}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from .models import CTCChroma

        m = self.model
        slope = m.config.negative_slope
        x = x.contiguous(memory_format=torch.channels_last)
        for layer, pooled in self.layers:
            q, scale, zero = quantize_input(x)
            if pooled:  # on the codes: quantisation is monotone
                q = fast_conv.max_over_3_frames(q)
            x = F.leaky_relu_(layer(q, scale, zero), slope)
        if isinstance(m, CTCChroma):
            s = torch.sigmoid(m.squishy(x)[:, 0])
            return torch.cat([s @ m.chroma_pool, m.eps_pool(s)], dim=-1)
        return m.reduce(x)[:, 0]


_NETWORKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def runs(model: nn.Module) -> bool:
    """Whether :class:`Int8Network` takes ``model`` (``"auto"`` falls back to float32 where not)."""
    try:
        int8_network(model)
    except ModelError:
        return False
    return True


def int8_network(model: nn.Module) -> Int8Network:
    """The :class:`Int8Network` of ``model``, built once per model object (its weights as they
    are then: a model trained further needs a new one)."""
    if model not in _NETWORKS:
        _NETWORKS[model] = Int8Network(model)
    return _NETWORKS[model]
