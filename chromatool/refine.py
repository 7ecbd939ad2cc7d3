"""Onset refinement: after DTW has put each score onset roughly in place, move it to an onset
of its own pitches in a small window of the recording.

DTW at 50 Hz on chroma finds the right neighbourhood but not the exact frame: within a held
chord or a fermata the path may dwell on either side of the next onset. The recording's
pitch-wise onset strength (the rise of the log-compressed energy in each semitone, and its
first overtones) says where the notes of an onset group may begin: its strongest peaks near
the path are each group's candidates, beside "no clear onset here" (the path's time). One
Viterbi pass over the groups picks a candidate for every group at once: a strong peak close to
the path is cheap, and so is a local tempo (recording seconds per score second between
consecutive groups) that changes little from one group to the next, so a peak that would make
the performer rush and then drag (a neighbouring note of the same pitch) loses to one that
keeps the pulse. Groups keep their score order. A group left without an onset is searched
once more around the line between the groups placed on either side, where the path has strayed
from it (in held chords under the pedal, before a note that sounds faintly). In a piano score,
a few groups still unplaced between two placed ones far apart in the recording (a pause the
score does not write) take the strongest rise of their pitches in between. A placed group
whose notes begin apart (a pianist's bass before the chord above it, a rolled chord) then moves
to the median of its notes' onsets.
"""

from __future__ import annotations

import numpy as np

from . import defaults as D
from .features import semitones
from .score import NoteList

