"""Melody chroma: the pitch class of the highest sounding note, from a multi-pitch salience.

A theme query is the top voice of a score (Zalkow & Müller 2020, §4.2); hand-made chroma
and the multi-pitch salience folded to 12 classes also hold the accompaniment. Taking in each
frame only the highest semitone whose salience reaches the threshold (the "skyline" of the
transcription) gives a chroma of the top line instead, weighted by that salience and held over
a few frames (a sung or played melody note outlasts its salience peak). ``retrieve --features
melody`` matches it alone; ``--features fused`` (the default) mixes its subsequence-DTW cost with
the deep chromas' (``defaults.FUSED_PARTS``).

>>> import numpy as np
>>> salience = np.zeros((72, 4), np.float32)
>>> salience[[24, 40, 43], 1] = 0.9            # C3, E4, G4 sound in frame 1: G4 is on top
>>> C = melody_chroma(salience, feature_rate=25.0, hold_seconds=0.0)
>>> int(C[:, 1].argmax()), float(C[:, 0].sum())  # pitch class G (7); frame 0 is silent
(7, 0.0)
"""

from __future__ import annotations

import numpy as np

from . import defaults as D
from .errors import ParameterError


def melody_chroma(salience: np.ndarray, *, feature_rate: float = D.FEATURE_RATE,
                  threshold: float = D.PITCH_THRESHOLD, hold_seconds: float = D.MELODY_HOLD_SECONDS) -> np.ndarray:
    """(12, N) unit columns (zero where nothing sounds) of the highest semitone of ``salience``
    (72, N from C1, ``feature_rate`` frames per second) at or above ``threshold``, weighted by
    its salience and held as a running maximum over ``hold_seconds`` centred on each frame."""
    if salience.ndim != 2 or salience.shape[0] % D.N_CHROMA:
        raise ParameterError(f"salience must be (semitones, frames) with whole octaves, got {salience.shape}")
    if hold_seconds < 0:
        raise ParameterError(f"hold_seconds must be at least 0, got {hold_seconds}")
    hold_frames = max(1, int(round(hold_seconds * feature_rate)))
    n_pitch, n = salience.shape
    on = salience >= threshold
    sounding = on.any(axis=0)
    top = n_pitch - 1 - np.argmax(on[::-1], axis=0)  # highest semitone at or over the threshold
    frames = np.flatnonzero(sounding)
    C = np.zeros((D.N_CHROMA, n), np.float32)
    C[top[frames] % D.N_CHROMA, frames] = salience[top[frames], frames]
    if hold_frames > 1 and n:
        from scipy.ndimage import maximum_filter1d

        C = maximum_filter1d(C, hold_frames, axis=1, mode="constant")
    norm = np.linalg.norm(C, axis=0)
    C[:, norm > 0] /= norm[norm > 0]
    return C
