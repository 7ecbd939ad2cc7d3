"""Expressive performance timing for renders with exact ground truth.

Smooth random tempo curves (:class:`chromatool.render.TempoCurve`) test none of what performers
do. :func:`expressive_timing` builds a score-time → performance-time map the way players shape
time: a global tempo, a rubato that pushes and pulls within the bar, ritardandi into phrase
ends, fermatas held 1.5–4x and pauses between sections. :func:`spread_chords` staggers the
notes of a chord between parts, as ensembles and pianists do; :func:`add_vibrato` gives singers,
strings and winds their vibrato. Every map is exact, so a render
of the performed notes has known note times.

>>> import numpy as np
>>> from chromatool.expressive import TimeMap
>>> TimeMap(np.array([0.0, 1.0, 2.0]), np.array([0.0, 2.0, 5.0]))(np.array([0.5, 1.5]))
array([1. , 3.5])
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .errors import ParameterError
from .score import NoteList

#: Score-time resolution (seconds) of the tempo grid an expressive map is integrated on.
GRID_SECONDS: float = 0.01


@dataclass(frozen=True)
class TimeMap:
    """A monotone piecewise-linear map from score seconds to performance seconds.

    Attributes
    ----------
    score : np.ndarray [shape=(K,)] knot times in the score (non-decreasing)
    performance : np.ndarray [shape=(K,)] their performance times (non-decreasing); a pause is
        two knots at (almost) the same score time
    """

    score: np.ndarray
    performance: np.ndarray

    def __post_init__(self):
        if self.score.shape != self.performance.shape or self.score.size < 2:
            raise ParameterError("a time map needs two or more (score, performance) knots")
        if np.any(np.diff(self.score) < 0) or np.any(np.diff(self.performance) < 0):
            raise ParameterError("time map knots must be non-decreasing")

    def __call__(self, t: np.ndarray, *, side: str = "right") -> np.ndarray:
        """Performance time of score time(s) ``t`` (seconds). At a pause (two knots at one
        score time) ``side="right"`` gives the time after it, ``"left"`` the time before."""
        t = np.asarray(t, dtype=np.float64)
        s, p = self.score, self.performance
        j = np.clip(np.searchsorted(s, t, side=side), 1, s.size - 1)
        span = s[j] - s[j - 1]
        w = np.clip((t - s[j - 1]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
        return p[j - 1] + np.where(span > 0, w, 1.0) * (p[j] - p[j - 1])

    def apply(self, notes: NoteList) -> NoteList:
        """The notes played with this timing (a note ending where a pause begins ends before it)."""
        return replace(notes, onset=self(notes.onset), offset=self(notes.offset, side="left"))

    def then(self, scale: float = 1.0, shift: float = 0.0) -> "TimeMap":
        """This map followed by ``t -> t * scale + shift`` (a speed change, a leading pad)."""
        return TimeMap(self.score, self.performance * scale + shift)


def measure_starts(notes: NoteList, *, beats_per_bar: int = 4) -> np.ndarray:
    """Score times (seconds) where measures begin: from the notes' measure numbers, or every
    ``beats_per_bar`` beats of the score tempo where the score has none."""
    if len(notes) and np.all(notes.measure >= 0):
        starts = np.array(sorted({float(notes.onset[notes.measure == m].min())
                                  for m in np.unique(notes.measure)}))
        if starts.size >= 2:
            return starts
    bar = beats_per_bar * 60.0 / notes.tempo_bpm
    return np.arange(0.0, max(notes.duration, bar), bar)


def expressive_timing(notes: NoteList, *, rng: np.random.Generator,
                      tempo: tuple[float, float] = (0.6, 1.5),
                      rubato: tuple[float, float] = (0.04, 0.18),
                      ritardando: tuple[float, float] = (1.25, 2.0),
                      fermata: tuple[float, float] = (1.5, 4.0), fermata_share: float = 0.35,
                      pause: tuple[float, float] = (0.5, 3.0), pause_share: float = 0.3,
                      phrase_bars: tuple[int, int] = (2, 8)) -> TimeMap:
    """A random expressive performance of ``notes``: score seconds → performance seconds.

    Parameters
    ----------
    notes : the score (times in seconds at the score tempo; measure numbers are used for bars)
    rng : random generator
    tempo : range of the global tempo, as a factor of the score tempo (1.5 is faster)
    rubato : range of the within-bar push and pull (log-rate amplitude per bar)
    ritardando : range of the slowing reached at a phrase end (rate factor)
    fermata : range of the stretch of the last chord before a phrase end, applied at
        ``fermata_share`` of the phrase ends
    pause : range of the silence (seconds) inserted at ``pause_share`` of the phrase ends
    phrase_bars : range of phrase lengths in bars

    Returns
    -------
    TimeMap
    """
    if not len(notes):
        raise ParameterError("notes is empty")
    dur = notes.duration
    grid = np.arange(0.0, dur + 1.0 + GRID_SECONDS, GRID_SECONDS)
    logr = np.full(grid.size, -np.log(rng.uniform(*tempo)))
    bars = measure_starts(notes)
    bar_len = np.diff(np.append(bars, max(dur, bars[-1] + 1e-3)))
    bar_len = np.where(bar_len > 0, bar_len, np.median(bar_len[bar_len > 0]) if np.any(bar_len > 0) else 1.0)
    # rubato: inside each bar the rate swings around its mean (the bar keeps its length)
    for b0, L in zip(bars, bar_len):
        sel = (grid >= b0) & (grid < b0 + L)
        phase = rng.uniform(0, 2 * np.pi)
        logr[sel] += rng.uniform(*rubato) * np.sin(2 * np.pi * (grid[sel] - b0) / L + phase)
    # a slow drift of the tempo over the piece
    for _ in range(2):
        logr += rng.uniform(-0.08, 0.08) * np.sin(2 * np.pi * grid / rng.uniform(15, 60) + rng.uniform(0, 6.3))
    # phrase ends: ritardando, fermata on the last chord, a pause before the next phrase
    ends, k = [], 0
    while True:
        k += int(rng.integers(phrase_bars[0], phrase_bars[1] + 1))
        if k >= bars.size:
            break
        ends.append(bars[k])
    ends.append(dur)
    pauses = []
    for t_end in ends:
        width = min(max(2.0, float(np.median(bar_len))), t_end)
        sel = (grid > t_end - width) & (grid <= t_end)
        x = (grid[sel] - (t_end - width)) / width
        logr[sel] += np.log(rng.uniform(*ritardando)) * x**2
        if rng.random() < fermata_share:
            last = notes.onset[notes.onset < t_end - 1e-6]
            if last.size:
                sel = (grid >= last.max()) & (grid < t_end)
                logr[sel] += np.log(rng.uniform(*fermata))
        if t_end < dur and rng.random() < pause_share:
            pauses.append((t_end, float(rng.uniform(*pause))))
    rate = np.exp(logr)
    perf = np.concatenate([[0.0], np.cumsum((rate[1:] + rate[:-1]) / 2 * GRID_SECONDS)])
    for t_p, gap in pauses:  # a jump at each pause: two knots at one score time
        i = int(np.searchsorted(grid, t_p))
        at = float(np.interp(t_p, grid, perf))
        grid = np.concatenate([grid[:i], [t_p, t_p], grid[i:]])
        perf = np.concatenate([perf[:i], [at, at + gap], perf[i:] + gap])
    return TimeMap(grid, perf)


def spread_chords(notes: NoteList, *, rng: np.random.Generator, seconds: float = 0.03) -> NoteList:
    """Stagger simultaneous notes of different parts by up to ±``seconds`` (each part of each
    chord moved as one, note lengths kept)."""
    if seconds < 0:
        raise ParameterError(f"seconds must be >= 0, got {seconds}")
    key = np.round(notes.onset, 3)
    shift = np.zeros(len(notes))
    for _, idx in _groups(list(zip(key, notes.part))):
        shift[idx] = rng.uniform(-seconds, seconds)
    on = np.maximum(0.0, notes.onset + shift)
    return replace(notes, onset=on, offset=np.maximum(notes.offset + shift, on + 1e-3))


#: Vibrato depth (cents at the peak, a range drawn from per part) of the GM programs whose
#: players sustain a note with it: singers ±30–90 cents, bowed strings ±10–35, flutes, double
#: reeds and brass ±5–25 (Seashore; Sundberg). Other programs (keyboards, plucked strings,
#: clarinets, organs) play straight.
VIBRATO_CENTS: dict[int, tuple[float, float]] = {
    **dict.fromkeys((52, 53, 54), (30.0, 90.0)),
    **dict.fromkeys((40, 41, 42, 43, 44, 48, 49, 50, 51), (10.0, 35.0)),
    **dict.fromkeys((56, 57, 58, 60, 64, 65, 66, 68, 69, 70, 72, 73), (5.0, 25.0)),
}
#: Vibrato rate range (Hz) a part's rate is drawn from.
VIBRATO_HZ: tuple[float, float] = (4.5, 7.0)


def add_vibrato(pm, *, rng: np.random.Generator, step: float = 0.02, bend_range_cents: float = 200.0) -> None:
    """Pitch-bend vibrato on the parts of a ``pretty_midi.PrettyMIDI`` whose program sustains
    notes with it (:data:`VIBRATO_CENTS`), in place: each part its own depth, rate and phase; a
    note starts straight and the vibrato swells in over 0.2 s after a delay of 0.05–0.3 s (so
    short notes stay straight). ``bend_range_cents`` is the synthesiser's pitch-bend range
    (General MIDI's default: ±2 semitones). The notes keep their pitches: labels stay valid.

    >>> import numpy as np, pretty_midi
    >>> pm = pretty_midi.PrettyMIDI()
    >>> voice = pretty_midi.Instrument(program=52)
    >>> voice.notes.append(pretty_midi.Note(velocity=80, pitch=60, start=0.0, end=2.0))
    >>> pm.instruments.append(voice)
    >>> add_vibrato(pm, rng=np.random.default_rng(0))
    >>> bends = np.array([b.pitch for b in voice.pitch_bends])
    >>> bool(bends.max() > 0 > bends.min()), voice.pitch_bends[-1].pitch
    (True, 0)
    """
    import pretty_midi

    if step <= 0:
        raise ParameterError(f"step must be > 0 seconds, got {step}")
    for inst in pm.instruments:
        span = None if inst.is_drum else VIBRATO_CENTS.get(inst.program)
        if span is None or not inst.notes:
            continue
        depth, rate = rng.uniform(*span), rng.uniform(*VIBRATO_HZ)
        delay, phase = rng.uniform(0.05, 0.3), rng.uniform(0, 2 * np.pi)
        on = np.sort([n.start for n in inst.notes])
        off = np.sort([n.end for n in inst.notes])
        t = np.arange(on[0], off[-1], step)
        sounding = np.searchsorted(on, t, side="right") > np.searchsorted(off, t, side="right")
        latest = on[np.searchsorted(on, t, side="right") - 1]
        swell = np.clip((t - latest - delay) / 0.2, 0.0, 1.0) * sounding
        cents = depth * swell * np.sin(2 * np.pi * rate * t + phase)
        value = np.clip(np.round(cents / bend_range_cents * 8191), -8192, 8191).astype(int)
        keep = np.r_[True, value[1:] != value[:-1]]
        inst.pitch_bends = [pretty_midi.PitchBend(int(v), float(x)) for v, x in zip(value[keep], t[keep])]
        inst.pitch_bends.append(pretty_midi.PitchBend(0, float(off[-1])))


def _groups(keys: list) -> list[tuple[object, np.ndarray]]:
    index: dict[object, list[int]] = {}
    for i, k in enumerate(keys):
        index.setdefault(k, []).append(i)
    return [(k, np.array(v)) for k, v in index.items()]
