"""Repeats a performance leaves out: a score whose repeats are written out (unfolded, as most
MIDI scores are) against a recording that plays a repeated section once.

A repeat is found in the note list itself: a stretch of onsets ``[start, end)`` whose every
onset recurs ``shift`` seconds later with the same pitches, the copy following the original
(``end - start <= shift <= MAX_SHIFT_RATIO * (end - start)``: a one-bar ostinato is not a
repeat, nor is a reprise far later). Leaving the repeat out
(``fold``) removes the score's ``[end, end + shift)`` — the first ending and the second pass,
or the second pass alone — so the performance plays the first pass and goes on after the
second. Whether the recording leaves it out is decided by DTW: the folded score is taken when
it aligns at a clearly lower cost than the score as written (:func:`choose_folds`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .score import NoteList

#: A repeat is at least this long (seconds of score) ...
MIN_REPEAT_SECONDS: float = 8.0
#: ... and holds at least this many distinct onsets.
MIN_REPEAT_ONSETS: int = 16
#: The second pass starts at most this many times the repeat's length after the first does (a
#: first ending between them); a passage that returns much later is a reprise, not a repeat.
MAX_SHIFT_RATIO: float = 2.0
#: Onsets this close (seconds) are the same time.
ONSET_TOLERANCE: float = 0.01
#: The folded score is taken when its coarse DTW cost is lower than the written score's by at
#: least this much per coarse frame it leaves out (the cost is 1 - cosine of CENS-like chroma).
MIN_GAIN: float = 0.1


@dataclass(frozen=True)
class Repeat:
    """Score seconds ``[start, end)`` recur ``shift`` seconds later."""

    start: float
    end: float
    shift: float

    @property
    def left_out(self) -> tuple[float, float]:
        """The score seconds a performance without the repeat does not play."""
        return self.end, self.end + self.shift


def _onset_signatures(notes: NoteList) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Distinct onsets (in units of ONSET_TOLERANCE) and the pitches starting at each."""
    q, inverse = np.unique(np.round(notes.onset / ONSET_TOLERANCE).astype(np.int64), return_inverse=True)
    sigs: list[set[int]] = [set() for _ in q]
    for k, p in zip(inverse, notes.pitch):
        sigs[k].add(int(p))
    return q, [tuple(sorted(x)) for x in sigs]


def find_repeats(notes: NoteList, *, min_seconds: float = MIN_REPEAT_SECONDS,
                 min_onsets: int = MIN_REPEAT_ONSETS, max_candidates: int = 4) -> list[Repeat]:
    """Written-out repeats of a score: the longest stretches of onsets that recur, with the
    same pitches, right after themselves; at most ``max_candidates``, longest first.

    >>> from music21 import corpus
    >>> from chromatool import read_score
    >>> chorale = read_score(corpus.getWork("bach/bwv66.6"))
    >>> find_repeats(write_out(chorale, 0.0, 11.0))    # its first 11 s written out twice
    [Repeat(start=0.0, end=11.0, shift=11.0)]
    >>> find_repeats(chorale)
    []
    """
    if len(notes) == 0:
        return []
    q, sigs = _onset_signatures(notes)
    index = {(int(k), s) for k, s in zip(q, sigs)}
    by_sig: dict[tuple[int, ...], list[int]] = {}
    for k, s in zip(q, sigs):
        by_sig.setdefault(s, []).append(int(k))
    votes: dict[int, int] = {}
    for ks in by_sig.values():
        a = np.array(ks)
        if a.size > 200:  # a very common chord: its pairs say little and cost much
            a = a[:: int(np.ceil(a.size / 200))]
        d = a[None, :] - a[:, None]
        for k, c in zip(*np.unique(d[d * ONSET_TOLERANCE >= min_seconds], return_counts=True)):
            votes[int(k)] = votes.get(int(k), 0) + int(c)
    near = {k: sum(votes.get(k + j, 0) for j in (-1, 0, 1)) for k in votes}  # rounding splits a shift's votes
    shifts = sorted((k for k, c in near.items() if c >= min_onsets and c >= max(near.get(k - 1, 0), near.get(k + 1, 0))),
                    key=lambda k: -near[k])[:20]
    found: list[Repeat] = []
    for k in shifts:
        hit = np.array([any((int(t) + k + j, s) in index for j in (-1, 0, 1)) for t, s in zip(q, sigs)])
        best, run_start = (0, 0), None
        for i, h in enumerate(np.append(hit, False)):
            if h and run_start is None:
                run_start = i
            elif not h and run_start is not None:
                if i - run_start > best[1] - best[0]:
                    best = (run_start, i)
                run_start = None
        i0, i1 = best
        if i1 - i0 < min_onsets:
            continue
        start = float(q[i0] * ONSET_TOLERANCE)
        end = float(q[i1] * ONSET_TOLERANCE) if i1 < q.size else float(notes.offset.max())
        shift = k * ONSET_TOLERANCE
        if end - start < min_seconds or not end - start - ONSET_TOLERANCE <= shift <= MAX_SHIFT_RATIO * (end - start):
            continue
        rep = Repeat(start, end, shift)
        if not any(_overlap(rep, r) for r in found):
            found.append(rep)
    found.sort(key=lambda r: -(r.end - r.start))
    return found[:max_candidates]