#: Half-width (seconds) of the window searched for candidates around the DTW time of an onset.
WINDOW_SECONDS: float = 0.2
#: Standard deviation (seconds) of the Gaussian prior around the DTW time.
PRIOR_SECONDS: float = 0.08
#: Candidates per group: its strongest onset-strength peaks in the window.
CANDIDATES: int = 3
#: A peak is a candidate when its strength reaches this share of the strongest onset strength
#: of the group's pitches in the surrounding two seconds; its cost falls as its share rises.
MIN_RELATIVE_STRENGTH: float = 0.25
#: Cost of leaving a group at the path's time (no clear onset), against 1 - share for a peak.
NO_ONSET_COST: float = 1.0
#: Cost per unit change of the log local tempo between consecutive groups; both intervals get
#: TEMPO_SLACK_SECONDS added first, so grace notes and spread chords do not dominate.
#: Measured (benchmarks/align_eval.py, within 100 ms and median, smooth / expressive / ASAP):
#: 99.5 % (16.8 ms) / 96.6 % (19.8 ms) / 92.7 % (10.2 ms), against 99.2 % (18.1 ms) / 96.2 %
#: (21.0 ms) / 92.7 % (10.4 ms) for each group's strongest peak alone (window 0.12 s, prior
#: 0.06 s) with outliers among neighbours moved back; tempo weight 0: 98.9 / 96.5 / 92.6 %,
#: 1: 99.3 / 96.5 / 92.6 %, 2: 99.4 / 96.6 / 92.7 %; window 0.12 s: 99.5 / 96.3 / 92.7 %.
TEMPO_WEIGHT: float = 3.0
TEMPO_SLACK_SECONDS: float = 0.1
#: Log compression of the semitone energies whose rise is the onset strength.
ONSET_GAMMA: float = 1000.0
#: Semitone offsets of the partials that announce a note (fundamental, octave, twelfth) and
#: their weights.
PARTIALS: tuple[tuple[int, float], ...] = ((0, 1.0), (12, 0.5), (19, 0.3))
#: A group the first pass leaves at the path's time is searched again, around the line between
#: the groups it placed, where that line is more than this far from the path (the path strays
#: in held chords under the pedal; the line between placed onsets strays less). On 22 ASAP
#: performances: 307 → 293 of 4,776 beats off by 100 ms or more (search window 0.3 s: 291).
SECOND_LOOK_SECONDS: float = 0.05
#: A placed group's notes may begin apart (a pianist's bass before the chord, a rolled chord):
#: each of its pitches from SPREAD_MIN_PITCH up (short CQT windows) begins at the group's time
#: unless its strongest rise in the SPREAD_SECONDS after it is SPREAD_RATIO times its rise
#: there; the group moves to the median of those onsets (where ASAP's annotations put a beat:
#: the median onset of its notes). 0 seconds turns it off. On 22 ASAP performances: 293 → 278
#: of 4,776 beats off by 100 ms or more (ratio 2: 281, 1.2: 279; from pitch 40: 283, 55: 276).
#: The window ends SPREAD_NEXT_SHARE of the way to the next group's time, where a pitch's
#: strongest rise may be the next group's note: with that bound 0.5 s reaches a pianist's bass
#: played 0.2-0.45 s before the chord, 278 → 271 (0.3 s: 277; unbounded 0.25 s: 301, 0.4 s: 507;
#: share 0.5: 275, 0.7 or 0.9: 271).
SPREAD_SECONDS: float = 0.5
SPREAD_NEXT_SHARE: float = 0.8
SPREAD_RATIO: float = 1.5
SPREAD_MIN_PITCH: int = 48
#: Where the placed groups on either side of at most GAP_MAX_GROUPS unplaced ones lie more than
#: GAP_MIN_SECONDS apart in the recording (a pause or a slowing the score does not write, which
#: neither the path nor the line between the placed groups follows), each of those groups, in
#: order, takes the strongest rise of its pitches between the last placed group and the next one
#: (GAP_MARGIN_SECONDS from either) if it is GAP_MIN_SHARE of the strongest around. Keyboard
#: scores only (SPREAD_PROGRAMS: a piano's rise is sharp; a string's or voice's swell is not). On
#: 22 ASAP performances: 272 → 261 of 4,776 beats off by 100 ms or more (1 group: 266; 10: 263;
#: 1.5 s: 263; 0.7 s: 261; share 0.8: 262); on every score of the smooth set it cost 0.1 % within
#: 100 ms (99.7 → 99.6 %).
GAP_MAX_GROUPS: int = 3
GAP_MIN_SECONDS: float = 1.0
GAP_MARGIN_SECONDS: float = 0.1
GAP_MIN_SHARE: float = 0.5
#: ... for groups whose score notes are all keyboard parts (General MIDI programs 0-7: pianos,
#: harpsichord, clavinet). Ensembles' parts differ in attack, which the onset lag reads; on the
#: smooth set (scores without programs) moving every group cost 0.1-0.2 % within 100 ms.
SPREAD_PROGRAMS: tuple[int, ...] = tuple(range(8))
_FORBIDDEN = 1e6


