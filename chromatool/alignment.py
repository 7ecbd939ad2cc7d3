"""Score-to-audio alignment producing MusicNet-style note labels (Thickstun et al. 2017, §3).

The score is rendered with FluidSynth on a piano (as MusicNet rendered its scores with a
synthesizer), with a second of silence on either side. Both sides get log-compressed CQT
chroma and energy per semitone (silent frames set apart) and decaying per-semitone onsets at
the alignment feature rate, the recording's CQT centred on its estimated tuning
(:mod:`chromatool.align_features`). Multiresolution DTW aligns them: quantised (CENS-like)
chroma with the semitone energies and onsets at the coarse levels, chroma with a lighter share
of them and onsets at the finest, inside a band that widens where a coarser path is unsure. Every score onset is then moved to an onset
of its own pitches near where the path put it, chosen for all onsets at once so that the local
tempo stays steady (:mod:`chromatool.refine`); the refined onsets and the path make the time
map that carries every note, beat or time to the recording. The local cost along the path
tells where an alignment is doubtful. Without FluidSynth, the score side's features are made
from the note list itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import defaults as D
from .audio import load_audio
from .errors import ChromatoolError, ParameterError
from .score import NoteList, read_score
from .tuning import resolve_tuning
from .align_features import (ONSET_SETTINGS, PAD_SECONDS, PITCH_WEIGHTS, alignment_features, dtw_features,
                             recording_cqt, score_cqt)

#: Weight of the onset features' cosine distance in the alignment cost (see multires.ONSET_LEVELS).
ONSET_WEIGHT: float = 2.0
#: A recording more than this many times longer or shorter than the score (beyond
#: MAX_EXTRA_SECONDS of silence, applause or talk) is refused unless forced.
MAX_DURATION_RATIO: float = 3.0
MAX_EXTRA_SECONDS: float = 30.0
#: Cost levels above which an alignment is reported as doubtful, per score synthesis:
#: (mean over the whole path, local cost smoothed over COST_WINDOW_SECONDS), both of the chroma
#: part of the cost. Measured on six corpus pieces in expressive renders: with FluidSynth,
#: right pairs average 0.03–0.06 (smoothed peaks under 0.19), another piece's recording
#: 0.22–0.33 (peaks 0.50–0.59); from the notes alone, right 0.09–0.18 (peaks up to 0.63),
#: wrong 0.31–0.60 (peaks 0.62–0.83).
COST_WARNING: dict[str, tuple[float, float]] = {"fluidsynth": (0.15, 0.4), "notes": (0.25, 0.66)}
#: Smoothing window (seconds) of the local cost before it is compared with COST_WARNING.
COST_WINDOW_SECONDS: float = 2.0
#: Written-out repeats: "auto" leaves out those the recording does not play (chromatool.repeats),
#: "as-written" aligns the score as it is.
REPEATS: tuple[str, ...] = ("auto", "as-written")
#: A beat within this many score seconds of a note onset is "on an onset" (:func:`carry_beats`).
BEAT_ONSET_TOLERANCE: float = 0.02


def path_time_map(path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A warping path (2, L) as a time map: each score time once, with the mean of the
    recording times the path pairs it with (for ``np.interp``)."""
    rows, idx, counts = np.unique(path[0], return_index=True, return_counts=True)
    return rows, np.add.reduceat(path[1], idx) / counts


def carry_beats(beats: np.ndarray, score_onsets: np.ndarray, time_map,
                *, tolerance: float = BEAT_ONSET_TOLERANCE) -> np.ndarray:
    """Recording seconds of score beats (seconds) through a time map (score → recording
    seconds): a beat on a note onset through the map, a beat with no onset of its own (inside
    held notes, in a rest) at a steady tempo between the nearest beats that have one.

    The second rule is how beat annotations place such beats: in ASAP's, 247 of 271 beats off
    every score onset (22 performances) lie exactly (0 ms) on the line between the neighbouring
    beats that have one. A time map between notes would instead follow whatever notes sound
    between the beats.
    """
    beats = np.asarray(beats, dtype=np.float64)
    mapped = np.asarray(time_map(beats), dtype=np.float64)
    onsets = np.unique(np.asarray(score_onsets, dtype=np.float64))
    if onsets.size == 0 or beats.size < 2:
        return mapped
    k = np.searchsorted(onsets, beats)  # the onsets either side of each beat
    before, after = onsets[np.maximum(k - 1, 0)], onsets[np.minimum(k, onsets.size - 1)]
    on = np.minimum(np.abs(beats - before), np.abs(beats - after)) <= tolerance
    if on.sum() >= 2:
        mapped[~on] = np.interp(beats[~on], beats[on], mapped[on])
    return mapped


