"""Neural networks on the HCQT: CTC deep chroma (Zalkow & Müller 2020) and Weiss-style
multi-pitch / pitch-class CNNs (Weiss et al. 2021).

Every model takes a batch of HCQTs shaped ``(batch, n_harmonics, n_frames, n_bins)`` (the
torch ``NCHW`` layout with time as height and pitch as width) and returns per-frame logits
shaped ``(batch, n_frames, n_outputs)``; all convolutions are "same" padded in time, so any
number of frames goes in and the same number comes out. Each architecture has one frozen
config dataclass whose fields are stored in a checkpoint, so a model is rebuilt from
``build_model(config_dict)`` alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import defaults as D
from . import fast_conv
from .errors import ModelError

#: Architectures ``build_model`` knows.
ARCHITECTURES: tuple[str, ...] = ("ctc-chroma", "multipitch", "pitchclass", "embedding")


@dataclass(frozen=True)
class CTCChromaConfig:
    """The paper's CTC chroma model (§3): the deep salience network of Bittner et al. with
    reduced kernels, no batch norm, leaky ReLU; a 216-bin salience layer; 12 chroma logits by
    fixed pooling of the bins of each pitch class; one ε logit by a dense layer."""

    arch: str = "ctc-chroma"
    n_harmonics: int = len(D.HCQT_HARMONICS)
    input_views: int = 1  # the harmonics come this many times (2: input normalisation "both")
    n_bins: int = D.N_BINS
    bins_per_octave: int = D.BINS_PER_OCTAVE
    channels: tuple[int, ...] = (64, 32, 32, 32)
    kernel: tuple[int, int] = (3, 3)
    distribute_channels: int = 8
    distribute_kernel: tuple[int, int] = (3, 42)
    negative_slope: float = 0.3

    @property
    def n_outputs(self) -> int:
        return D.N_CHROMA + 1  # 12 pitch classes and the blank ε (last)


@dataclass(frozen=True)
class MultiPitchConfig:
    """A Weiss-style CNN (Weiss et al. 2021, "basic"): prefiltering, binning to semitones,
    time reduction, channel reduction to one map, sigmoid per semitone C1–B6 (72 outputs), or
    a further bin reduction to 12 pitch classes (``arch="pitchclass"``). The kernels are
    smaller than the paper's 15 x 15 prefilter / 75-frame context so that it trains on a CPU."""

    arch: str = "multipitch"
    n_harmonics: int = len(D.HCQT_HARMONICS)
    input_views: int = 1  # the harmonics come this many times (2: input normalisation "both")
    n_bins: int = D.N_BINS
    bins_per_semitone: int = D.BINS_PER_SEMITONE
    prefilter_channels: int = 20
    prefilter_kernel: tuple[int, int] = (5, 15)
    binning_channels: int = 20
    time_channels: int = 10
    time_kernel: int = 25
    dropout: float = 0.2
    negative_slope: float = 0.01

    @property
    def n_semitones(self) -> int:
        return self.n_bins // self.bins_per_semitone

    @property
    def n_outputs(self) -> int:
        return D.N_CHROMA if self.arch == "pitchclass" else self.n_semitones


