"""The CQT engine: a plan of bins grouped by decimation level, zero-phase decimation, analysis
frames centred on the frame times, and long signals in aligned overlapping blocks.

The CQT is computed at the feature rate directly (a 25 Hz hop is 882 samples at 22050 Hz, which
librosa cannot halve octave by octave). Each group of bins is evaluated at the lowest sample rate
that still holds it — the signal is decimated by two with a zero-phase FIR filter as often as
needed — and the analysis frames of a decimated signal are centred on the sample nearest to the
frame time. The filters are librosa's (Hann-windowed complex exponentials, ℓ1-normalised, lengths
``Q * sr / f``) and the output is scaled as librosa's ``cqt(..., scale=True)``, so the magnitudes
agree with ``librosa.cqt`` at identical parameters (see ``benchmarks/features.py``).
:mod:`chromatool.features` builds the public features on it; :mod:`chromatool.hcqt_torch` is the
same engine in torch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import defaults as D
from .errors import ParameterError

#: A CQT implementation: (signal, plan) → magnitude (n_bins, n_frames).
Engine = Callable[[np.ndarray, "CQTPlan"], np.ndarray]

#: Frames per analysis block of a long signal (11 min at 25 Hz): bounds the CQT's working
#: memory; each block is extended by the filters' support, so results do not depend on it.
BLOCK_FRAMES: int = 16384

#: Decimation filter: zero-phase low-pass at half the input Nyquist, 80 dB stop band.
_DECIMATION_TAPS = 61  # 4k+1 so that the group delay (30) is even
_DECIMATION_BETA = 7.857
#: A bin may be computed at sample rate ``s`` when its upper band edge is below this share of ``s``.
_PASSBAND = 0.4
#: Hann window bandwidth (librosa.filters.window_bandwidth("hann")).
_HANN_BANDWIDTH = 1.50018310546875




# --------------------------------------------------------------------------------------------
# The CQT plan: bins grouped by decimation level, with their frequency-domain kernels
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Level:
    decimation: int  # 2**k
    n_fft: int
    bins: np.ndarray  # indices into the plan's frequency list
    kernel: np.ndarray  # (n_fft // 2 + 1, n_bins_level) complex64, conj FFT of the filters


@dataclass(frozen=True)
class CQTPlan:
    """Everything needed to compute a CQT of given frequencies at a given rate."""

    sr: int
    hop: int
    freqs: np.ndarray
    scale: np.ndarray  # sqrt of the full-rate filter lengths (librosa's scale=True)
    levels: tuple[_Level, ...]
    decimation_filter: np.ndarray

    @property
    def max_decimation(self) -> int:
        return max(lv.decimation for lv in self.levels)

    @property
    def support(self) -> int:
        """Samples (at ``sr``) on each side of a frame centre that its values depend on: the
        longest analysis frame plus the reach of the cascaded decimation filters."""
        frame = max(lv.n_fft // 2 * lv.decimation for lv in self.levels)
        return frame + self.decimation_filter.size * self.max_decimation

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.hop


def cqt_frequencies(*, fmin: float = D.FMIN, n_bins: int = D.N_BINS,
                    bins_per_octave: int = D.BINS_PER_OCTAVE) -> np.ndarray:
    """Centre frequencies (Hz) of a constant-Q filter bank."""
    return fmin * 2.0 ** (np.arange(n_bins) / bins_per_octave)


@functools.lru_cache(maxsize=32)
def cqt_plan(*, freqs: tuple[float, ...], sr: int, hop: int, bins_per_octave: int) -> CQTPlan:
    """Build (and cache) the kernels for a CQT of ``freqs`` at hop ``hop``."""
    f = np.asarray(freqs, dtype=np.float64)
    if np.any(f <= 0) or np.any(np.diff(f) <= 0):
        raise ParameterError("CQT frequencies must be positive and strictly increasing")
    r = 2.0 ** (2.0 / bins_per_octave)
    alpha = (r - 1.0) / (r + 1.0)
    q = 1.0 / alpha
    lengths = q * sr / f
    cutoff = f * (1.0 + 0.5 * _HANN_BANDWIDTH / q)
    if cutoff.max() > sr / 2:
        raise ParameterError(
            f"CQT bin at {f.max():.1f} Hz reaches above the Nyquist frequency {sr / 2:.0f} Hz; "
            "use fewer bins or a lower fmin"
        )
    # Decimation level of each bin: the largest k with cutoff <= _PASSBAND * sr / 2**k.
    k = np.floor(np.log2(_PASSBAND * sr / cutoff)).astype(int)
    k = np.clip(k, 0, None)
    levels = []
    for level in sorted(set(k.tolist())):
        idx = np.flatnonzero(k == level)
        d = 2**level
        sr_d = sr / d
        lens = lengths[idx] / d
        n_fft = int(2 ** np.ceil(np.log2(lens.max() + 1)))
        kernel = np.zeros((n_fft // 2 + 1, idx.size), dtype=np.complex64)
        for j, (ln, fr) in enumerate(zip(lens, f[idx])):
            t = np.arange(np.floor(-ln / 2), np.floor(ln / 2))
            sig = np.exp(2j * np.pi * fr * t / sr_d) * _hann(len(t))
            sig /= np.abs(sig).sum()
            buf = np.zeros(n_fft, dtype=np.complex128)
            start = n_fft // 2 + int(t[0])
            buf[start:start + len(t)] = sig
            # response = <frame, filter> = sum_k conj(H[k]) Y[k] / n_fft over k >= 0
            kernel[:, j] = np.conj(np.fft.fft(buf)[: n_fft // 2 + 1]) / n_fft
        levels.append(_Level(decimation=d, n_fft=n_fft, bins=idx, kernel=kernel))
    return CQTPlan(
        sr=sr,
        hop=hop,
        freqs=f,
        scale=np.sqrt(lengths).astype(np.float32),
        levels=tuple(levels),
        decimation_filter=decimation_filter(),
    )


def _hann(n: int) -> np.ndarray:
    """Periodic Hann window (scipy.signal.get_window('hann', n, fftbins=True))."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


