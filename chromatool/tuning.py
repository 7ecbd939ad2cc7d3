"""Tuning: how far a recording's concert pitch lies from A440, in cents.

Orchestras tune to A = 442–445 Hz, period-instrument ensembles to 415 or 430 Hz, and old
recordings run fast or slow: up to half a semitone off. chromatool estimates the deviation
(librosa's pitch-tracking estimate, on excerpts spread over the recording so that long files
stay cheap) and centres the CQT filters on it, so that a recording 40 cents sharp gives the
same chroma as an in-tune one.

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
    import warnings

    import librosa

    y = np.asarray(y, dtype=np.float32)
    n_ex = int(round(EXCERPT_SECONDS * sr))
    if y.size > max_seconds * sr:
        k = int(max_seconds / EXCERPT_SECONDS)
        starts = np.linspace(0, y.size - n_ex, k).astype(int)
        y = np.concatenate([y[s:s + n_ex] for s in starts])
    if y.size < 2048 or not np.any(y):
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Trying to estimate tuning from empty frequency set"
        t = librosa.estimate_tuning(y=y, sr=sr, n_fft=4096, resolution=0.01, bins_per_octave=12)
    return round(float(np.clip(100.0 * t, -50.0, 49.99)), 2)


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