def semitone_log_energy(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Onset strength (the rise of the log-compressed energy) and the log-compressed energy per
    semitone, each (n_semitones, N), from a CQT magnitude (n_bins, N) with
    ``BINS_PER_SEMITONE`` bins per semitone, bin 0 at ``MIDI_MIN``."""
    S = semitones(C)
    L = np.log1p(ONSET_GAMMA * S / max(float(S.max()), 1e-12)).astype(np.float32)
    return np.maximum(0.0, np.diff(L, axis=1, prepend=L[:, :1])), L


def refine_onset_groups(notes: NoteList, onset: np.ndarray, C: np.ndarray, feature_rate: float, *,
                        window_seconds: float = WINDOW_SECONDS, prior_seconds: float = PRIOR_SECONDS,
                        lag: bool = True, second_look: bool = True) -> tuple[np.ndarray, np.ndarray]:
    r"""Refined recording times of the notes' onsets, and the refined groups as anchors of a
    time map.

    Parameters
    ----------
    notes : the score notes (their pitches and score onsets group them)
    onset : np.ndarray [shape=(n_notes,)] recording seconds from the warping path
    C : np.ndarray [shape=(216, N)] the recording's CQT magnitude at ``feature_rate``
    window_seconds, prior_seconds : search half-width and prior width around ``onset``
    lag : move each group placed on a peak back by the lag its rise's shape shows
        (:mod:`chromatool.onset_lag`: a slow attack peaks well after its note-on)
    second_look : search the groups that found no onset again around the line between the
        placed groups (``SECOND_LOOK_SECONDS``)

    Returns
    -------
    onset : np.ndarray [shape=(n_notes,)] recording seconds; notes of one score onset stay
        together and the groups keep their order
    anchors : np.ndarray [shape=(2, K)] (score, recording) seconds of the groups placed on an
        onset of the recording

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from chromatool import read_score
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.csv")
    >>> _ = open(path, "w").write("Start;Duration;Pitch\n0.0;0.5;60\n0.5;0.5;64\n1.0;0.5;67\n")
    >>> notes = read_score(path)
    >>> C = np.zeros((216, 100), np.float32)
    >>> for t, p in [(0.30, 60), (0.82, 64), (1.30, 67)]:  # the notes start at these seconds
    ...     C[(p - 24) * 3 + 1, int(t * 50):] = 1.0  # centre bin of pitch p (C1 = MIDI 24)
    >>> path_times = np.array([0.36, 0.76, 1.25])
    >>> on, anchors = refine_onset_groups(notes, path_times, C, 50.0, lag=False)  # no real attacks
    >>> on.round(2).tolist()
    [0.3, 0.82, 1.3]
    """
    from .onset_lag import lag_features, predict_lags  # it reads this module's partials

    if not len(notes):
        return onset, np.zeros((2, 0))
    O, L = semitone_log_energy(C)
    keys, inverse = np.unique(np.round(notes.onset, 4), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(keys.size + 1))
    members = [order[bounds[g]:bounds[g + 1]] for g in range(keys.size)]
    path_t = np.array([np.median(onset[m]) for m in members])
    score_t = np.array([notes.onset[m].min() for m in members])
    T = np.repeat(path_t[:, None], CANDIDATES + 1, axis=1)  # column 0: no onset, the path's time
    U = np.full(T.shape, _FORBIDDEN)
    U[:, 0] = NO_ONSET_COST

    def candidates(g: int, centre: float) -> None:  # its peaks near centre, costed
        t, share = _peaks(O, notes.pitch[members[g]], centre, window_seconds, feature_rate)
        T[g, 1:], U[g, 1:] = centre, _FORBIDDEN
        T[g, 1:1 + t.size] = t
        U[g, 1:1 + t.size] = (1 - share) + 0.5 * ((t - centre) / prior_seconds) ** 2

    for g in range(keys.size):
        candidates(g, path_t[g])
    choice = _viterbi(T, U, score_t, feature_rate)
    if second_look and (choice > 0).sum() >= 2:
        # a group left at the path's time: search again around the line between the placed groups
        placed = choice > 0
        line = np.interp(score_t, score_t[placed], T[placed, choice[placed]])
        again = np.flatnonzero(~placed & (np.abs(line - path_t) > SECOND_LOOK_SECONDS))
        for g in again:
            candidates(g, line[g])
        if again.size:
            choice = _viterbi(T, U, score_t, feature_rate)
    keyboard = np.isin(notes.program, SPREAD_PROGRAMS)
    keyboard = np.array([keyboard[m].all() for m in members])  # per group: all its notes
    _search_gaps(O, notes.pitch, members, keyboard, T, U, choice, feature_rate)
    out = T[np.arange(keys.size), choice]
    found = choice > 0
    if SPREAD_SECONDS > 0:
        for g in np.flatnonzero(found & keyboard):
            end = out[g] + SPREAD_SECONDS
            if g + 1 < keys.size:
                end = min(end, out[g] + SPREAD_NEXT_SHARE * (out[g + 1] - out[g]))
            out[g] = _chord_centre(O, notes.pitch[members[g]], out[g], end, feature_rate)
        out[found] = np.maximum.accumulate(out[found])
    if lag and found.any():
        g = np.flatnonzero(found)
        F = np.stack([lag_features(O, L, notes.pitch[members[k]], out[k], feature_rate) for k in g])
        out[g] -= predict_lags(F, feature_rate)
        out = np.maximum.accumulate(out)  # the groups keep their order
    return out[inverse], np.stack([score_t[found], out[found]])


def partial_rows(pitches: np.ndarray, partials, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Semitone rows (0 = ``MIDI_MIN``) of ``pitches`` and their ``partials`` ((semitones above,
    weight) pairs) that lie among ``n_rows``, and each row's weight."""
    rows = [(int(p) + k - D.MIDI_MIN, w) for p in np.unique(pitches) for k, w in partials
            if 0 <= int(p) + k - D.MIDI_MIN < n_rows]
    return (np.array([r for r, _ in rows], dtype=int).reshape(-1),
            np.array([w for _, w in rows], dtype=np.float32).reshape(-1))


def _peaks(O: np.ndarray, pitches: np.ndarray, centre: float, window: float, feature_rate: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of the ``CANDIDATES`` strongest onset-strength peaks of ``pitches`` (and their
    partials) within ``window`` seconds of ``centre``, and each peak's share of the strongest
    onset strength of those pitches in the surrounding second; peaks under
    ``MIN_RELATIVE_STRENGTH`` are left out."""
    none = np.zeros(0), np.zeros(0)
    N = O.shape[1]
    idx, wts = partial_rows(pitches, PARTIALS, O.shape[0])
    c, half = centre * feature_rate, window * feature_rate
    a, b = max(1, int(np.floor(c - half))), min(N - 1, int(np.ceil(c + half)) + 1)
    if not idx.size or b - a < 3:
        return none
    s = wts @ O[idx, a:b]
    ctx = int(round(feature_rate))
    ref = float((wts @ O[idx, max(0, a - ctx):min(N, b + ctx)]).max())
    if ref <= 0:
        return none
    peak = (s >= np.r_[-1.0, s[:-1]]) & (s > np.r_[s[1:], -1.0]) & (s >= MIN_RELATIVE_STRENGTH * ref)
    j = np.flatnonzero(peak)
    j = j[np.argsort(-s[j], kind="stable")][:CANDIDATES]
    frac = np.zeros(j.size)  # parabolic peak position between frames
    inner = (j > 0) & (j < s.size - 1)
    y0, y1, y2 = s[j[inner] - 1], s[j[inner]], s[j[inner] + 1]
    den = np.minimum(y0 - 2 * y1 + y2, 0.0)  # a peak's curvature; 0 where flat: no shift
    frac[inner] = np.clip(0.5 * (y0 - y2) / np.where(den < 0, den, -np.inf), -0.5, 0.5)
    return (a + j + frac) / feature_rate, s[j] / ref


def _search_gaps(O: np.ndarray, pitch: np.ndarray, members: list, keyboard: np.ndarray, T: np.ndarray, U: np.ndarray,
                 choice: np.ndarray, feature_rate: float) -> None:
    """Place unplaced keyboard groups between two placed ones far apart in the recording at the
    strongest rise of their pitches in between (``GAP_*``), in place: a chosen rise becomes the
    group's candidate 1 (``T``, ``U``) and ``choice``."""
    placed = np.flatnonzero(choice > 0)
    for i0, i1 in zip(placed[:-1], placed[1:]):
        lo, hi = T[i0, choice[i0]], T[i1, choice[i1]]
        if not 0 < i1 - i0 - 1 <= GAP_MAX_GROUPS or hi - lo < GAP_MIN_SECONDS:
            continue
        for g in range(i0 + 1, i1):
            half = 0.5 * (hi - lo) - GAP_MARGIN_SECONDS
            if half <= 0:
                break
            if not keyboard[g]:
                continue
            t, share = _peaks(O, pitch[members[g]], 0.5 * (lo + hi), half, feature_rate)
            if t.size and share[0] >= GAP_MIN_SHARE:
                T[g, 1], U[g, 1], choice[g] = t[0], 0.0, 1
                lo = t[0]


def _chord_centre(O: np.ndarray, pitches: np.ndarray, t: float, end_t: float, feature_rate: float) -> float:
    """The median onset of ``pitches`` (those from ``SPREAD_MIN_PITCH`` up, whose CQT windows
    are short) around a group placed at ``t``: a pitch begins at ``t`` unless its strongest rise
    after ``t`` and up to ``end_t`` (seconds) is ``SPREAD_RATIO`` times its rise at ``t`` (within
    a frame) and a candidate's strength (``MIN_RELATIVE_STRENGTH``); ``t`` for fewer than two."""
    N = O.shape[1]
    k = int(round(t * feature_rate))
    end, ctx = min(N, int(end_t * feature_rate) + 1), int(round(feature_rate))
    if k + 2 >= end:  # at the recording's end: nothing after t to look at
        return t
    times = []
    for q in np.unique(pitches[pitches >= SPREAD_MIN_PITCH]):
        idx, wts = partial_rows(np.array([q]), PARTIALS, O.shape[0])
        if not idx.size:
            continue
        floor = MIN_RELATIVE_STRENGTH * float((wts @ O[idx, max(0, k - ctx):min(N, k + ctx)]).max())
        here = float((wts @ O[idx, max(0, k - 1):k + 2]).max())
        later = wts @ O[idx, k + 2:end]
        j = int(np.argmax(later))
        late = later[j] >= max(floor, SPREAD_RATIO * here) and later[j] > 0
        times.append((k + 2 + j) / feature_rate if late else t)
    return float(np.median(times)) if len(times) >= 2 else t


def _viterbi(T: np.ndarray, U: np.ndarray, score_t: np.ndarray, feature_rate: float) -> np.ndarray:
    """The candidate (column of ``T``, recording seconds; ``U`` its cost) of each group that
    minimises the summed costs plus ``TEMPO_WEIGHT`` times the change of log local tempo
    between consecutive groups, with every group after the one before (second-order chain:
    states are candidate pairs of consecutive groups)."""
    G, K = T.shape
    gap = 0.5 / feature_rate

    def order(t0: np.ndarray, t1: np.ndarray) -> np.ndarray:  # within half a frame: allowed, at a cost
        return np.where(t1 >= t0 + gap, 0.0, np.where(t1 >= t0, 2.0, _FORBIDDEN))

    def log_tempo(t0: np.ndarray, t1: np.ndarray, g: int) -> np.ndarray:
        slack = TEMPO_SLACK_SECONDS
        return np.log((np.maximum(t1 - t0, 0.0) + slack) / (score_t[g] - score_t[g - 1] + slack))

    if G == 1:
        return np.array([int(np.argmin(U[0]))])
    cost = U[0][:, None] + U[1][None, :] + order(T[0][:, None], T[1][None, :])  # (i at g-1, j at g)
    before = log_tempo(T[0][:, None], T[1][None, :], 1)  # the tempo of each state (i, j)
    backs = []
    for g in range(2, G):
        now = log_tempo(T[g - 1][:, None], T[g][None, :], g)  # (j at g-1, k at g)
        total = (cost[:, :, None] + TEMPO_WEIGHT * np.abs(now[None] - before[:, :, None])
                 + order(T[g - 1][:, None], T[g][None, :])[None])
        back = np.argmin(total, axis=0)  # (j at g-1, k at g): best i at g-2
        cost = np.take_along_axis(total, back[None], axis=0)[0] + U[g][None, :]
        backs.append(back)
        before = now
    choice = np.zeros(G, dtype=int)
    choice[-2], choice[-1] = np.unravel_index(int(np.argmin(cost)), cost.shape)
    for g in range(G - 1, 1, -1):
        choice[g - 2] = backs[g - 2][choice[g - 1], choice[g]]
    return choice