@functools.lru_cache(maxsize=1)
def decimation_filter() -> np.ndarray:
    """Symmetric FIR low-pass for decimation by two (cut-off at the new Nyquist): a windowed
    sinc with a Kaiser window, unit gain at DC (``scipy.signal.firwin(_DECIMATION_TAPS, 0.5,
    window=("kaiser", _DECIMATION_BETA))``, made in numpy: importing scipy.signal costs 1.6 s)."""
    m = np.arange(_DECIMATION_TAPS) - (_DECIMATION_TAPS - 1) / 2
    h = 0.5 * np.sinc(0.5 * m) * np.kaiser(_DECIMATION_TAPS, _DECIMATION_BETA)
    return (h / h.sum()).astype(np.float32)


#: Block length of the FFT convolution in :func:`fir_convolve` (fastest here of 4096–65536).
_FIR_BLOCK = 8192


def fir_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Full convolution of ``x`` with a short FIR ``h`` (``np.convolve(x, h)``, float32) by FFT
    overlap-save in blocks of ``_FIR_BLOCK``: about 5x numpy's direct convolution for the
    decimation filter (it agrees to float32 rounding)."""
    from numpy.lib.stride_tricks import as_strided
    from scipy import fft as sfft

    x = np.asarray(x, dtype=np.float32)
    n_taps = h.size
    if x.size < 4 * _FIR_BLOCK:
        return np.convolve(x, h).astype(np.float32, copy=False)
    n_out = x.size + n_taps - 1
    step = _FIR_BLOCK - (n_taps - 1)  # new output samples per block
    n_blocks = -(-n_out // step)
    padded = np.zeros(n_blocks * step + n_taps - 1, dtype=np.float32)
    padded[n_taps - 1:n_taps - 1 + x.size] = x
    blocks = as_strided(padded, (n_blocks, _FIR_BLOCK), (padded.strides[0] * step, padded.strides[0]),
                        writeable=False)
    spec = sfft.rfft(blocks, axis=1, workers=-1)
    spec *= sfft.rfft(h.astype(np.float32), _FIR_BLOCK)
    out = sfft.irfft(spec, _FIR_BLOCK, axis=1, workers=-1)[:, n_taps - 1:]
    return out.reshape(-1)[:n_out].astype(np.float32, copy=False)


def decimate2(y: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
    """Halve the sample rate of ``y`` (1-D) with a zero-phase FIR low-pass: the even samples of
    the full convolution with ``h``, computed polyphase (each phase at half the rate)."""
    h = decimation_filter() if h is None else h
    delay = (len(h) - 1) // 2
    y = np.asarray(y, dtype=np.float32)
    even = fir_convolve(y[0::2], h[0::2])
    odd = fir_convolve(y[1::2], h[1::2]) if y.size > 1 else np.zeros(0, np.float32)
    z = np.zeros(max(even.size, odd.size + 1), dtype=np.float32)
    z[:even.size] = even
    z[1:odd.size + 1] += odd
    n_out = (y.size + 1) // 2
    return np.ascontiguousarray(z[delay // 2: delay // 2 + n_out], dtype=np.float32)


def frame_centers(n_frames: int, hop: int, decimation: int) -> np.ndarray:
    """Sample index (at the decimated rate) nearest to each frame time."""
    return np.rint(np.arange(n_frames) * (hop / decimation)).astype(np.int64)


def cqt_magnitude(y: np.ndarray, plan: CQTPlan, *, pyramid: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """CQT magnitude of a mono signal with a plan.

    ``pyramid`` (decimation factor → signal) keeps the decimated signals for further plans on
    the same ``y`` (the HCQT's harmonic groups), which then skip the filtering.

    Returns
    -------
    C : np.ndarray [shape=(n_bins, n_frames), dtype=float32]
    """
    from scipy import fft as sfft

    from .blas import reproducible_matmul

    n_frames = plan.n_frames(y.shape[-1])
    out = np.empty((plan.freqs.size, n_frames), dtype=np.float32)
    pyramid = {} if pyramid is None else pyramid
    sig = pyramid.setdefault(1, np.asarray(y, dtype=np.float32))
    current = 1
    for lv in plan.levels:  # levels come in increasing decimation
        while current < lv.decimation:
            current *= 2
            if current not in pyramid:
                pyramid[current] = decimate2(sig, plan.decimation_filter)
            sig = pyramid[current]
        half = lv.n_fft // 2
        padded = np.pad(sig, (half, half))
        centers = frame_centers(n_frames, plan.hop, lv.decimation)
        centers = np.minimum(centers, sig.size)  # last frames may fall just past the end
        frames = _gather_frames(padded, centers, lv.n_fft)
        spec = sfft.rfft(frames, axis=1, workers=-1)
        out[lv.bins] = np.abs(reproducible_matmul(spec, lv.kernel)).T
    out *= plan.scale[:, None]
    return out


def _gather_frames(padded: np.ndarray, starts: np.ndarray, n_fft: int) -> np.ndarray:
    """Frames ``padded[s:s + n_fft]`` for each start (a strided view when starts are regular)."""
    from numpy.lib.stride_tricks import sliding_window_view

    view = sliding_window_view(padded, n_fft)
    return view[starts]


# --------------------------------------------------------------------------------------------
# Public features
# --------------------------------------------------------------------------------------------


def _check_signal(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"expected a mono signal of shape (n,), got shape {y.shape}")
    if y.size == 0:
        raise ParameterError("signal is empty")
    return y.astype(np.float32, copy=False)


def hcqt_frequency_groups(harmonics: tuple[float, ...], *, fmin: float, n_bins: int,
                          bins_per_octave: int) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
    """Group harmonics whose bins fall on a common grid, so shared bins are computed once.

    Returns a list of (frequencies, [(harmonic index, offset into frequencies), ...]).
    """
    groups: list[tuple[float, list[tuple[int, float]]]] = []
    for i, h in enumerate(harmonics):
        shift = np.log2(h) * bins_per_octave
        for g in groups:
            rel = shift - g[0]
            if abs(rel - round(rel)) < 1e-6:
                g[1].append((i, rel))
                break
        else:
            groups.append((shift, [(i, 0.0)]))
    out = []
    for base, members in groups:
        offs = [int(round(rel)) for _, rel in members]
        lo = min(offs)
        hi = max(offs) + n_bins
        freqs = fmin * 2.0 ** ((base / bins_per_octave)) * 2.0 ** (np.arange(lo, hi) / bins_per_octave)
        out.append((freqs, [(i, o - lo) for (i, _), o in zip(members, offs)]))
    return out


def hcqt_magnitude(y: np.ndarray, *, sr: int = D.SAMPLE_RATE, feature_rate: float = D.FEATURE_RATE,
                   harmonics: tuple[float, ...] = D.HCQT_HARMONICS, fmin: float = D.FMIN,
                   n_bins: int = D.N_BINS, bins_per_octave: int = D.BINS_PER_OCTAVE,
                   engine: Engine | None = None, block_frames: int = BLOCK_FRAMES) -> np.ndarray:
    """Linear-magnitude HCQT (``engine``: the CQT implementation, numpy by default).

    Long signals are analysed in overlapping blocks of ``block_frames`` frames (see
    :func:`analysis_blocks`), so the working memory beyond the output is that of one block.

    Returns
    -------
    H : np.ndarray [shape=(n_harmonics, n_bins, n_frames), dtype=float32]
    """
    y = _check_signal(y)
    hop = D.hop_length(sr, feature_rate)
    groups = [(cqt_plan(freqs=tuple(freqs.tolist()), sr=sr, hop=hop, bins_per_octave=bins_per_octave), members)
              for freqs, members in hcqt_frequency_groups(tuple(harmonics), fmin=fmin, n_bins=n_bins,
                                                          bins_per_octave=bins_per_octave)]
    out = np.empty((len(harmonics), n_bins, 1 + y.size // hop), dtype=np.float32)
    for seg, inner, dest in analysis_blocks(y.size, hop=hop, plans=[p for p, _ in groups],
                                            block_frames=block_frames):
        pyramid: dict[int, np.ndarray] = {}  # the block's decimated signals, shared by the groups
        for plan, members in groups:
            C = engine(y[seg], plan) if engine else cqt_magnitude(y[seg], plan, pyramid=pyramid)
            for i, off in members:
                out[i, :, dest] = C[off:off + n_bins, inner]
    return out


def analysis_blocks(n_samples: int, *, hop: int, plans: list[CQTPlan],
                    block_frames: int = BLOCK_FRAMES) -> list[tuple[slice, slice, slice]]:
    """Split the analysis of a long signal into overlapping segments whose CQT frames, cut to
    each segment's inner part, equal those of the whole signal (to float rounding).

    Each segment starts on a frame whose sample index is a multiple of twice every plan's
    largest decimation, so that decimated samples fall on the same grid as in the whole signal
    and frame centres shift by an even number of samples (``np.rint`` rounds ties to even), and
    extends by a margin beyond every plan's :attr:`CQTPlan.support` on each side.

    Returns
    -------
    [(samples, inner frames, frames), ...] : the segment ``y[samples]``, which frames of its
        CQT to keep, and where they go in the whole signal's frames.
    """
    n_frames = 1 + n_samples // hop
    align = 2 * max(p.max_decimation for p in plans)
    step = align // math.gcd(hop, align)  # frames between aligned segment starts
    margin = step * math.ceil(max(p.support for p in plans) / (hop * step))
    block = step * max(1, block_frames // step)
    if n_frames <= block + 2 * margin:
        return [(slice(0, n_samples), slice(0, n_frames), slice(0, n_frames))]
    blocks = []
    for a in range(0, n_frames, block):
        b = min(n_frames, a + block)
        lo = max(0, a - margin)
        blocks.append((slice(lo * hop, min(n_samples, (b + margin) * hop)), slice(a - lo, b - lo), slice(a, b)))
    return blocks