def write_out(notes: NoteList, start: float, end: float) -> NoteList:
    """The score with its seconds ``[start, end)`` played twice, as a repeat sign would have them
    (notes starting there, a second time right after; later notes ``end - start`` later)."""
    before = np.flatnonzero(notes.onset < end)
    again = np.flatnonzero((notes.onset >= start) & (notes.onset < end))
    out = notes.select(np.concatenate([before, again, np.flatnonzero(notes.onset >= end)]))
    n = before.size + again.size
    on, off = out.onset.copy(), out.offset.copy()
    off[:n] = np.minimum(off[:n], end)  # both passes end where the repeat does
    on[before.size:] += end - start
    off[before.size:] += end - start
    return replace(out, onset=on, offset=off)


def _overlap(a: Repeat, b: Repeat) -> bool:
    return a.start < b.end + b.shift and b.start < a.end + a.shift


def fold(notes: NoteList, repeats: list[Repeat]) -> NoteList:
    """The score without each repeat's ``left_out`` seconds: notes starting there are dropped,
    notes sounding into it end where it starts, and later notes move earlier."""
    out = notes
    for r in sorted(repeats, key=lambda r: -r.end):  # from the end, so earlier times stay put
        a, b = r.left_out
        keep = (out.onset < a - ONSET_TOLERANCE / 2) | (out.onset >= b - ONSET_TOLERANCE / 2)
        out = out.select(keep)
        later = out.onset >= b - ONSET_TOLERANCE / 2
        on = np.where(later, out.onset - r.shift, out.onset)
        off = np.where(later, out.offset - r.shift, np.minimum(out.offset, a))
        out = replace(out, onset=on, offset=np.maximum(off, on + 1e-3))
    return out


def to_written(t: np.ndarray, repeats: list[Repeat]) -> np.ndarray:
    """Seconds of the score with ``repeats`` left out (:func:`fold`) as seconds of the score as
    written."""
    t = np.asarray(t, dtype=np.float64)
    out = t.copy()
    for r in sorted(repeats, key=lambda r: r.end):
        a, _ = r.left_out
        out = np.where(out >= a, out + r.shift, out)
    return out


def choose_folds(notes: NoteList, X: np.ndarray, Y: np.ndarray, feature_rate: float, *,
                 pad_frames: int = 0, min_gain: float = MIN_GAIN) -> list[Repeat]:
    """The written-out repeats of ``notes`` that the recording leaves out: each repeat (longest
    first) is folded when the coarse DTW of the score's features ``X`` (d, N; the score's frame
    ``pad_frames + t * feature_rate`` is its second t) against the recording's ``Y`` costs at
    least ``min_gain`` less per coarse frame left out than with the repeats kept so far."""
    from .multires import coarse_cost

    candidates = find_repeats(notes)
    if not candidates:
        return []
    cost, factor = coarse_cost(X, Y)
    chosen: list[Repeat] = []
    for r in candidates:
        trial = chosen + [r]
        c, _ = coarse_cost(X[:, score_frames_kept(X.shape[1], trial, feature_rate, pad_frames)], Y,
                           factor=factor)
        a, b = r.left_out
        if (cost - c) / max((b - a) * feature_rate / factor, 1.0) >= min_gain:
            chosen, cost = trial, c
    return chosen


def score_frames_kept(n_frames: int, repeats: list[Repeat], feature_rate: float, pad_frames: int = 0) -> np.ndarray:
    """Indices of the score's feature frames that remain when ``repeats`` are left out."""
    keep = np.ones(n_frames, bool)
    for r in repeats:
        a, b = (pad_frames + int(round(t * feature_rate)) for t in r.left_out)
        keep[a:b] = False
    return np.flatnonzero(keep)