@dataclass
class Alignment:
    """The result of aligning a score to a recording.

    Attributes
    ----------
    notes : the score's notes with onset/offset in recording seconds
    path : np.ndarray [shape=(2, L)] warping path in seconds (score time, recording time)
    local_cost : np.ndarray [shape=(L,)] cost of each path cell
    feature_rate : of the features that were aligned
    synthesis : "fluidsynth" or "notes" (the fallback without FluidSynth)
    tuning : the recording's deviation from A440 (cents) its features were centred on
    anchors : np.ndarray [shape=(2, K)] (score, recording) seconds of onsets placed exactly by
        onset refinement; with the path they make the time map
    doubtful : (start, end, mean cost) stretches in recording seconds where the cost is high
    left_out : (start, end) score seconds of written-out repeats the recording does not play;
        their notes are not in ``notes``
    score_onsets : the score's note onsets (seconds, as written), for :meth:`beat_times`
    """

    notes: NoteList
    path: np.ndarray
    local_cost: np.ndarray
    feature_rate: float
    synthesis: str
    tuning: float = 0.0
    anchors: np.ndarray | None = None
    doubtful: list[tuple[float, float, float]] = field(default_factory=list)
    left_out: list[tuple[float, float]] = field(default_factory=list)
    score_chroma: np.ndarray | None = None
    audio_chroma: np.ndarray | None = None
    score_onsets: np.ndarray | None = None

    def beat_times(self, beats: np.ndarray) -> np.ndarray:
        """Recording seconds of the score's beats (score seconds), as beat annotations place
        them (:func:`carry_beats`): beats on an onset through :meth:`to_recording`, the others
        at a steady tempo between those."""
        if self.score_onsets is None:
            return self.to_recording(beats)
        return carry_beats(beats, self.score_onsets, self.to_recording)

    def to_recording(self, t: np.ndarray) -> np.ndarray:
        """Recording seconds of score seconds ``t``: linear between the refined onsets
        (``anchors``), the warping path (its mean recording time per score frame) elsewhere; a
        time in a ``left_out`` repeat goes to where the recording skips it."""
        t = np.asarray(t, dtype=np.float64)
        for a, b in self.left_out:
            t = np.where((t >= a) & (t < b), a - 1e-6, t)
        rows, means = path_time_map(self.path)
        if self.anchors is not None and self.anchors.shape[1] >= 2:
            a = self.anchors
            inside = (rows > a[0, 0]) & (rows < a[0, -1])
            rows = np.concatenate([rows[~inside], a[0]])
            means = np.concatenate([means[~inside], a[1]])
            order = np.argsort(rows, kind="stable")
            rows, means = rows[order], np.maximum.accumulate(means[order])
        return np.interp(t, rows, means)

    def worst_stretch(self, seconds: float = 2 * COST_WINDOW_SECONDS) -> tuple[float, float]:
        """The stretch of the recording (start, end seconds) where the path's cost is highest."""
        from scipy.ndimage import uniform_filter1d

        win = max(1, int(seconds * self.feature_rate))
        i = int(np.argmax(uniform_filter1d(self.local_cost, size=win, mode="nearest")))
        a, b = max(0, i - win // 2), min(self.local_cost.size - 1, i + win // 2)
        return float(self.path[1, a]), float(self.path[1, b])

    @property
    def mean_cost(self) -> float:
        return float(np.mean(self.local_cost))

    def warnings(self) -> list[str]:
        """Human-readable reasons to distrust this alignment (empty when it looks sound)."""
        out = []
        limit = COST_WARNING[self.synthesis][0]
        if self.mean_cost > limit:
            worst = self.worst_stretch()
            out.append(f"mean alignment cost {self.mean_cost:.2f} is high (sound alignments stay "
                       f"under {limit}), highest from {worst[0]:.1f} s to {worst[1]:.1f} s of the "
                       "recording: are score and recording the same piece, with the same repeats?")
        for a, b, c in self.doubtful:
            out.append(f"high alignment cost {c:.2f} from {a:.1f} s to {b:.1f} s of the recording")
        for a, b in self.left_out:
            out.append(f"the recording leaves out the repeat the score writes out from {a:.1f} s to {b:.1f} s "
                       "(score time): its notes are not labelled")
        return out


def doubtful_stretches(local_cost: np.ndarray, path_frames: np.ndarray, feature_rate: float, *,
                       threshold: float = COST_WARNING["fluidsynth"][1],
                       window_seconds: float = COST_WINDOW_SECONDS) -> list[tuple[float, float, float]]:
    """Stretches of the path (recording seconds) where the smoothed local cost is high."""
    from scipy.ndimage import uniform_filter1d

    win = max(1, int(window_seconds * feature_rate))
    smooth = uniform_filter1d(local_cost, size=win, mode="nearest")
    bad = np.concatenate([[False], smooth > threshold, [False]]).astype(np.int8)
    starts, stops = np.flatnonzero(np.diff(bad) == 1), np.flatnonzero(np.diff(bad) == -1) - 1
    out = []
    for i, j in zip(starts, stops):
        a, b = path_frames[1, i] / feature_rate, (path_frames[1, j] + 1) / feature_rate
        if b - a >= window_seconds / 2:  # a blip at a silent start or end is no stretch
            out.append((float(a), float(b), float(local_cost[i:j + 1].mean())))
    return out


def check_durations(score_seconds: float, recording_seconds: float, *, force: bool = False) -> None:
    """Refuse a score and a recording whose lengths cannot belong to one performance."""
    if force:
        return
    r, s = recording_seconds, max(score_seconds, 1e-9)
    if r * MAX_DURATION_RATIO < s or r > s * MAX_DURATION_RATIO + MAX_EXTRA_SECONDS:
        raise ChromatoolError(
            f"the score lasts {score_seconds:.1f} s at its tempo but the recording {recording_seconds:.1f} s: "
            f"more than {MAX_DURATION_RATIO:g}x apart, so they are unlikely to be the same music "
            "(force=True aligns them anyway)")


def align_notes(notes: NoteList, y: np.ndarray, *, feature_rate: float = D.ALIGN_FEATURE_RATE,
                synthesis: str = "auto", soundfont: str | None = None, tuning: str | float = "auto",
                refine: bool = True, force: bool = False, repeats: str = "auto") -> Alignment:
    """Align a note list to a recording (mono, at the analysis rate).

    Parameters
    ----------
    notes : the score (times in seconds at its own tempo)
    y : np.ndarray [shape=(n,)] the recording at ``defaults.SAMPLE_RATE``
    feature_rate : frames per second of the alignment
    synthesis : "auto" (FluidSynth when installed), "fluidsynth" or "notes"
    soundfont : the score render's soundfont (the first General MIDI one found by default)
    tuning : the recording's deviation from A440 in cents, or "auto" to estimate it
    refine : move each onset to an onset of its pitches near the path
    force : align even when the durations are too far apart to be one piece
    repeats : "auto": a written-out repeat the recording plays once is left out (its notes are
        not labelled); "as-written": the score is aligned as it is

    Returns
    -------
    Alignment
    """
    from .multires import multiresolution_dtw  # numba: imported when there is work
    from .refine import refine_onset_groups
    from .repeats import choose_folds, fold, score_frames_kept, to_written

    if not len(notes):
        raise ChromatoolError(f"{notes.source or 'score'}: no notes")
    if repeats not in REPEATS:
        raise ParameterError(f"repeats must be one of {', '.join(REPEATS)}, got {repeats!r}")
    check_durations(notes.duration, y.size / D.SAMPLE_RATE, force=force)
    cents = resolve_tuning(tuning, y)
    Cx, how = score_cqt(notes, feature_rate, synthesis=synthesis, soundfont=soundfont)
    Cy = recording_cqt(y, feature_rate, cents)
    X, Y = (alignment_features(C, feature_rate, onsets=ONSET_SETTINGS[how]) for C in (Cx, Cy))
    pad = int(round(PAD_SECONDS * feature_rate))
    folds, written_chroma = [], X["chroma"]  # the plot shows the score as written
    written_onsets = np.unique(notes.onset)
    if repeats == "auto":
        folds = choose_folds(notes, X["coarse"], Y["coarse"], feature_rate, pad_frames=pad)
    if folds:  # align the score as played: without the repeats the recording leaves out
        keep = score_frames_kept(Cx.shape[1], folds, feature_rate, pad)
        Cx, X = Cx[:, keep], {k: v[:, keep] for k, v in X.items()}
        notes = fold(notes, folds)
    (Xf, Xc), (Yf, Yc) = (dtw_features(F, PITCH_WEIGHTS[how]) for F in (X, Y))
    wp, _ = multiresolution_dtw(Xf, Yf, X2=X["onsets"], Y2=Y["onsets"], weight2=ONSET_WEIGHT, coarse=(Xc, Yc))
    # the chroma part of the local cost judges the alignment (onsets are sparse by nature)
    cost = 1.0 - np.sum(X["chroma"][:, wp[0]] * Y["chroma"][:, wp[1]], axis=0)
    keep = (wp[0] >= pad) & (wp[0] < Cx.shape[1] - pad)  # the path over the score itself
    path = np.stack([wp[0, keep] - pad, wp[1, keep]]) / feature_rate
    a = Alignment(notes, path, cost[keep], feature_rate, how, tuning=cents,
                  score_chroma=written_chroma[:, pad:-pad], audio_chroma=Y["chroma"], score_onsets=written_onsets)
    end_audio = y.size / D.SAMPLE_RATE
    on = a.to_recording(notes.onset)
    if refine:
        on, a.anchors = refine_onset_groups(notes, on, Cy, feature_rate)
    on = np.clip(on, 0, end_audio)
    off = np.clip(a.to_recording(notes.offset), 0, end_audio)
    off = np.maximum(off, on + 1.0 / feature_rate)
    a.notes = replace(notes, onset=on, offset=off)
    a.doubtful = doubtful_stretches(cost[keep], wp[:, keep], feature_rate, threshold=COST_WARNING[how][1])
    if folds:  # score times back to the score as written
        a.path[0] = to_written(a.path[0], folds)
        if a.anchors is not None:
            a.anchors[0] = to_written(a.anchors[0], folds)
        a.left_out = [r.left_out for r in folds]
    return a


def align(score: str | Path, audio: str | Path, *, feature_rate: float = D.ALIGN_FEATURE_RATE,
          synthesis: str = "auto", soundfont: str | None = None, tuning: str | float = "auto",
          refine: bool = True, force: bool = False, repeats: str = "auto") -> Alignment:
    """Align a score file to a recording file (see :func:`align_notes` for the parameters).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from music21 import corpus
    >>> from chromatool import align, read_score
    >>> from chromatool.render import synthesize, to_pretty_midi
    >>> d = tempfile.mkdtemp()
    >>> notes = read_score(corpus.getWork("bach/bwv66.6"))
    >>> to_pretty_midi(notes).write(os.path.join(d, "score.mid"))
    >>> sf.write(os.path.join(d, "slow.wav"), synthesize(notes.time_scaled(1.25)), 22050)  # played slower
    >>> a = align(os.path.join(d, "score.mid"), os.path.join(d, "slow.wav"))
    >>> bool(np.median(np.abs(a.notes.onset - 1.25 * notes.onset)) < 0.03), a.warnings()
    (True, [])
    >>> float(np.round(a.to_recording(4.0), 1))  # score second 4 in the recording
    5.0
    """
    notes = read_score(score)
    y = load_audio(audio)
    return align_notes(notes, y, feature_rate=feature_rate, synthesis=synthesis, soundfont=soundfont,
                       tuning=tuning, refine=refine, force=force, repeats=repeats)


def path_csv(alignment: Alignment) -> str:
    """The warping path as CSV text (score_time, audio_time in seconds)."""
    lines = ["score_time,audio_time"]
    lines += [f"{a:.4f},{b:.4f}" for a, b in alignment.path.T]
    return "\n".join(lines) + "\n"
