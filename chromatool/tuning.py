"""Tuning: how far a recording's concert pitch lies from A440, in cents.

Orchestras tune to A = 442–445 Hz, period-instrument ensembles to 415 or 430 Hz, and old
recordings run fast or slow: up to half a semitone off. chromatool estimates the deviation
(on excerpts spread over the recording so that long files stay cheap) and centres the CQT
filters on it, so that a recording 40 cents sharp gives the same chroma as an in-tune one.

The estimate is librosa's (``librosa.estimate_tuning``: spectral peaks between 150 and 4000 Hz,
their frequencies refined by parabolic interpolation, the commonest deviation from the
equal-tempered grid among the louder half) written again in numpy: importing librosa's pitch
module pulls in scipy.signal, 1.3–2 s of every command's start-up for a computation of 0.1 s.
A test checks that both give the same cents.

>>> import numpy as np
>>> from chromatool.tuning import estimate_tuning
>>> sr = 22050
>>> y = np.sin(2 * np.pi * 440 * 2 ** (30 / 1200) * np.arange(2 * sr) / sr)  # A4, 30 cents sharp
>>> abs(estimate_tuning(y, sr=sr) - 30) < 2
True
"""

from __future__ import annotations

import numpy as np

from . import defaults as D
from .errors import ParameterError

#: Seconds of audio the estimate reads at most: excerpts spread evenly over the recording.
TUNING_SECONDS: float = 90.0
#: Length of each excerpt (seconds).
EXCERPT_SECONDS: float = 3.0
#: FFT size of the spectral peaks (samples) and the resolution of the deviation (semitones).
N_FFT: int = 4096
RESOLUTION: float = 0.01


def estimate_tuning(y: np.ndarray, *, sr: int = D.SAMPLE_RATE, max_seconds: float = TUNING_SECONDS) -> float:
    """Deviation of the recording's tuning from A440 in cents, in [-50, 50).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] mono audio
    sr : its sample rate
    max_seconds : read at most this much audio, in excerpts spread over the recording

    Returns
    -------
    float : cents (0 for silence or unpitched sound)

    Examples
    --------
    >>> import numpy as np
    >>> from chromatool import estimate_tuning
    >>> t = np.arange(2 * 22050) / 22050
    >>> round(estimate_tuning(np.sin(2 * np.pi * 442.0 * t)) / 10) * 10  # A = 442 Hz: about 8 cents sharp
    10
    """
    y = np.asarray(y, dtype=np.float32)
    n_ex = int(round(EXCERPT_SECONDS * sr))
    if y.size > max_seconds * sr:
        k = int(max_seconds / EXCERPT_SECONDS)
        starts = np.linspace(0, y.size - n_ex, k).astype(int)
        y = np.concatenate([y[s:s + n_ex] for s in starts])
    if y.size < N_FFT // 2 or not np.any(y):
        return 0.0
    freqs, mags = spectral_peaks(y, sr=sr)
    if freqs.size == 0:
        return 0.0
    freqs = freqs[mags >= np.median(mags)]
    # deviation from the equal-tempered grid (fractions of a semitone, in [-0.5, 0.5)), binned
    residual = np.mod(12 * np.log2(freqs / (440.0 / 16)), 1.0)
    residual[residual >= 0.5] -= 1.0
    edges = np.linspace(-0.5, 0.5, int(np.ceil(1 / RESOLUTION)) + 1)
    counts, _ = np.histogram(residual, edges)
    t = edges[int(np.argmax(counts))]
    return round(float(np.clip(100.0 * t, -50.0, 49.99)), 2)


def spectral_peaks(y: np.ndarray, *, sr: int = D.SAMPLE_RATE, fmin: float = 150.0, fmax: float = 4000.0,
                   threshold: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz, parabolically interpolated) and magnitudes of the local maxima of each
    STFT frame's magnitude between ``fmin`` and ``fmax`` that reach ``threshold`` times the
    frame's maximum (librosa's ``piptrack``, all frames pooled)."""
    from .cqt_engine import _hann  # periodic, as librosa's STFT window

    hop = N_FFT // 4
    y = np.pad(y, N_FFT // 2)  # centred frames, as librosa's STFT pads (with zeros)
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::hop]
    S = np.abs(np.fft.rfft(frames * _hann(N_FFT).astype(np.float32), axis=1))
    k = np.arange(S.shape[1])
    band = (k * sr / N_FFT >= fmin) & (k * sr / N_FFT < fmax)
    band[[0, -1]] = False
    prev, cur, nxt = S[:, :-2], S[:, 1:-1], S[:, 2:]
    avg = 0.5 * (nxt - prev)
    curv = 2 * cur - nxt - prev
    shift = np.divide(avg, curv, out=np.zeros_like(avg), where=np.abs(curv) > 0)
    peak = (cur > prev) & (cur >= nxt) & band[1:-1] & (cur >= threshold * S.max(axis=1, keepdims=True))
    f, b = np.nonzero(peak)
    return (b + 1 + shift[f, b]) * sr / N_FFT, (cur + 0.5 * avg * shift)[f, b]


def resolve_tuning(tuning: str | float, y: np.ndarray | None = None, *, sr: int = D.SAMPLE_RATE) -> float:
    """``"auto"`` → the estimate of ``y``; a number (or its text) → that many cents, checked."""
    if isinstance(tuning, str):
        if tuning.strip().lower() == "auto":
            if y is None:
                raise ParameterError("tuning='auto' needs the audio to estimate it from")
            return estimate_tuning(y, sr=sr)
        try:
            tuning = float(tuning)
        except ValueError:
            raise ParameterError(f"tuning must be 'auto' or cents between -50 and 50, got {tuning!r}") from None
    if not -50.0 <= float(tuning) <= 50.0:
        raise ParameterError(f"tuning must be between -50 and 50 cents, got {tuning}")
    return float(tuning)
