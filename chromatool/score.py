"""Score reading: MIDI, MusicXML, **kern, ABC and MTD/CSV note lists → one :class:`NoteList`.

MIDI goes through pretty_midi (fast, same notes as music21); MusicXML, kern and ABC through
music21; ``Start;Duration;Pitch`` note lists (the Musical Theme Dataset CSVs) are read directly.
From a note list: binary chroma, piano roll and the top-voice melody at any feature rate.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import defaults as D
from .errors import ParameterError, ScoreError

MIDI_EXTENSIONS = (".mid", ".midi", ".smf")
MUSIC21_EXTENSIONS = (".xml", ".musicxml", ".mxl", ".krn", ".abc")
CSV_EXTENSIONS = (".csv",)
SCORE_EXTENSIONS = MIDI_EXTENSIONS + MUSIC21_EXTENSIONS + CSV_EXTENSIONS

#: Tempo (quarter notes per minute) assumed where a score states none.
DEFAULT_BPM: float = 120.0

#: Note values by length in quarter notes (MusicNet's names).
_NOTE_VALUES: dict[float, str] = {
    6.0: "Dotted Whole", 4.0: "Whole", 3.0: "Dotted Half", 2.0: "Half", 1.5: "Dotted Quarter",
    1.0: "Quarter", 0.75: "Dotted Eighth", 0.5: "Eighth", 0.375: "Dotted Sixteenth",
    0.25: "Sixteenth", 0.1875: "Dotted Thirty Second", 0.125: "Thirty Second",
    0.0625: "Sixty Fourth", 2.0 / 3.0: "Triplet", 1.0 / 3.0: "Triplet Eighth",
    1.0 / 6.0: "Triplet Sixteenth", 4.0 / 3.0: "Triplet Half",
}


def note_value_name(quarter_length: float) -> str:
    """MusicNet-style name of a duration in quarter notes ("Dotted Eighth"); "" if irregular."""
    for ql, name in _NOTE_VALUES.items():
        if abs(quarter_length - ql) < 1e-3:
            return name
    return ""


@dataclass(frozen=True)
class NoteList:
    """Notes of a score, one entry per note (arrays of equal length, sorted by onset).

    Attributes
    ----------
    onset, offset : seconds at the score tempo
    onset_beat, offset_beat : quarter-note beats from the start
    pitch : MIDI note numbers
    velocity : MIDI velocities (64 where the score has none)
    part : part index (0-based)
    program : General MIDI program per note (-1 unknown)
    measure : measure number (-1 unknown)
    note_value : note value names ("Quarter", ...)
    part_names : name of each part
    source : the file read
    """

    onset: np.ndarray
    offset: np.ndarray
    pitch: np.ndarray
    onset_beat: np.ndarray
    offset_beat: np.ndarray
    velocity: np.ndarray
    part: np.ndarray
    program: np.ndarray
    measure: np.ndarray
    note_value: tuple[str, ...]
    part_names: tuple[str, ...] = ()
    source: str = ""
    tempo_bpm: float = field(default=DEFAULT_BPM)

    def __len__(self) -> int:
        return int(self.pitch.size)

    @property
    def duration(self) -> float:
        return float(self.offset.max()) if len(self) else 0.0

    def select(self, mask: np.ndarray) -> "NoteList":
        """A NoteList of the notes where ``mask`` is true (or at integer indices, in their order)."""
        mask = np.asarray(mask)
        idx = np.flatnonzero(mask) if mask.dtype == bool else mask.astype(np.int64)
        return replace(
            self,
            onset=self.onset[idx], offset=self.offset[idx], pitch=self.pitch[idx],
            onset_beat=self.onset_beat[idx], offset_beat=self.offset_beat[idx],
            velocity=self.velocity[idx], part=self.part[idx], program=self.program[idx],
            measure=self.measure[idx], note_value=tuple(self.note_value[i] for i in idx),
        )

    def transpose(self, semitones: int) -> "NoteList":
        return replace(self, pitch=self.pitch + int(semitones))

    def time_scaled(self, factor: float) -> "NoteList":
        """Times multiplied by ``factor`` (>1 is slower)."""
        return replace(self, onset=self.onset * factor, offset=self.offset * factor)

    def melody(self) -> "NoteList":
        """Top voice: at every onset keep the highest note; cut notes where a new one starts."""
        if not len(self):
            return self
        order = np.lexsort((-self.pitch, self.onset))
        on = self.onset[order]
        keep = np.ones(on.size, dtype=bool)
        keep[1:] = np.abs(np.diff(on)) > 1e-6
        # notes are sorted by onset, and select keeps that order
        sel = self.select(np.isin(np.arange(len(self)), order[keep]))
        off = sel.offset.copy()
        off[:-1] = np.minimum(off[:-1], sel.onset[1:])
        return replace(sel, offset=off)

    def top_voice(self) -> "NoteList":
        """The melody of the part with the highest mean pitch (kern files list the bass first):
        what a theme of the piece is (``chromatool dataset`` cuts its excerpts from it)."""
        if not len(self):
            return self
        parts = np.unique(self.part)
        top = max(parts, key=lambda p: float(np.mean(self.pitch[self.part == p])))
        return self.select(self.part == top).melody()

    def frame_spans(self, feature_rate: float = D.FEATURE_RATE) -> tuple[np.ndarray, np.ndarray]:
        """Each note's frames ``start[i]:stop[i]``: frame k stands for time k / feature_rate, as
        audio features do (centred frames); a note is active in the frames whose time lies in
        [onset, offset), and in at least one frame."""
        start = np.ceil(self.onset * feature_rate - 1e-9).astype(int)
        stop = np.maximum(np.ceil(self.offset * feature_rate - 1e-9).astype(int), start + 1)
        return start, stop

    def piano_roll(self, *, feature_rate: float = D.FEATURE_RATE, n_frames: int | None = None,
                   midi_min: int = 0, n_pitches: int = 128) -> np.ndarray:
        """Binary piano roll [shape=(n_pitches, n_frames)], notes timed by ``frame_spans``."""
        n = self._n_frames(feature_rate, n_frames)
        roll = np.zeros((n_pitches, n), dtype=np.float32)
        start, stop = self.frame_spans(feature_rate)
        for p, a, b in zip(self.pitch - midi_min, start, stop):
            if 0 <= p < n_pitches:
                roll[p, max(a, 0):min(b, n)] = 1.0
        return roll

    def chroma(self, *, feature_rate: float = D.FEATURE_RATE,
               n_frames: int | None = None) -> np.ndarray:
        """Binary chroma [shape=(12, n_frames)], C first."""
        roll = self.piano_roll(feature_rate=feature_rate, n_frames=n_frames)
        out = np.zeros((D.N_CHROMA, roll.shape[1]), dtype=np.float32)
        for c in range(D.N_CHROMA):
            out[c] = roll[c::D.N_CHROMA].max(axis=0)
        return out

    def _n_frames(self, feature_rate: float, n_frames: int | None) -> int:
        if feature_rate <= 0:
            raise ParameterError(f"feature rate must be positive, got {feature_rate}")
        if n_frames is not None:
            return int(n_frames)
        return max(1, int(np.ceil(self.duration * feature_rate - 1e-9)))


def _from_rows(rows: list[tuple], *, source: str, part_names: tuple[str, ...] = (),
               tempo_bpm: float = DEFAULT_BPM) -> NoteList:
    """rows: (onset, offset, pitch, onset_beat, offset_beat, velocity, part, program, measure,
    note_value)"""
    rows = sorted(rows, key=lambda r: (r[0], r[2]))
    cols = list(zip(*rows)) if rows else [()] * 10
    f = lambda i, dt: np.asarray(cols[i], dtype=dt)  # noqa: E731
    return NoteList(
        onset=f(0, np.float64), offset=f(1, np.float64), pitch=f(2, np.int64),
        onset_beat=f(3, np.float64), offset_beat=f(4, np.float64), velocity=f(5, np.int64),
        part=f(6, np.int64), program=f(7, np.int64), measure=f(8, np.int64),
        note_value=tuple(cols[9]), part_names=part_names, source=source, tempo_bpm=tempo_bpm,
    )


def read_score(path: str | os.PathLike, *, melody: bool = False) -> NoteList:
    """Read a score file into a :class:`NoteList`.

    Parameters
    ----------
    path : .mid/.midi, .xml/.musicxml/.mxl, .krn, .abc, or a ``Start;Duration;Pitch`` .csv
    melody : keep only the top voice

    Raises
    ------
    ScoreError
        missing file, unsupported extension, unparseable content, or no notes.

    Examples
    --------
    >>> from music21 import corpus
    >>> from chromatool import read_score
    >>> notes = read_score(corpus.getWork("bach/bwv66.6"))
    >>> len(notes), notes.part_names, round(notes.duration, 1)
    (163, ('Soprano', 'Alto', 'Tenor', 'Bass'), 22.5)
    """
    path = Path(path)
    if not path.exists():
        raise ScoreError(f"{path}: no such file")
    ext = path.suffix.lower()
    if ext in MIDI_EXTENSIONS:
        notes = _read_midi(path)
    elif ext in MUSIC21_EXTENSIONS:
        notes = _read_music21(path)
    elif ext in CSV_EXTENSIONS:
        notes = _read_csv(path)
    else:
        raise ScoreError(
            f"{path}: unsupported score format {ext or '(no extension)'}; "
            f"use one of {' '.join(SCORE_EXTENSIONS)}"
        )
    if not len(notes):
        raise ScoreError(f"{path}: no notes")
    return notes.melody() if melody else notes


def _read_midi(path: Path) -> NoteList:
    import warnings

    import pretty_midi

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pretty_midi warns on tempo events in any track
            pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # pretty_midi/mido raise many types on corrupt files
        raise ScoreError(f"{path}: cannot parse MIDI ({exc})") from exc
    res = pm.resolution
    downbeats = pm.get_downbeats() if pm.instruments else np.zeros(0)
    tempi_t, tempi = pm.get_tempo_changes()
    rows = []
    names = []
    part = 0
    for inst in pm.instruments:
        if inst.is_drum or not inst.notes:
            continue
        names.append(inst.name.strip() or pretty_midi.program_to_instrument_name(inst.program))
        for n in inst.notes:
            b0 = pm.time_to_tick(n.start) / res
            b1 = pm.time_to_tick(n.end) / res
            measure = int(np.searchsorted(downbeats, n.start + 1e-6, side="right"))
            rows.append((n.start, n.end, n.pitch, b0, b1, n.velocity, part, inst.program,
                         measure, note_value_name(b1 - b0)))
        part += 1
    bpm = float(tempi[0]) if len(tempi) else DEFAULT_BPM
    return _from_rows(rows, source=str(path), part_names=tuple(names), tempo_bpm=bpm)


def _read_music21(path: Path) -> NoteList:
    import music21

    try:
        s = music21.converter.parse(str(path))
    except Exception as exc:  # music21 raises many types on bad input
        raise ScoreError(f"{path}: cannot parse score ({_short(exc)})") from exc
    return notelist_from_music21(s, source=str(path))


def notelist_from_music21(s, *, source: str = "") -> NoteList:
    """Notes of a music21 stream (a Score, a Part, or an Opus's first score)."""
    import music21

    if isinstance(s, music21.stream.Opus):
        scores = list(s.scores)
        if not scores:
            raise ScoreError(f"{source}: no notes")
        s = scores[0]
    try:
        s = s.expandRepeats()
    except Exception:  # noqa: BLE001 - scores with inconsistent repeat marks: keep them as written
        pass
    bounds = s.metronomeMarkBoundaries()
    tempo_map = [(float(a), float(b), float(mm.getQuarterBPM() or DEFAULT_BPM))
                 for a, b, mm in bounds]
    bpm0 = tempo_map[0][2] if tempo_map else DEFAULT_BPM

    def seconds(ql: float) -> float:
        t = 0.0
        for a, b, bpm in tempo_map:
            if ql <= a:
                break
            t += (min(ql, b) - a) * 60.0 / bpm
        if not tempo_map:
            t = ql * 60.0 / DEFAULT_BPM
        elif ql > tempo_map[-1][1]:
            t += (ql - tempo_map[-1][1]) * 60.0 / tempo_map[-1][2]
        return t

    parts = list(s.parts) if hasattr(s, "parts") and len(s.parts) else [s]
    rows = []
    names = []
    for pi, p in enumerate(parts):
        inst = p.getInstrument(returnDefault=True)
        prog = inst.midiProgram if inst is not None and inst.midiProgram is not None else -1
        names.append(str(p.partName or (inst.instrumentName if inst else "") or f"part {pi + 1}"))
        flat = p.stripTies().flatten()
        for n in flat.notes:
            if n.duration.isGrace:
                continue
            b0 = float(flat.elementOffset(n))
            b1 = b0 + float(n.quarterLength)
            vel = n.volume.velocity if n.volume is not None and n.volume.velocity else 64
            meas = n.measureNumber if n.measureNumber is not None else -1
            value = note_value_name(float(n.quarterLength)) or n.duration.fullName
            for pitch in n.pitches:
                rows.append((seconds(b0), seconds(b1), int(pitch.midi), b0, b1, int(vel), pi,
                             int(prog), int(meas), value))
    return _from_rows(rows, source=source, part_names=tuple(names), tempo_bpm=bpm0)


def _read_csv(path: Path) -> NoteList:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScoreError(f"{path}: cannot read note list ({exc})") from exc
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ScoreError(f"{path}: no notes")
    delim = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    reader = csv.reader(lines, delimiter=delim)
    header = [h.strip().strip('"').lower() for h in next(reader)]
    try:
        i_start, i_dur, i_pitch = (header.index(k) for k in ("start", "duration", "pitch"))
    except ValueError:
        raise ScoreError(
            f"{path}: not a note list: expected columns Start;Duration;Pitch, got {';'.join(header)}"
        ) from None
    i_vel = header.index("velocity") if "velocity" in header else None
    i_inst = header.index("instrument") if "instrument" in header else None
    beat = 60.0 / DEFAULT_BPM
    rows = []
    instruments: list[str] = []
    for lineno, r in enumerate(reader, start=2):
        try:
            on, dur, pitch = float(r[i_start]), float(r[i_dur]), int(round(float(r[i_pitch])))
        except (ValueError, IndexError):
            raise ScoreError(f"{path}: line {lineno}: cannot read a note from {r!r}") from None
        if dur <= 0:
            raise ScoreError(f"{path}: line {lineno}: duration must be positive, got {dur}")
        vel = int(float(r[i_vel])) if i_vel is not None and i_vel < len(r) else 64
        inst = r[i_inst].strip() if i_inst is not None and i_inst < len(r) else ""
        if inst not in instruments:
            instruments.append(inst)
        rows.append((on, on + dur, pitch, on / beat, (on + dur) / beat, vel,
                     instruments.index(inst), -1, -1, ""))
    return _from_rows(rows, source=str(path),
                      part_names=tuple(i or "part 1" for i in instruments))


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__
