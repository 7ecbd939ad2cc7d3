"""Score-to-audio alignment producing MusicNet-style note labels (Thickstun et al. 2017, §3).

The score is rendered with FluidSynth (as MusicNet rendered with a synthesizer), both sides get
the same features — CQT chroma and decaying chroma onsets — at the alignment feature rate, and
multiresolution DTW aligns them. Every score note is carried to recording time through the
warping path. Without FluidSynth, the score side's features are made from the note list itself.
The local cost along the path tells where an alignment is doubtful.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from . import defaults as D
from .audio import load_audio
from .dtw import multiresolution_dtw
from .errors import ChromatoolError, ParameterError
from .features import chroma_onsets, cqt, cqt_frequencies, fold_to_chroma, normalize, octave_weights
from .score import NoteList, read_score

#: Weight of the onset features' cosine distance in the alignment cost.
ONSET_WEIGHT: float = 1.0
#: Band radius (frames) of the multiresolution DTW at each level.
DTW_RADIUS: int = 16
#: Cost levels above which an alignment is reported as doubtful, per score synthesis:
#: (mean over the whole path, smoothed local cost of a stretch). Measured: with FluidSynth the
#: real Chopin alignments average 0.16 and 0.19 (local peaks 0.68) and a score of another piece
#: 0.50; a Bach chorale against a tempo-warped render of itself 0.17, of another chorale 0.63.
#: Features made from the notes alone sit higher: 0.61–0.80 when right, 1.06–1.16 when wrong.
COST_WARNING: dict[str, tuple[float, float]] = {"fluidsynth": (0.35, 0.75), "notes": (0.95, 1.4)}
#: Smoothing window (seconds) of the local cost before it is compared with COST_WARNING.
COST_WINDOW_SECONDS: float = 2.0

#: Columns of chromatool's label CSV, and of MusicNet's.
LABEL_COLUMNS = ("start_time", "end_time", "instrument", "note", "start_beat", "end_beat",
                 "measure", "note_value")
MUSICNET_COLUMNS = ("start_sample", "end_sample", "instrument_id", "midi_note", "measure", "beat",
                    "note_value")
MUSICNET_RATE = 44100


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
    doubtful : (start, end, mean cost) stretches in recording seconds where the cost is high
    """

    notes: NoteList
    path: np.ndarray
    local_cost: np.ndarray
    feature_rate: float
    synthesis: str
    doubtful: list[tuple[float, float, float]] = field(default_factory=list)
    score_chroma: np.ndarray | None = None
    audio_chroma: np.ndarray | None = None

    @property
    def mean_cost(self) -> float:
        return float(np.mean(self.local_cost))

    def warnings(self) -> list[str]:
        """Human-readable reasons to distrust this alignment (empty when it looks sound)."""
        out = []
        limit = COST_WARNING[self.synthesis][0]
        if self.mean_cost > limit:
            out.append(f"mean alignment cost {self.mean_cost:.2f} is high (sound alignments stay "
                       f"under {limit}): are score and recording the same piece, "
                       "with the same repeats?")
        for a, b, c in self.doubtful:
            out.append(f"high alignment cost {c:.2f} from {a:.1f} s to {b:.1f} s of the recording")
        return out


def _alignment_features(C: np.ndarray, feature_rate: float) -> tuple[np.ndarray, np.ndarray]:
    w = octave_weights(cqt_frequencies())
    chroma = normalize(fold_to_chroma(C * w[:, None]))
    return chroma, chroma_onsets(C, feature_rate=feature_rate)