class _ConvGradByForward(torch.autograd.Function):
    """A stride-1 "valid" conv2d whose gradients are themselves forward convolutions.

    On the CPU, oneDNN's convolution backward for wide kernels with few output channels (the
    3 x 42 "distribute" layer) runs ~9x its forward; as forward convolutions both gradients
    together cost less than twice the forward pass (see benchmarks/train_step.py)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        kt, kf = weight.shape[-2:]
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:  # full correlation with the flipped kernel
            gx = F.conv2d(F.pad(grad, (kf - 1, kf - 1, kt - 1, kt - 1)), weight.flip(2, 3).transpose(0, 1))
        if ctx.needs_input_grad[1]:  # batch as channels: the gradient map is the kernel
            gw = F.conv2d(x.transpose(0, 1), grad.transpose(0, 1)).transpose(0, 1)
        if ctx.needs_input_grad[2]:
            gb = grad.sum((0, 2, 3))
        return gx, gw, gb


#: Both networks run their CPU convolutions channels-last (oneDNN's faster kernels;
#: benchmarks/train_step.py: with fast_conv's forms a ctc-chroma training step 1.5x faster).
CHANNELS_LAST: bool = True


def _cpu_layout(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if CHANNELS_LAST and x.device.type == "cpu" else x


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and state dict) that, when training on the CPU with the
    default stride/padding/dilation/groups, takes its gradients by forward convolutions. Since
    session 30 the networks' "same" convolutions train through ``fast_conv`` instead (1.5-3x
    faster a step); this path is what they run as written (``fast_conv.ENABLED = False``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plain = (self.stride == (1, 1) and self.padding == (0, 0) and self.dilation == (1, 1)
                 and self.groups == 1)
        if (plain and x.device.type == "cpu" and torch.is_grad_enabled() and self.weight.requires_grad
                and not torch.is_autocast_enabled("cpu")):  # its float32 gradients: not under autocast
            return _ConvGradByForward.apply(x, self.weight, self.bias)
        return super().forward(x)


def _same_conv(c_in: int, c_out: int, kernel: tuple[int, int]) -> nn.Module:
    """A conv2d with TensorFlow's "same" padding (for even kernels: one more after than before)."""
    kt, kf = kernel
    pad = ((kf - 1) // 2, kf // 2, (kt - 1) // 2, kt // 2)  # F.pad order: last dim first
    return nn.Sequential(nn.ZeroPad2d(pad), Conv2d(c_in, c_out, kernel))


def chroma_pooling_matrix(n_bins: int = D.N_BINS, bins_per_octave: int = D.BINS_PER_OCTAVE) -> np.ndarray:
    """The fixed 0/1 (n_bins, 12) matrix summing bins ``b, b+1, .. b+k-1`` (k bins per semitone)
    of pitch class ``c = (b // k) % 12`` (bin 0 = C1)."""
    per_semitone = bins_per_octave // D.N_CHROMA
    P = np.zeros((n_bins, D.N_CHROMA), dtype=np.float32)
    P[np.arange(n_bins), (np.arange(n_bins) // per_semitone) % D.N_CHROMA] = 1.0
    return P


#: Initial biases of a new ctc-chroma: salience sigmoid(-3) ≈ 0.05 per bin, ε ~30 % at the start.
_INIT_SALIENCE_BIAS = -3.0
_INIT_EPS_BIAS = 2.5


class CTCChroma(nn.Module):
    def __init__(self, config: CTCChromaConfig = CTCChromaConfig()):
        super().__init__()
        self.config = config
        chans = (config.n_harmonics * config.input_views, *config.channels)
        self.convs = nn.ModuleList(_same_conv(a, b, tuple(config.kernel)) for a, b in zip(chans[:-1], chans[1:]))
        self.distribute = _same_conv(chans[-1], config.distribute_channels, tuple(config.distribute_kernel))
        self.squishy = nn.Conv2d(config.distribute_channels, 1, 1)
        self.register_buffer("chroma_pool", torch.from_numpy(
            chroma_pooling_matrix(config.n_bins, config.bins_per_octave)), persistent=False)
        self.eps_pool = nn.Linear(config.n_bins, 1)
        # Start sparse, with ε likely (as CTC models start blank-heavy): with torch's default
        # biases the 18 bins of a pitch class sum to ~9, the chroma logits swamp ε and CTC
        # training sits for thousands of steps on a loss worse than uniform.
        with torch.no_grad():
            self.squishy.bias.fill_(_INIT_SALIENCE_BIAS)
            self.eps_pool.bias.fill_(_INIT_EPS_BIAS)

    def salience_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pitch salience before the sigmoid, shape (batch, n_frames, n_bins)."""
        slope = self.config.negative_slope
        x = _cpu_layout(x)
        inplace = not torch.is_grad_enabled()
        for layer in (*self.convs, self.distribute):
            x = F.leaky_relu(fast_conv.same_conv(layer, x), slope, inplace=inplace)
        return self.squishy(x)[:, 0].contiguous()

    def salience(self, x: torch.Tensor) -> torch.Tensor:
        """Pitch salience in [0, 1], shape (batch, n_frames, n_bins)."""
        return torch.sigmoid(self.salience_logits(x))

    def forward(self, x: torch.Tensor, output: str = "ctc") -> torch.Tensor:
        """Logits (batch, n_frames, 13): chroma C..B then ε; softmax gives the CTC posteriors.
        ``output="salience"``: the salience logits (batch, n_frames, n_bins) instead, the
        target of strongly aligned pre-training (``train --loss bce --arch ctc-chroma``)."""
        if output == "salience":
            return self.salience_logits(x)
        s = self.salience(x)
        return torch.cat([s @ self.chroma_pool, self.eps_pool(s)], dim=-1)


class MultiPitch(nn.Module):
    def __init__(self, config: MultiPitchConfig = MultiPitchConfig()):
        super().__init__()
        self.config = config
        c, k = config, config.bins_per_semitone
        self.prefilter = _same_conv(c.n_harmonics * c.input_views, c.prefilter_channels, tuple(c.prefilter_kernel))
        self.binning = nn.Sequential(nn.ZeroPad2d((k - 1, 0, 1, 1)),
                                     nn.Conv2d(c.prefilter_channels, c.binning_channels, (3, 2 * k - 1),
                                               stride=(1, k)))
        self.time = _same_conv(c.binning_channels, c.time_channels, (c.time_kernel, 1))
        self.reduce = nn.Conv2d(c.time_channels, 1, 1)
        if c.arch == "pitchclass":
            # bin reduction (Weiss: 72 - 11 = 61-wide kernel → 12 pitch classes)
            self.classes = nn.Conv2d(1, 1, (1, c.n_semitones - D.N_CHROMA + 1))
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, n_frames, 72 semitones from C1, or 12 pitch classes from C)."""
        a = self.config.negative_slope
        x = _cpu_layout(x)
        inplace = not torch.is_grad_enabled()
        x = self.drop(F.leaky_relu(fast_conv.same_conv(self.prefilter, x), a, inplace=inplace))
        x = (fast_conv.max_over_3_frames(x) if inplace and fast_conv.active(x)
             else F.max_pool2d(x, (3, 1), stride=1, padding=(1, 0)))
        x = self.drop(F.leaky_relu(self.binning(x), a, inplace=inplace))
        x = self.drop(F.leaky_relu(fast_conv.same_conv(self.time, x), a, inplace=inplace))
        x = self.reduce(x)
        if self.config.arch == "pitchclass":
            x = self.classes(F.leaky_relu(x, a))
        return x[:, 0]


def _embedding_config() -> type:
    from .embedding import EmbeddingConfig

    return EmbeddingConfig


_CONFIGS: dict[str, type] = {"ctc-chroma": CTCChromaConfig, "multipitch": MultiPitchConfig,
                             "pitchclass": MultiPitchConfig, "embedding": _embedding_config()}


def make_config(arch: str, **overrides: Any):
    """The config of an architecture with its defaults, some fields overridden."""
    if arch not in _CONFIGS:
        raise ModelError(f"unknown model architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    cls = _CONFIGS[arch]
    names = {f.name for f in fields(cls)}
    unknown = set(overrides) - names
    if unknown:
        raise ModelError(f"unknown {arch} setting(s): {', '.join(sorted(unknown))}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return cls(**{**values, "arch": arch})


def config_from_dict(stored: dict[str, Any]):
    """The config dataclass of a config dict as a checkpoint stores it (missing fields take
    their defaults)."""
    return make_config(stored.get("arch", ""), **{k: v for k, v in stored.items() if k != "arch"})


def config_dict(config) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def build_model(config: dict[str, Any] | CTCChromaConfig | MultiPitchConfig) -> nn.Module:
    """A freshly initialised model from a config (dataclass or the dict a checkpoint holds)."""
    if isinstance(config, dict):
        config = config_from_dict(config)
    if config.arch == "embedding":
        from .embedding import Embedding

        return Embedding(config)
    return CTCChroma(config) if config.arch == "ctc-chroma" else MultiPitch(config)


def same_config(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two stored configs build the same model (a field missing from an older
    checkpoint takes its default)."""
    return config_dict(config_from_dict(a)) == config_dict(config_from_dict(b))


def config_differences(a: dict[str, Any], b: dict[str, Any]) -> str:
    """``a``'s architecture and the settings in which it differs from ``b``, as
    ``--model-setting`` writes them (``"multipitch: prefilter_channels=40"``)."""
    differ = [f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
              for k, v in a.items() if k != "arch" and b.get(k, v) != v]
    return str(a.get("arch")) + (f": {', '.join(differ)}" if differ else "")


def widen_inputs(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``state_dict`` of a model that read one view of the HCQT, for ``model`` that reads more
    (``input_views``): the first layer's weights for the added views start at zero, so the
    widened model computes what the narrow one did and training takes it on from there."""
    own = model.state_dict()
    out = dict(state_dict)
    for k, w in state_dict.items():
        target = own.get(k)
        if target is not None and w.dim() == 4 and target.shape[1] > w.shape[1] \
                and target.shape[1] % w.shape[1] == 0 and target.shape[0] == w.shape[0]:
            out[k] = torch.cat([w, w.new_zeros((w.shape[0], target.shape[1] - w.shape[1], *w.shape[2:]))], dim=1)
    return out


def n_parameters(model: nn.Module) -> int:
    """Trainable parameters (the fixed chroma pooling is not one)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_keras_weights(model: CTCChroma, arrays: dict[str, np.ndarray]) -> CTCChroma:
    """Load a Keras/TF ``ctc_chroma`` weight set (kernels (k_time, k_pitch, c_in, c_out), dense
    (in, out), names bendy1, bendy2, smoothy1, smoothy2, distribute, squishy, eps_pool) into
    ``model``. Checks that the file's fixed chroma pooling is chromatool's."""
    names = ("bendy1", "bendy2", "smoothy1", "smoothy2")
    try:
        with torch.no_grad():
            for conv, name in zip([*model.convs, model.distribute], [*names, "distribute"]):
                conv[1].weight.copy_(torch.from_numpy(np.transpose(arrays[f"{name}/kernel"], (3, 2, 0, 1))))
                conv[1].bias.copy_(torch.from_numpy(arrays[f"{name}/bias"]))
            model.squishy.weight.copy_(torch.from_numpy(np.transpose(arrays["squishy/kernel"], (3, 2, 0, 1))))
            model.squishy.bias.copy_(torch.from_numpy(arrays["squishy/bias"]))
            model.eps_pool.weight.copy_(torch.from_numpy(arrays["eps_pool/kernel"].T))
            model.eps_pool.bias.copy_(torch.from_numpy(arrays["eps_pool/bias"]))
    except (KeyError, RuntimeError) as exc:
        raise ModelError(f"weights do not fit the ctc-chroma architecture: {exc}") from None
    pool = arrays.get("chroma_pool/kernel")
    if pool is not None and not np.array_equal(pool, model.chroma_pool.numpy()):
        raise ModelError("the weights' chroma pooling differs from chromatool's (bin 0 = C1)")
    return model
