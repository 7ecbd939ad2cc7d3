"""Onset refinement: after DTW has put each score onset roughly in place, move it to the
strongest onset of its own pitches in a small window of the recording.

DTW at 50 Hz on chroma finds the right neighbourhood but not the exact frame: within a held
chord or a fermata the path may dwell on either side of the next onset. The recording's
pitch-wise onset strength (the rise of the log-compressed energy in each semitone, and its
first overtones) says where the notes of an onset group actually begin. Each group's time is
the strongest peak of its pitches' onset strength, weighted by a Gaussian around the DTW time;
where no clear onset is found (legato strings, a soft inner voice) the DTW time stays, and a
group that moved far more than its neighbours did follows them instead.
"""

from __future__ import annotations

import numpy as np

from . import defaults as D
from .score import NoteList

#: Half-width (seconds) of the window searched around the DTW time of an onset.
WINDOW_SECONDS: float = 0.12
#: Standard deviation (seconds) of the Gaussian prior around the DTW time.
PRIOR_SECONDS: float = 0.06
#: A group's peak counts as an onset when its strength reaches this share of the strongest
#: onset strength of its pitches in the surrounding two seconds.
MIN_RELATIVE_STRENGTH: float = 0.25
#: A placed onset that moved this much more (seconds) than its placed neighbours did is an outlier;
#: neighbours: this many on either side. Measured (within 100 ms, smooth / expressive / ASAP):
#: 97.8 / 94.6 / 90.1 % against 97.2 / 94.5 / 90.1 % without; 0.1 s: 97.3 / 94.6 / 90.2 %.
OUTLIER_SECONDS: float = 0.06
OUTLIER_NEIGHBOURS: int = 3
#: Log compression of the semitone energies whose rise is the onset strength.
ONSET_GAMMA: float = 1000.0
#: Semitone offsets of the partials that announce a note (fundamental, octave, twelfth) and
#: their weights.
PARTIALS: tuple[tuple[int, float], ...] = ((0, 1.0), (12, 0.5), (19, 0.3))


def semitone_onset_strength(C: np.ndarray) -> np.ndarray:
    """Rise of the log-compressed energy per semitone: (n_semitones, N) from a CQT magnitude
    (n_bins, N) with ``BINS_PER_SEMITONE`` bins per semitone, bin 0 at ``MIDI_MIN``."""
    per = D.BINS_PER_SEMITONE
    n = C.shape[0] // per
    S = C[: n * per].reshape(n, per, C.shape[1]).sum(axis=1)
    L = np.log1p(ONSET_GAMMA * S / max(float(S.max()), 1e-12))
    return np.maximum(0.0, np.diff(L, axis=1, prepend=L[:, :1])).astype(np.float32)


def refine_onset_groups(notes: NoteList, onset: np.ndarray, C: np.ndarray, feature_rate: float, *,
                        window_seconds: float = WINDOW_SECONDS, prior_seconds: float = PRIOR_SECONDS
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Refined recording times of the notes' onsets, and the refined groups as anchors of a
    time map.

    Parameters
    ----------
    notes : the score notes (their pitches and score onsets group them)
    onset : np.ndarray [shape=(n_notes,)] recording seconds from the warping path
    C : np.ndarray [shape=(216, N)] the recording's CQT magnitude at ``feature_rate``
    window_seconds, prior_seconds : search half-width and prior width around ``onset``

    Returns
    -------
    onset : np.ndarray [shape=(n_notes,)] recording seconds; notes of one score onset stay
        together and the groups keep their order
    anchors : np.ndarray [shape=(2, K)] (score, recording) seconds of the groups where a clear
        onset was found
    """
    if not len(notes):
        return onset, np.zeros((2, 0))
    O = semitone_onset_strength(C)
    keys, inverse = np.unique(np.round(notes.onset, 4), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(keys.size + 1))
    members = [order[bounds[g]:bounds[g + 1]] for g in range(keys.size)]
    group_t = np.array([np.median(onset[m]) for m in members])
    score_t = np.array([notes.onset[m].min() for m in members])
    half = max(1, int(round(window_seconds * feature_rate)))
    out = group_t.copy()
    found = np.zeros(keys.size, dtype=bool)
    for g in range(keys.size):
        c = group_t[g] * feature_rate
        t = _strongest_onset(O, notes.pitch[members[g]], c, c - half, c + half, prior_seconds * feature_rate,
                             feature_rate)
        if t is not None:
            out[g], found[g] = t, True
    _keep_order(out, found, group_t, feature_rate)
    _drop_outliers(out, found, group_t)
    _keep_order(out, found, group_t, feature_rate)
    return out[inverse], np.stack([score_t[found], out[found]])


def _drop_outliers(out: np.ndarray, found: np.ndarray, path_t: np.ndarray) -> None:
    """Placed groups whose move from the path differs by more than ``OUTLIER_SECONDS`` from the
    median move of their ``OUTLIER_NEIGHBOURS`` placed neighbours on either side took a wrong
    peak (a neighbouring note of the same pitch): they move with their neighbours instead and
    are no longer anchors."""
    idx = np.flatnonzero(found)
    shift = out[idx] - path_t[idx]
    k = OUTLIER_NEIGHBOURS
    for j in range(idx.size):
        nb = np.r_[shift[max(0, j - k):j], shift[j + 1:j + 1 + k]]
        if nb.size >= 2 and abs(shift[j] - np.median(nb)) > OUTLIER_SECONDS:
            out[idx[j]] = path_t[idx[j]] + np.median(nb)
            found[idx[j]] = False


def _keep_order(out: np.ndarray, found: np.ndarray, fallback: np.ndarray, feature_rate: float) -> None:
    """Keep the groups in score order: a refined time that overtakes a neighbour falls back."""
    for g in range(1, out.size):
        if out[g] <= out[g - 1]:
            out[g] = max(fallback[g], out[g - 1] + 0.5 / feature_rate)
            found[g] = False


def _strongest_onset(O: np.ndarray, pitches: np.ndarray, c: float, lo: float, hi: float, prior: float,
                     feature_rate: float) -> float | None:
    """Seconds of the strongest onset of ``pitches`` (and their partials) between frames ``lo``
    and ``hi``, weighted by a Gaussian of width ``prior`` frames around frame ``c``; None where
    it is weak against the strongest onset of those pitches in the surrounding second."""
    N = O.shape[1]
    rows = [(int(p) + k - D.MIDI_MIN, w) for p in np.unique(pitches) for k, w in PARTIALS
            if 0 <= int(p) + k - D.MIDI_MIN < O.shape[0]]
    a, b = max(1, int(np.floor(lo))), min(N - 1, int(np.ceil(hi)) + 1)
    if not rows or b - a < 3:
        return None
    idx = np.array([r for r, _ in rows])
    wts = np.array([w for _, w in rows], dtype=np.float32)
    strength = wts @ O[idx, a:b]
    ctx = int(round(1.0 * feature_rate))
    ref = float((wts @ O[idx, max(0, a - ctx):min(N, b + ctx)]).max())
    j = int(np.argmax(strength * np.exp(-0.5 * ((np.arange(a, b) - c) / prior) ** 2)))
    if ref <= 0 or strength[j] < MIN_RELATIVE_STRENGTH * ref:
        return None
    frac = 0.0
    if 0 < j < b - a - 1:  # parabolic peak position between frames
        y0, y1, y2 = strength[j - 1], strength[j], strength[j + 1]
        den = y0 - 2 * y1 + y2
        frac = float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5)) if den < 0 else 0.0
    return (a + j + frac) / feature_rate
