"""Time–frequency features: HCQT, CQT, chroma, CENS, STFT chroma.

Pure numpy/scipy functions over arrays. Every array is shaped ``(..., n_bins, n_frames)`` and every
public function returns a :class:`Features` that carries its feature rate.

The CQT is computed at the feature rate directly (a 25 Hz hop is 882 samples at 22050 Hz, which
librosa cannot halve octave by octave). Each group of bins is evaluated at the lowest sample rate
that still holds it — the signal is decimated by two with a zero-phase FIR filter as often as
needed — and the analysis frames of a decimated signal are centred on the sample nearest to the
frame time. The filters are librosa's (Hann-windowed complex exponentials, ℓ1-normalised, lengths
``Q * sr / f``) and the output is scaled as librosa's ``cqt(..., scale=True)``, so the magnitudes
agree with ``librosa.cqt`` at identical parameters (see ``benchmarks/features.py``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import defaults as D
from .errors import ParameterError

#: A CQT implementation: (signal, plan) → magnitude (n_bins, n_frames).
Engine = Callable[[np.ndarray, "CQTPlan"], np.ndarray]

#: Bumped whenever a change alters feature values, so cached features are recomputed.
FEATURES_VERSION: int = 2  # 2: tuning

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


@dataclass(frozen=True)
class Features:
    """A feature array with the rate and parameters that produced it.

    Attributes
    ----------
    data : np.ndarray [shape=(..., n_bins, n_frames)]
    feature_rate : frames per second
    kind : what the array is ("hcqt", "chroma", ...)
    params : the parameters that computed it (JSON-serialisable)

    Examples
    --------
    >>> import numpy as np
    >>> from chromatool import Features
    >>> F = Features(np.zeros((12, 50)), feature_rate=25.0, kind="chroma")
    >>> F.duration, F.times()[:3]
    (2.0, array([0.  , 0.04, 0.08]))
    """

    data: np.ndarray
    feature_rate: float
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.data.shape[-1])

    @property
    def duration(self) -> float:
        return self.n_frames / self.feature_rate

    def times(self) -> np.ndarray:
        """Frame times in seconds."""
        return np.arange(self.n_frames) / self.feature_rate

    def metadata(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "feature_rate": self.feature_rate,
            "shape": list(self.data.shape),
            "params": self.params,
        }


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
    """Symmetric FIR low-pass for decimation by two (cut-off at the new Nyquist)."""
    from scipy.signal import firwin

    return firwin(_DECIMATION_TAPS, 0.5, window=("kaiser", _DECIMATION_BETA)).astype(np.float32)


def decimate2(y: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
    """Halve the sample rate of ``y`` (last axis) with a zero-phase FIR low-pass."""
    from scipy.signal import upfirdn

    h = decimation_filter() if h is None else h
    delay = (len(h) - 1) // 2
    z = upfirdn(h, y, up=1, down=2, axis=-1)
    n_out = (y.shape[-1] + 1) // 2
    return np.ascontiguousarray(z[..., delay // 2: delay // 2 + n_out], dtype=np.float32)


def frame_centers(n_frames: int, hop: int, decimation: int) -> np.ndarray:
    """Sample index (at the decimated rate) nearest to each frame time."""
    return np.rint(np.arange(n_frames) * (hop / decimation)).astype(np.int64)


def cqt_magnitude(y: np.ndarray, plan: CQTPlan) -> np.ndarray:
    """CQT magnitude of a mono signal with a plan.

    Returns
    -------
    C : np.ndarray [shape=(n_bins, n_frames), dtype=float32]
    """
    from scipy import fft as sfft

    n_frames = plan.n_frames(y.shape[-1])
    out = np.empty((plan.freqs.size, n_frames), dtype=np.float32)
    sig = np.asarray(y, dtype=np.float32)
    current = 1
    for lv in plan.levels:  # levels come in increasing decimation
        while current < lv.decimation:
            sig = decimate2(sig, plan.decimation_filter)
            current *= 2
        half = lv.n_fft // 2
        padded = np.pad(sig, (half, half))
        centers = frame_centers(n_frames, plan.hop, lv.decimation)
        centers = np.minimum(centers, sig.size)  # last frames may fall just past the end
        frames = _gather_frames(padded, centers, lv.n_fft)
        spec = sfft.rfft(frames, axis=1, workers=-1)
        resp = spec @ lv.kernel
        out[lv.bins] = np.abs(resp).T
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
        for plan, members in groups:
            C = (engine or cqt_magnitude)(y[seg], plan)
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


def log_compress(H: np.ndarray, *, db_range: float = D.DB_RANGE, ref: float | None = None) -> np.ndarray:
    """Magnitude → dB relative to the maximum of the whole array (or ``ref``, e.g. the maximum
    of the whole file when ``H`` is a part of it), floored at ``-db_range``, mapped to
    ``dB / db_range + 1`` in [0, 1] (the HCQT scaling of Bittner et al.)."""
    if ref is None:
        ref = float(np.max(H)) if H.size else 0.0
    if ref <= 0:
        return np.zeros_like(H, dtype=np.float32)
    db = 20.0 * np.log10(np.maximum(H, ref * 10 ** (-db_range / 20.0)) / ref)
    return (db / db_range + 1.0).astype(np.float32)


def hcqt(y: np.ndarray, *, sr: int = D.SAMPLE_RATE, feature_rate: float = D.FEATURE_RATE,
         harmonics: tuple[float, ...] = D.HCQT_HARMONICS, fmin: float = D.FMIN,
         n_bins: int = D.N_BINS, bins_per_octave: int = D.BINS_PER_OCTAVE,
         engine: Engine | None = None, tuning: float = 0.0) -> Features:
    """Log-scaled harmonic CQT as in Zalkow & Müller (2020) §3 (``tuning``: cents from A440
    the filters are centred on).

    Returns
    -------
    Features with ``data`` [shape=(n_harmonics, n_bins, n_frames)] in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from chromatool import hcqt
    >>> y = np.sin(2 * np.pi * 261.63 * np.arange(22050) / 22050).astype(np.float32)  # C4, 1 s
    >>> F = hcqt(y)
    >>> F.data.shape, F.feature_rate
    ((6, 216, 26), 25.0)
    >>> int(F.data[1].mean(axis=-1).argmax())  # harmonic 1: the C4 bin (3 bins per semitone from C1)
    108
    """
    H = hcqt_magnitude(y, sr=sr, feature_rate=feature_rate, harmonics=harmonics,
                       fmin=_tuned(fmin, tuning), n_bins=n_bins, bins_per_octave=bins_per_octave,
                       engine=engine)
    params = dict(sr=sr, harmonics=list(harmonics), fmin=fmin, n_bins=n_bins,
                  bins_per_octave=bins_per_octave, scaling=f"dB/{D.DB_RANGE:g}+1", tuning=tuning)
    return Features(log_compress(H), feature_rate, "hcqt", params)


def cqt(y: np.ndarray, *, sr: int = D.SAMPLE_RATE, feature_rate: float = D.FEATURE_RATE,
        fmin: float = D.FMIN, n_bins: int = D.N_BINS,
        bins_per_octave: int = D.BINS_PER_OCTAVE, engine: Engine | None = None,
        tuning: float = 0.0) -> Features:
    """CQT magnitude (as ``np.abs(librosa.cqt(...))``), shape (n_bins, n_frames), the filters
    centred ``tuning`` cents from A440 (bin 0 stays "C1" of the recording's own tuning).

    Examples
    --------
    >>> import numpy as np
    >>> from chromatool import cqt
    >>> sharp = np.sin(2 * np.pi * 440 * 2 ** (40 / 1200) * np.arange(22050) / 22050)  # A4 + 40 cents
    >>> in_tune = cqt(sharp.astype(np.float32)).data.mean(axis=-1).argmax()
    >>> centred = cqt(sharp.astype(np.float32), tuning=40).data.mean(axis=-1).argmax()
    >>> int(in_tune), int(centred)  # A4 is bin 135 (3 per semitone); 40 cents sharp reads one bin up
    (136, 135)
    """
    C = hcqt_magnitude(y, sr=sr, feature_rate=feature_rate, harmonics=(1.0,), fmin=_tuned(fmin, tuning),
                       n_bins=n_bins, bins_per_octave=bins_per_octave, engine=engine)[0]
    params = dict(sr=sr, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave,
                  scaling="magnitude", tuning=tuning)
    return Features(C, feature_rate, "cqt", params)


def _tuned(fmin: float, cents: float) -> float:
    return float(fmin * 2.0 ** (cents / 1200.0))


def fold_to_chroma(C: np.ndarray, *, bins_per_octave: int = D.BINS_PER_OCTAVE,
                   midi_min: int = D.MIDI_MIN, centered: bool = True) -> np.ndarray:
    """Sum pitch bins (axis -2, bin 0 at MIDI ``midi_min``) into 12 pitch classes (C first).

    ``centered``: each pitch class takes the bins within half a semitone of its pitch (for
    36 bins per octave: bins 3c-1, 3c, 3c+1). Otherwise chroma c sums bins 3c, 3c+1, 3c+2 —
    the fixed pooling of Zalkow & Müller's network.
    """
    per_semi = bins_per_octave // D.N_CHROMA
    if per_semi * D.N_CHROMA != bins_per_octave:
        raise ParameterError(f"bins_per_octave={bins_per_octave} is not a multiple of 12")
    n_bins = C.shape[-2]
    shift = per_semi // 2 if centered else 0
    pc = (((np.arange(n_bins) + shift) // per_semi) + midi_min) % D.N_CHROMA
    out = np.zeros(C.shape[:-2] + (D.N_CHROMA, C.shape[-1]), dtype=np.float32)
    for c in range(D.N_CHROMA):
        out[..., c, :] = C[..., pc == c, :].sum(axis=-2)
    return out


def normalize(X: np.ndarray, *, norm: float = 2, threshold: float = 1e-8) -> np.ndarray:
    """Normalise each column (axis -2); columns with a norm under ``threshold`` become uniform
    unit vectors, so cosine distances stay defined on silence."""
    X = np.asarray(X, dtype=np.float32)
    if norm == np.inf:
        n = np.max(np.abs(X), axis=-2, keepdims=True)
    else:
        n = np.sum(np.abs(X) ** norm, axis=-2, keepdims=True) ** (1.0 / norm)
    unit = np.full(X.shape[-2], 1.0, dtype=np.float32)
    if norm != np.inf:
        unit /= np.sum(unit**norm) ** (1.0 / norm)
    small = n < threshold
    Y = X / np.where(small, 1.0, n)
    return np.where(small, unit[:, None], Y).astype(np.float32)


#: Hand-made chroma: the CQT is weighted by a Gaussian over octaves centred on A5 (880 Hz),
#: one octave wide, as librosa's STFT chroma weights its filters, so that the melody range
#: dominates and the long, smeared low-frequency filters do not (measured on the retrieval set).
CHROMA_CENTER_HZ: float = 880.0
CHROMA_OCTAVE_WIDTH: float = 1.0


def octave_weights(freqs: np.ndarray, *, center_hz: float = CHROMA_CENTER_HZ,
                   octave_width: float = CHROMA_OCTAVE_WIDTH) -> np.ndarray:
    """Gaussian weights over log-frequency; ``octave_width=0`` (or inf) gives flat weights."""
    if not octave_width or not np.isfinite(octave_width):
        return np.ones_like(freqs, dtype=np.float32)
    return np.exp(-0.5 * (np.log2(freqs / center_hz) / octave_width) ** 2).astype(np.float32)


def chroma(y: np.ndarray, *, sr: int = D.SAMPLE_RATE, feature_rate: float = D.FEATURE_RATE,
           center_hz: float = CHROMA_CENTER_HZ, octave_width: float = CHROMA_OCTAVE_WIDTH,
           engine: Engine | None = None, tuning: float = 0.0) -> Features:
    """CQT chroma: the C1–B6 CQT magnitude, weighted towards the melody range (Gaussian over
    octaves around ``center_hz``), folded to 12 pitch classes (bins within ±½ semitone), each
    column ℓ2-normalised.

    Returns
    -------
    Features with ``data`` [shape=(12, n_frames)]

    Examples
    --------
    >>> import numpy as np
    >>> from chromatool import chroma
    >>> t = np.arange(22050) / 22050
    >>> triad = sum(np.sin(2 * np.pi * 440 * 2 ** ((m - 69) / 12) * t) for m in (60, 64, 67))  # C E G
    >>> c = chroma(triad.astype(np.float32)).data.mean(axis=-1)
    >>> sorted(int(i) for i in np.argsort(c)[-3:])
    [0, 4, 7]
    """
    f = cqt(y, sr=sr, feature_rate=feature_rate, engine=engine, tuning=tuning)
    w = octave_weights(cqt_frequencies(), center_hz=center_hz, octave_width=octave_width)
    params = dict(sr=sr, source="cqt", fmin=D.FMIN, n_bins=D.N_BINS, center_hz=center_hz,
                  octave_width=octave_width, norm=2, tuning=tuning)
    return Features(normalize(fold_to_chroma(f.data * w[:, None])), feature_rate, "chroma", params)


def cens_from_chroma(X: np.ndarray, *, window: int = D.CENS_WINDOW) -> np.ndarray:
    """Chroma energy normalised statistics (Müller): ℓ1 → quantise → Hann smoothing → ℓ2."""
    from scipy.ndimage import convolve1d

    X = normalize(X, norm=1)
    q = np.zeros_like(X)
    for t in (0.4, 0.2, 0.1, 0.05):
        q += (X > t).astype(np.float32)
    if window > 1:
        w = _hann(window + 2)[1:-1]
        w /= w.sum()
        q = convolve1d(q, w, axis=-1, mode="constant")
    return normalize(q, norm=2)


def cens(y: np.ndarray, *, sr: int = D.SAMPLE_RATE, feature_rate: float = D.FEATURE_RATE,
         window: int = D.CENS_WINDOW, engine: Engine | None = None, tuning: float = 0.0) -> Features:
    """CENS features from the plain (uncompressed) CQT chroma, at the feature rate.

    Examples
    --------
    >>> import numpy as np
    >>> from chromatool import cens
    >>> t = np.arange(3 * 22050) / 22050
    >>> y = np.where(t < 1.5, np.sin(2 * np.pi * 261.63 * t), np.sin(2 * np.pi * 392.0 * t))  # C, then G
    >>> F = cens(y.astype(np.float32))  # smoothed over 41 frames, still at 25 Hz
    >>> F.data.shape, int(F.data[:, 5].argmax()), int(F.data[:, -5].argmax())
    ((12, 76), 0, 7)
    """
    C = cqt(y, sr=sr, feature_rate=feature_rate, engine=engine, tuning=tuning).data
    params = dict(sr=sr, source="cqt", window=window, tuning=tuning)
    return Features(cens_from_chroma(fold_to_chroma(C), window=window), feature_rate, "cens",
                    params)


def stft_chroma(y: np.ndarray, *, sr: int = D.SAMPLE_RATE, feature_rate: float = D.FEATURE_RATE,
                n_fft: int = 4096, engine: Engine | None = None, tuning: float = 0.0) -> Features:
    """STFT chroma (librosa.feature.chroma_stft at the feature rate), columns ℓ2-normalised.
    Computed on the CPU whatever the engine.

    Examples
    --------
    >>> import numpy as np
    >>> from chromatool import stft_chroma
    >>> a4 = np.sin(2 * np.pi * 440.0 * np.arange(22050) / 22050).astype(np.float32)
    >>> int(stft_chroma(a4).data.mean(axis=-1).argmax())  # pitch class A
    9
    """
    import librosa

    y = _check_signal(y)
    hop = D.hop_length(sr, feature_rate)
    C = librosa.feature.chroma_stft(y=y, sr=sr, hop_length=hop, n_fft=n_fft, tuning=tuning / 100.0)
    params = dict(sr=sr, n_fft=n_fft, source="stft", norm=2, tuning=tuning)
    return Features(normalize(C), feature_rate, "stft-chroma", params)


_KINDS: dict[str, Callable[..., Features]] = {
    "hcqt": hcqt,
    "cqt": cqt,
    "chroma": chroma,
    "cens": cens,
    "stft-chroma": stft_chroma,
}


def compute(kind: str, y: np.ndarray, *, sr: int = D.SAMPLE_RATE,
            feature_rate: float = D.FEATURE_RATE, engine: Engine | None = None,
            tuning: float = 0.0) -> Features:
    """Compute the feature ``kind`` (one of ``defaults.FEATURE_KINDS``) of a signal, centred on
    a tuning ``tuning`` cents from A440."""
    try:
        fn = _KINDS[kind]
    except KeyError:
        raise ParameterError(
            f"unknown feature kind {kind!r}; choose one of {', '.join(D.FEATURE_KINDS)}"
        ) from None
    return fn(y, sr=sr, feature_rate=feature_rate, engine=engine, tuning=float(tuning))


def chroma_onsets(C: np.ndarray, *, feature_rate: float = D.FEATURE_RATE,
                  decay_seconds: float = 0.2, norm_seconds: float = 1.0) -> np.ndarray:
    """Decaying locally adaptive normalised chroma onsets (after the DLNCO features of the Sync
    Toolbox literature), from a pitch representation C (n_bins, n_frames) with bin 0 at C1.

    Log-compressed energy increases per semitone, kept at their local peaks in time, folded to
    chroma, normalised by the local maximum over ``norm_seconds``, then smeared forward with an
    exponential decay of ``decay_seconds``, so each onset leaves a short sharp trace.

    Returns
    -------
    O : np.ndarray [shape=(12, n_frames)]
    """
    from scipy.ndimage import maximum_filter1d
    from scipy.signal import lfilter

    per_semi = D.BINS_PER_SEMITONE if C.shape[0] == D.N_BINS else 1
    semis = C.reshape(-1, per_semi, C.shape[1]).sum(axis=1) if per_semi > 1 else C
    L = np.log1p(100.0 * semis / max(float(semis.max()), 1e-12))
    diff = np.maximum(0.0, np.diff(L, axis=1, prepend=L[:, :1]))
    peaks = diff * (diff >= maximum_filter1d(diff, size=3, axis=1))
    O = fold_to_chroma(peaks, bins_per_octave=12, centered=False)
    win = max(1, int(round(norm_seconds * feature_rate)))
    local = maximum_filter1d(O.max(axis=0), size=win)
    O = O / np.maximum(local, 1e-9)[None, :]
    alpha = np.exp(-1.0 / max(decay_seconds * feature_rate, 1e-9))
    return lfilter([1.0], [1.0, -alpha], O, axis=1).astype(np.float32)
