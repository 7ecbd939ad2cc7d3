"""Onset lag: how long after its note-on a note's strongest rise of energy comes.

Onset refinement (:mod:`chromatool.refine`) puts each onset group on a peak of the recording's
pitch-wise onset strength. A piano's hammer makes that peak within a frame of the note-on; a
bowed, blown or sung note swells, and its strongest rise comes 20–150 ms later (a GM string
ensemble reaches half its level 150–230 ms after the note-on). Where the rise starts is no
better a guide: the CQT's long low-frequency windows smear every rise early, and a piano's rise
spans frames too (docs/alignment.md has the rules that were tried).

The lag is read off the shape of the rise instead: a small network looks at the group's onset
strength (its pitches and their partials, and the high partials alone, whose CQT windows are
short), its log energy and its register in the frames around the chosen peak, and says how far
before the peak the notes began. It was trained (``scripts/train_onset_lag.py``) on renders with
exact note-ons — ensembles, choirs and organs under smooth and expressive timing, single parts
on one instrument, and real pianists' performances with their pedal — of other pieces and
performances than the alignment benchmark's, with the four installed General MIDI soundfonts
(trained without TimGM6mb, it does as well on TimGM6mb's renders: it reads the attack, not the
soundfont). The packaged weights are ``weights/onset-lag.npz`` (model card: weights/MODEL_CARD.md).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .refine import PARTIALS, partial_rows

#: Frames of context before and after the chosen peak.
FRAMES_BEFORE: int = 8
FRAMES_AFTER: int = 6
#: The high partials (semitones above the note: 4th, 5th, 6th), whose CQT windows are short,
#: looked at apart from refinement's ``PARTIALS``.
HIGH_PARTIALS: tuple[int, ...] = (24, 28, 31)
WEIGHTS = Path(__file__).parent / "weights" / "onset-lag.npz"


def lag_features(O: np.ndarray, L: np.ndarray, pitches: np.ndarray, t: float, feature_rate: float
                 ) -> np.ndarray:
    """Features of the rise around recording second ``t`` for a group of ``pitches``.

    Parameters
    ----------
    O, L : np.ndarray [shape=(n_semitones, N)] onset strength and log energy per semitone
        (:func:`chromatool.refine.semitone_log_energy`)
    pitches : MIDI pitches of the group
    t : the chosen peak, recording seconds
    feature_rate : frames per second of ``O`` and ``L``

    Returns
    -------
    np.ndarray [shape=(3 * (FRAMES_BEFORE + FRAMES_AFTER + 1) + 4,)]

    Examples
    --------
    A C4 that swells over 0.2 s from 1.0 s: the onset strength of its rows, around the peak

    >>> import numpy as np
    >>> L = np.zeros((72, 100), np.float32)
    >>> L[36, 50:] = np.minimum(np.arange(50) / 10, 1.0) * 5  # row 36: MIDI 60 (C1 = row 0)
    >>> O = np.maximum(0, np.diff(L, axis=1, prepend=L[:, :1]))
    >>> F = lag_features(O, L, np.array([60]), 1.02, 50.0)
    >>> F.shape, F[:15].round(1).tolist()[6:12]
    ((49,), [0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    """
    n = FRAMES_BEFORE + FRAMES_AFTER + 1
    j = int(round(t * feature_rate))
    idx = np.clip(np.arange(j - FRAMES_BEFORE, j + FRAMES_AFTER + 1), 0, O.shape[1] - 1)

    def profile(M, partials):
        r, w = partial_rows(pitches, partials, M.shape[0])
        return w @ M[np.ix_(r, idx)] if r.size else np.zeros(n, np.float32)

    def unit(x):
        top = float(np.max(x))
        return x / top if top > 0 else x

    s = unit(profile(O, PARTIALS))
    h = unit(profile(O, [(k, 1.0) for k in HIGH_PARTIALS]))
    e = profile(L, [(0, 1.0)])
    span = float(e.max() - e.min())
    e = (e - e.min()) / span if span > 0 else np.zeros(n)
    p = np.asarray(pitches, float)
    extra = [(p.mean() - 60) / 24, min(p.size, 8) / 4, t * feature_rate - j, span]
    return np.concatenate([s, h, e, extra]).astype(np.float32)


@lru_cache(maxsize=1)
def _weights(path: str) -> dict[str, np.ndarray] | None:
    if not Path(path).is_file():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def predict_lags(features: np.ndarray, feature_rate: float, *, weights: str | Path = WEIGHTS) -> np.ndarray:
    """Seconds each rise comes after its notes' onset, from :func:`lag_features` rows (K, F);
    zeros where no model was trained for this ``feature_rate`` (or none is installed)."""
    W = _weights(str(weights))
    if W is None or features.size == 0 or abs(float(W["feature_rate"]) - feature_rate) > 1e-6:
        return np.zeros(len(features))
    x = (features - W["mean"]) / W["std"]
    n_layers = sum(k.startswith("w") for k in W)  # w0, b0, w1, b1, ...: ReLU between layers
    for k in range(n_layers):
        x = x @ W[f"w{k}"] + W[f"b{k}"]
        if k < n_layers - 1:
            x = np.maximum(x, 0.0)
    return np.clip(x[:, 0], float(W["min_lag"]), float(W["max_lag"]))  # the bounds it was trained with
