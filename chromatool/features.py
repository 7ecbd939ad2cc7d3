"""Time–frequency features: HCQT, CQT, chroma, CENS, STFT chroma.

Pure numpy/scipy functions over arrays. Every array is shaped ``(..., n_bins, n_frames)`` and every
public function returns a :class:`Features` that carries its feature rate. The CQT itself is
computed by :mod:`chromatool.cqt_engine` (at the feature rate directly, equal to ``librosa.cqt``
at identical parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import defaults as D
from .cqt_engine import (  # noqa: F401  (re-exported: the engine's public names)
    BLOCK_FRAMES, CQTPlan, Engine, analysis_blocks, cqt_frequencies, cqt_magnitude, cqt_plan,
    decimate2, decimation_filter, frame_centers, hcqt_frequency_groups, hcqt_magnitude,
)
from .cqt_engine import _check_signal, _hann
from .errors import ParameterError

#: Bumped whenever a change alters feature values, so cached features are recomputed.
FEATURES_VERSION: int = 2  # 2: tuning


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


def semitones(C: np.ndarray, *, bins_per_semitone: int = D.BINS_PER_SEMITONE) -> np.ndarray:
    """Energy per semitone: the ``bins_per_semitone`` bins of each semitone of a CQT magnitude
    (n_bins, N) summed (bin 0 at ``MIDI_MIN``; for 3 bins per semitone the centre bin is the
    semitone's pitch) → (n_bins // bins_per_semitone, N).

    >>> semitones(np.ones((216, 2))).shape
    (72, 2)
    """
    n = C.shape[0] // bins_per_semitone
    return C[: n * bins_per_semitone].reshape(n, bins_per_semitone, C.shape[1]).sum(axis=1)


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
                  decay_seconds: float = 0.2, norm_seconds: float = 1.0, fold: bool = True) -> np.ndarray:
    """Decaying locally adaptive normalised chroma onsets (after the DLNCO features of the Sync
    Toolbox literature), from a pitch representation C (n_bins, n_frames) with bin 0 at C1: a
    CQT of ``N_BINS`` bins, or energies already per semitone (:func:`semitones`).

    Log-compressed energy increases per semitone, kept at their local peaks in time, folded to
    chroma, normalised by the local maximum over ``norm_seconds``, then smeared forward with an
    exponential decay of ``decay_seconds``, so each onset leaves a short sharp trace.

    With ``fold=False`` the onsets stay per semitone: (n_semitones, n_frames).

    Returns
    -------
    O : np.ndarray [shape=(12, n_frames)]
    """
    from scipy.ndimage import maximum_filter1d
    from scipy.signal import lfilter

    semis = semitones(C) if C.shape[0] == D.N_BINS else C
    L = np.log1p(100.0 * semis / max(float(semis.max()), 1e-12))
    diff = np.maximum(0.0, np.diff(L, axis=1, prepend=L[:, :1]))
    peaks = diff * (diff >= maximum_filter1d(diff, size=3, axis=1))
    O = fold_to_chroma(peaks, bins_per_octave=12, centered=False) if fold else peaks
    win = max(1, int(round(norm_seconds * feature_rate)))
    local = maximum_filter1d(O.max(axis=0), size=win)
    O = O / np.maximum(local, 1e-9)[None, :]
    alpha = np.exp(-1.0 / max(decay_seconds * feature_rate, 1e-9))
    return lfilter([1.0], [1.0, -alpha], O, axis=1).astype(np.float32)