def audio_features(y: np.ndarray, feature_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Chroma and chroma-onset features (12, N) of a recording for alignment."""
    return _alignment_features(cqt(y, feature_rate=feature_rate).data, feature_rate)


def note_features(notes: NoteList, feature_rate: float, n_frames: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Features made from the note list itself (no synthesis): a velocity-weighted pitch roll
    with a decaying tail for chroma, and its onsets."""
    n = n_frames or int(np.ceil(notes.duration * feature_rate)) + 1
    C = np.zeros((D.N_BINS, n), dtype=np.float32)
    for on, off, p, v in zip(notes.onset, notes.offset, notes.pitch, notes.velocity):
        b = (p - D.MIDI_MIN) * D.BINS_PER_SEMITONE
        a0 = int(round(on * feature_rate))
        a1 = max(a0 + 1, int(round(off * feature_rate)))
        if 0 <= b < D.N_BINS and a0 < n:
            env = np.exp(-np.arange(a1 - a0) / (2.0 * feature_rate)) * (v / 127.0)
            C[b, a0:min(a1, n)] += env[: min(a1, n) - a0]
    return _alignment_features(C, feature_rate)


def score_features(notes: NoteList, feature_rate: float, *, synthesis: str = "auto",
                   soundfont: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """The score side's features: from a FluidSynth rendering, or from the notes."""
    from .render import can_render, render

    if synthesis not in ("auto", "fluidsynth", "notes"):
        raise ParameterError(f"unknown synthesis {synthesis!r}; choose auto, fluidsynth or notes")
    if synthesis == "fluidsynth" or (synthesis == "auto" and can_render()):
        y = render(notes, soundfont=soundfont)
        ch, on = audio_features(y, feature_rate)
        return ch, on, "fluidsynth"
    ch, on = note_features(notes, feature_rate)
    return ch, on, "notes"


def _time_map(path_frames: np.ndarray, feature_rate: float) -> Callable[[np.ndarray], np.ndarray]:
    """Score seconds → recording seconds along a path (mean recording frame per score frame)."""
    n, m = path_frames
    rows = np.unique(n)
    means = np.array([m[n == r].mean() for r in rows])
    return lambda t: np.interp(t * feature_rate, rows, means) / feature_rate


def doubtful_stretches(local_cost: np.ndarray, path_frames: np.ndarray, feature_rate: float, *,
                       threshold: float = COST_WARNING["fluidsynth"][1],
                       window_seconds: float = COST_WINDOW_SECONDS) -> list[tuple[float, float, float]]:
    """Stretches of the path (recording seconds) where the smoothed local cost is high."""
    from scipy.ndimage import uniform_filter1d

    win = max(1, int(window_seconds * feature_rate))
    smooth = uniform_filter1d(local_cost, size=win, mode="nearest")
    bad = smooth > threshold
    out = []
    i = 0
    while i < bad.size:
        if bad[i]:
            j = i
            while j + 1 < bad.size and bad[j + 1]:
                j += 1
            a, b = path_frames[1, i] / feature_rate, (path_frames[1, j] + 1) / feature_rate
            if b - a >= window_seconds / 2:  # a blip at a silent start or end is no stretch
                out.append((float(a), float(b), float(local_cost[i:j + 1].mean())))
            i = j + 1
        else:
            i += 1
    return out


def align_notes(notes: NoteList, y: np.ndarray, *, feature_rate: float = D.ALIGN_FEATURE_RATE,
                synthesis: str = "auto", soundfont: str | None = None) -> Alignment:
    """Align a note list to a recording (mono, at the analysis rate)."""
    if not len(notes):
        raise ChromatoolError(f"{notes.source or 'score'}: no notes")
    Xc, Xo, how = score_features(notes, feature_rate, synthesis=synthesis, soundfont=soundfont)
    Yc, Yo = audio_features(y, feature_rate)
    wp, cost = multiresolution_dtw(Xc, Yc, X2=Xo, Y2=Yo, weight2=ONSET_WEIGHT, radius=DTW_RADIUS)
    tmap = _time_map(wp, feature_rate)
    end_audio = y.size / D.SAMPLE_RATE
    on = np.clip(tmap(notes.onset), 0, end_audio)
    off = np.clip(tmap(notes.offset), 0, end_audio)
    off = np.maximum(off, on + 1.0 / feature_rate)
    aligned = replace(notes, onset=on, offset=off)
    return Alignment(aligned, wp / feature_rate, cost, feature_rate, how,
                     doubtful_stretches(cost, wp, feature_rate, threshold=COST_WARNING[how][1]),
                     Xc, Yc)


def align(score: str | Path, audio: str | Path, *, feature_rate: float = D.ALIGN_FEATURE_RATE,
          synthesis: str = "auto", soundfont: str | None = None) -> Alignment:
    """Align a score file to a recording file."""
    notes = read_score(score)
    y = load_audio(audio)
    return align_notes(notes, y, feature_rate=feature_rate, synthesis=synthesis, soundfont=soundfont)


# ---------------------------------------------------------------------------------------------
# Label files
# ---------------------------------------------------------------------------------------------


def _beat_in_measure(notes: NoteList) -> np.ndarray:
    """Onset position within its measure as a fraction of the measure (MusicNet's ``beat``); NaN
    where the notes carry no beat positions."""
    beat = np.zeros(len(notes))
    if not len(notes) or np.all(notes.measure < 0):
        return beat
    measures = np.unique(notes.measure)
    starts = {m: notes.onset_beat[notes.measure == m].min() for m in measures}
    for i, m in enumerate(measures):
        nxt = starts[measures[i + 1]] if i + 1 < len(measures) else None
        sel = notes.measure == m
        length = (nxt - starts[m]) if nxt is not None and nxt > starts[m] else None
        if length is None:
            prev = [starts[measures[k + 1]] - starts[measures[k]] for k in range(i)]
            length = float(np.median(prev)) if prev else max(1.0, float(notes.offset_beat[sel].max() - starts[m]))
        # no beat positions (labels read from MusicNet samples): the position is unknown
        beat[sel] = (notes.onset_beat[sel] - starts[m]) / length if length > 0 else np.nan
    return beat


def labels_csv(notes: NoteList, *, fmt: str = "chromatool") -> str:
    """Note labels as CSV text: chromatool's columns (seconds) or MusicNet's (44.1 kHz samples)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if fmt == "musicnet":
        w.writerow(MUSICNET_COLUMNS)
        beat = _beat_in_measure(notes)
        for i in np.argsort(notes.onset, kind="stable"):
            w.writerow([int(round(notes.onset[i] * MUSICNET_RATE)), int(round(notes.offset[i] * MUSICNET_RATE)),
                        int(notes.program[i]) + 1 if notes.program[i] >= 0 else 1, int(notes.pitch[i]),
                        int(notes.measure[i]), f"{beat[i]:.6f}", notes.note_value[i]])
    elif fmt == "chromatool":
        w.writerow(LABEL_COLUMNS)
        for i in np.argsort(notes.onset, kind="stable"):
            part = int(notes.part[i])
            inst = notes.part_names[part] if part < len(notes.part_names) else str(part)
            w.writerow([f"{notes.onset[i]:.4f}", f"{notes.offset[i]:.4f}", inst, int(notes.pitch[i]),
                        f"{notes.onset_beat[i]:.4f}", f"{notes.offset_beat[i]:.4f}",
                        int(notes.measure[i]), notes.note_value[i]])
    else:
        raise ParameterError(f"unknown label format {fmt!r}; choose chromatool or musicnet")
    return buf.getvalue()


def read_labels(path: str | Path) -> NoteList:
    """Read a label file written by :func:`labels_csv` (either format) or by MusicNet."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise ChromatoolError(f"{path}: cannot read labels ({exc.strerror})") from exc
    if not rows:
        raise ChromatoolError(f"{path}: no notes")
    cols = set(rows[0])
    from .score import _from_rows

    out = []
    parts: dict[str, int] = {}  # one part per instrument, in order of appearance
    try:
        if set(MUSICNET_COLUMNS) <= cols:
            for r in rows:
                part = parts.setdefault(r["instrument_id"], len(parts))
                out.append((int(r["start_sample"]) / MUSICNET_RATE, int(r["end_sample"]) / MUSICNET_RATE,
                            int(r["midi_note"]), 0.0, 0.0, 64, part, int(r["instrument_id"]) - 1,
                            int(r["measure"]), r["note_value"]))
        elif set(LABEL_COLUMNS) <= cols:
            for r in rows:
                part = parts.setdefault(r["instrument"], len(parts))
                out.append((float(r["start_time"]), float(r["end_time"]), int(r["note"]),
                            float(r["start_beat"]), float(r["end_beat"]), 64, part, -1,
                            int(r["measure"]), r["note_value"]))
        else:
            raise ChromatoolError(f"{path}: not a label file (columns {', '.join(sorted(cols))})")
    except (ValueError, KeyError) as exc:
        raise ChromatoolError(f"{path}: malformed label row ({exc})") from None
    return _from_rows(out, source=str(path), part_names=tuple(parts))


def path_csv(alignment: Alignment) -> str:
    lines = ["score_time,audio_time"]
    lines += [f"{a:.4f},{b:.4f}" for a, b in alignment.path.T]
    return "\n".join(lines) + "\n"
